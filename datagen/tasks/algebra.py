r"""Algebra: linear equations and systems, quadratics, polynomials and derivatives.

Every answer is chosen before its problem is built (a solution, then the equation it solves; roots,
then the quadratic; factors, then their product), so no generator solves anything. The derivative
task differentiates its own small expression trees. Standard library only.

| task | verifier | difficulty 1 → 10 |
|---|---|---|
| ``linear_equation`` | math | ``ax + b = c``, x on both sides (2), brackets (3), rational solutions (4), fractions (6) |
| ``linear_system`` | equation | 2 unknowns (1-5), 3 unknowns (6-10); larger coefficients, rational solutions at 4-5, 9-10 |
| ``quadratic`` | math | integer roots, rational (3-5), irrational (5-8), complex (7-10); terms on both sides from 3 |
| ``polynomial`` | math (``factor`` for factoring) | expand (a coefficient), factor, or evaluate; degree 2 to 5, larger coefficients |
| ``derivative`` | math | power rule, sin/cos/exp/ln, product (5), chain (6), quotient (8), nesting (9); f'(a) a third |

>>> import random
>>> item = quadratic(random.Random(0), 7)
>>> item.solution.endswith(f"The answer is {item.answer}.")
True
>>> _tex(_diff(_mul(_pow(X, 2), _fn("exp", _mul(_n(3), X)))))
'2x e^{3x} + 3x^{2} e^{3x}'
"""

from __future__ import annotations

import functools
import math
import random
from fractions import Fraction

from datagen.registry import Item, task

# ---------------------------------------------------------------------------------------------
# LaTeX of numbers, terms and polynomials (coefficient lists, constant first)


def _num(q) -> str:
    """``3``, ``-\\frac{3}{4}``."""
    if type(q) is int:
        return str(q)
    q = _fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    body = f"\\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"
    return "-" + body if q < 0 else body


def _fraction(q) -> Fraction:
    return q if type(q) is Fraction else Fraction(q)  # Fraction(q) is slow even on a Fraction


def _term(c, body: str) -> str:
    """``c`` times ``body`` (a variable, power or bracket, or "" for a number): ``3x``, ``-x``."""
    if not body:
        return _num(c)
    if c == 1:
        return body
    return "-" + body if c == -1 else _num(c) + body


def _sum(terms) -> str:
    """``["x^{2}", "-3x", "2"]`` -> ``x^{2} - 3x + 2``; ``0`` for no terms."""
    out = ""
    for t in terms:
        out = t if not out else out + " - " + t[1:] if t[0] == "-" else out + " + " + t
    return out or "0"


def _power(var: str, k: int) -> str:
    return "" if k == 0 else var if k == 1 else f"{var}^{{{k}}}"


def _poly(coeffs, var: str = "x") -> str:
    """``[6, -5, 1]`` -> ``x^{2} - 5x + 6``."""
    return _sum(_term(c, _power(var, k)) for k, c in reversed(list(enumerate(coeffs))) if c)


def _pmul(p: list, q: list) -> list:
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _pdiv(p: list, d: list) -> list:
    """The exact quotient p / d (integer coefficients; the generators make d divide p)."""
    rest, out = [Fraction(c) for c in p], [Fraction(0)] * (len(p) - len(d) + 1)
    for k in range(len(out) - 1, -1, -1):
        out[k] = rest[k + len(d) - 1] / d[-1]
        for j, c in enumerate(d):
            rest[k + j] -= out[k] * c
    assert not any(rest) and all(c.denominator == 1 for c in out), (p, d)
    return [int(c) for c in out]


def _nz(rng: random.Random, bound: int) -> int:
    """A nonzero integer in [-bound, bound]."""
    r = rng.random
    v = 1 + int(r() * bound)
    return v if r() < 0.5 else -v


def _paren(q) -> str:
    return f"({_num(q)})" if q < 0 or q.denominator > 1 else _num(q)


# ---------------------------------------------------------------------------------------------
# linear_equation. A side is a list of terms: ("x", p, q) is (p/q)·x, ("c", p, q) the number p/q,
# and ("g", p, q, a, b) the bracket (p/q)(ax + b), shown as \frac{ax + b}{q} when p = ±1. Rationals
# are (p, q) pairs in lowest terms, q > 0: ints are several times faster than Fractions, and once
# both sides are multiplied by the common denominator every step is in integers.


def _reduced(p: int, q: int) -> tuple[int, int]:
    g = math.gcd(p, q)
    return (p // g, q // g) if q > 0 else (-p // g, -q // g)


def _qtex(p: int, q: int) -> str:
    """p/q in LaTeX: ``3``, ``-\\frac{3}{4}``."""
    if q == 1:
        return str(p)
    return f"-\\frac{{{-p}}}{{{q}}}" if p < 0 else f"\\frac{{{p}}}{{{q}}}"


def _qterm(p: int, q: int, body: str) -> str:
    """(p/q)·body: ``3x``, ``-x``, ``\\frac{1}{2}x``."""
    if q == 1:
        return body if p == 1 else "-" + body if p == -1 else f"{p}{body}"
    return _qtex(p, q) + body


def _side_tex(side: list, var: str) -> str:
    out = []
    for t in side:
        kind, p, q = t[0], t[1], t[2]
        if q == 1 and kind != "g":  # the common case, inline
            out.append(str(p) if kind == "c" else var if p == 1 else "-" + var if p == -1 else f"{p}{var}")
        elif kind == "x":
            out.append(_qterm(p, q, var))
        elif kind == "c":
            out.append(_qtex(p, q))
        else:
            a, b = t[3], t[4]
            inner = f"{_qterm(a, 1, var)} - {-b}" if b < 0 else f"{_qterm(a, 1, var)} + {b}"
            if q > 1 and abs(p) == 1:
                out.append(("-" if p < 0 else "") + f"\\frac{{{inner}}}{{{q}}}")
            else:
                out.append(_qterm(p, q, f"({inner})"))
    return _sum(out) if out else "0"


def _scaled(side: list, m: int) -> tuple[int, int]:
    """m × (coefficient of x, constant) of a side, in integers (m is a common denominator)."""
    slope = const = 0
    for t in side:
        k = t[1] * (m // t[2])
        if t[0] == "x":
            slope += k
        elif t[0] == "c":
            const += k
        else:
            slope, const = slope + k * t[3], const + k * t[4]
    return slope, const


def _linear_sides(rng: random.Random, difficulty: int) -> tuple[list, list]:
    """Random sides without the right side's last number (which is set to make the answer hold)."""
    r = rng.random
    bound = 3 + difficulty // 2

    def coefficient() -> tuple[int, int]:
        if difficulty >= 6 and r() < 0.4:
            return _reduced(_nz(rng, 5), 2 + int(r() * 3))
        return _nz(rng, bound), 1

    def term(kind: str) -> tuple:
        if kind == "x":
            return ("x", *coefficient())
        if kind == "c":
            return ("c", _nz(rng, 4 * bound), 1)
        k = coefficient()
        if difficulty >= 7 and r() < 0.5:
            k = (1 if r() < 0.5 else -1), 2 + int(r() * 3)
        return ("g", *k, 1 + int(r() * (2 + difficulty // 3)), _nz(rng, 9))

    if difficulty <= 2:
        return [term("x"), term("c")], [term("x")] if difficulty == 2 else []
    count = 2 + difficulty // 2  # terms, besides the right side's last number
    sides = []
    for size in ((count + 1) // 2, count // 2):
        kinds = ["g" if r() < 0.6 else "x"] + ["xcg"[int(r() * 3)] for _ in range(size - 1)]
        if difficulty >= 5:
            rng.shuffle(kinds)
        sides.append([term(k) for k in kinds])
    return sides[0], sides[1]


@task("linear_equation")
def linear_equation(rng: random.Random, difficulty: int) -> Item:
    """Solve a linear equation in one unknown, with brackets, fractions and extra terms as it gets harder."""
    r = rng.random
    var = "xxxxyztn"[int(r() * 8)]
    while True:
        lhs, rhs = _linear_sides(rng, difficulty)
        m = math.lcm(*(t[2] for t in lhs + rhs))
        (a, b), (c, d) = _scaled(lhs, m), _scaled(rhs, m)  # the sides are (a x + b) / m and (c x + d) / m
        if a != c:
            break
    for _ in range(20):  # a rational solution whose equation keeps small denominators
        xp, xq = int(r() * (7 + 2 * difficulty)) - 3 - difficulty, 1
        if difficulty >= 4 and r() < 0.5:
            xp, xq = _reduced(_nz(rng, 2 * difficulty), 2 + int(r() * (2 + difficulty // 4)))
        last = _reduced((a - c) * xp + (b - d) * xq, m * xq)  # the number that completes the right side
        if last[1] <= (1 if difficulty < 6 else 12):
            break
    if last[0] or not rhs:
        rhs.append(("c", *last))
    equation = f"{_side_tex(lhs, var)} = {_side_tex(rhs, var)}"
    answer = f"{var} = {_qtex(xp, xq)}"
    lines, found = _linear_steps(lhs, rhs, var)
    assert found == (xp, xq), (equation, xp, xq)
    prompt = ("Solve for ${v}$: ${e}$.", "Find ${v}$ such that ${e}$.", "Solve the equation ${e}$.")[int(r() * 3)]
    lines.append(f"The answer is {answer}.")
    return Item(prompt.format(v=var, e=equation), answer, "\n".join(lines),
                {"equation": equation, "variable": var, "solution": f"{xp}/{xq}" if xq > 1 else str(xp)})


def _linear_steps(lhs: list, rhs: list, var: str) -> tuple[list[str], tuple[int, int]]:
    lines = []
    sides = [lhs, rhs]
    m = math.lcm(*(t[2] for t in lhs + rhs))
    if m > 1:
        sides = [[(t[0], t[1] * (m // t[2]), 1, *t[3:]) for t in side] for side in sides]
        lines.append(f"Multiply both sides by {m} to clear the fractions: "
                     f"${_side_tex(sides[0], var)} = {_side_tex(sides[1], var)}$.")
    if any(t[0] == "g" for t in lhs + rhs):
        sides = [[part for t in side for part in ((("x", t[1] * t[3], 1), ("c", t[1] * t[4], 1)) if t[0] == "g"
                                                   else (t,))] for side in sides]
        lines.append(f"Expand the brackets: ${_side_tex(sides[0], var)} = {_side_tex(sides[1], var)}$.")
    (a, b), (c, d) = _scaled(sides[0], 1), _scaled(sides[1], 1)  # integers from here on
    if any(sum(t[0] == kind for t in side) > 1 for side in sides for kind in "xc"):
        shown = [_side_tex([t for t in (("x", a, 1), ("c", b, 1)) if t[1]], var),
                 _side_tex([t for t in (("x", c, 1), ("c", d, 1)) if t[1]], var)]
        lines.append(f"Collect like terms on each side: ${shown[0]} = {shown[1]}$.")
    lines.append(f"Move the ${var}$ terms to the left and the numbers to the right: "
                 f"${_qterm(a - c, 1, var)} = {d - b}$.")
    x0 = _reduced(d - b, a - c)
    if a - c != 1:
        lines.append(f"Divide both sides by {a - c}: ${var} = {_qtex(*x0)}$.")
    return lines, x0


# ---------------------------------------------------------------------------------------------
# linear_system


def _det(rows: list[list[int]]) -> int:
    if len(rows) == 2:
        return rows[0][0] * rows[1][1] - rows[0][1] * rows[1][0]
    (a, b, c), (d, e, f), (g, h, i) = rows
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)


def _equation(row: list[int], names: list[str]) -> str:
    return f"{_sum(_term(a, v) for a, v in zip(row, names) if a)} = {row[-1]}"


@task("linear_system", verifier="equation")
def linear_system(rng: random.Random, difficulty: int) -> Item:
    """Solve a system of linear equations in two unknowns (three from difficulty 6) by elimination."""
    n = 2 if difficulty <= 5 else 3
    names = ["x", "y", "z"][:n]
    bound = 2 + difficulty if n == 2 else difficulty - 3
    solution = [Fraction(rng.randint(-bound - 3, bound + 3)) for _ in names]
    if difficulty in (4, 5, 9, 10) and rng.random() < 0.5:
        k = rng.randrange(n)
        solution[k] = Fraction(_nz(rng, 2 * bound), rng.randint(2, 4))
    while True:
        rows = [[0 if n == 3 and rng.random() < 0.2 else _nz(rng, bound) for _ in names] for _ in names]
        if _det(rows) != 0:
            break
    equations = []
    for row in rows:
        value = sum(a * s for a, s in zip(row, solution))
        ints = [a * value.denominator for a in row] + [int(value * value.denominator)]
        g = math.gcd(*ints)
        equations.append([v // g for v in ints])
    shown = [_equation(row, names) for row in equations]
    answer = ", ".join(f"{v} = {_num(s)}" for v, s in zip(names, solution))
    lines, found = _eliminate(equations, names)
    assert found == solution, (shown, solution, found)
    unknowns = ", ".join(f"${v}$" for v in names[:-1]) + f" and ${names[-1]}$"
    body = " \\\\ ".join(shown)
    prompt = f"Solve the system of equations for {unknowns}:\n$$\\begin{{cases}} {body} \\end{{cases}}$$"
    solution_text = "\n".join([*(f"({i}) ${e}$" for i, e in enumerate(shown, 1)), *lines,
                               f"The answer is {answer}."])
    return Item(prompt, answer, solution_text,
                {"equations": shown, "variables": names, "domain": "rational", "solution": [str(s) for s in solution]})


def _combination(p: int, label: int, q: int, pivot: int) -> str:
    """Text of p·(label) − q·(pivot)."""
    left = f"({label})" if p == 1 else f"{p}·({label})"
    right = f"({pivot})" if abs(q) == 1 else f"{abs(q)}·({pivot})"
    return f"{left} {'−' if q > 0 else '+'} {right}"


def _eliminate(equations: list[list[int]], names: list[str]) -> tuple[list[str], list[Fraction]]:
    """Gaussian elimination in integers, then back substitution; the steps as text, and the solution."""
    n = len(names)
    remaining = [(row, i + 1) for i, row in enumerate(equations)]
    label = n + 1
    lines, pivots = [], []
    for col in range(n):
        pivot = remaining.pop(next(i for i, (row, _) in enumerate(remaining) if row[col]))
        pivots.append(pivot)
        carried = []
        for row, at in remaining:
            if row[col] == 0:
                carried.append((row, at))
                continue
            g = math.gcd(pivot[0][col], row[col])
            p, q = pivot[0][col] // g, row[col] // g
            if p < 0:
                p, q = -p, -q
            new = [p * a - q * b for a, b in zip(row, pivot[0])]
            h = math.gcd(*new)
            new = [v // h for v in new]
            divided = f", divided by {h}," if h > 1 else ""
            lines.append(f"Eliminate ${names[col]}$: {_combination(p, at, q, pivot[1])}{divided} "
                         f"gives ({label}) ${_equation(new, names)}$.")
            carried.append((new, label))
            label += 1
        remaining = carried
    values: list[Fraction] = [Fraction(0)] * n
    for col in range(n - 1, -1, -1):
        row, at = pivots[col]
        known = [j for j in range(col + 1, n) if row[j]]
        total = sum((row[j] * values[j] for j in known), Fraction(0))
        values[col] = (row[-1] - total) / row[col]
        var, lhs = names[col], _term(row[col], names[col])
        result = f"${var} = {_num(values[col])}$"
        if known:
            given = ", ".join(f"${names[j]} = {_num(values[j])}$" for j in known)
            shown = _sum([lhs, _num(total)]) if total else lhs
            solved = result if row[col] == 1 else f"${lhs} = {_num(row[-1] - total)}$ and {result}"
            lines.append(f"Substitute {given} into ({at}): ${shown} = {row[-1]}$, so {solved}.")
        elif row[col] != 1:
            lines.append(f"From ({at}): ${lhs} = {row[-1]}$, so {result}.")
        else:
            lines.append(f"From ({at}): {result}.")
    return lines, values


# ---------------------------------------------------------------------------------------------
# quadratic

_QUADRATIC_KINDS = {1: ("integer",), 2: ("integer",), 3: ("integer", "rational"), 4: ("rational",),
                    5: ("rational", "irrational"), 6: ("irrational",), 7: ("irrational", "complex"),
                    8: ("irrational", "complex"), 9: ("complex",), 10: ("complex", "irrational")}


def _square_part(n: int) -> tuple[int, int]:
    """n = s² · t with t squarefree."""
    s = math.isqrt(n)
    while n % (s * s):
        s -= 1
    return s, n // (s * s)


def _formula_roots(a: int, b: int, disc: int) -> list[str]:
    """The two roots (-b ± √disc) / 2a written as ``\\frac{p + q\\sqrt{t}}{d}`` (with i when disc < 0)."""
    s, t = _square_part(abs(disc))
    p, q = Fraction(-b, 2 * a), abs(Fraction(s, 2 * a))
    if disc > 0 and t == 1:
        return [_num(p + q), _num(p - q)]
    den = math.lcm(p.denominator, q.denominator)
    pn, qn = int(p * den), int(q * den)
    surd = ("" if qn == 1 and (t > 1 or disc < 0) else str(qn)) + ("" if t == 1 else f"\\sqrt{{{t}}}")
    surd += "i" if disc < 0 else ""
    roots = []
    for sign in "+-":
        top = f"{pn} {sign} {surd}" if pn else ("" if sign == "+" else "-") + surd
        if den == 1:
            roots.append(top)
        elif pn == 0:
            roots.append(("" if sign == "+" else "-") + f"\\frac{{{surd}}}{{{den}}}")
        else:
            roots.append(f"\\frac{{{top}}}{{{den}}}")
    return roots


def _random_quadratic(rng: random.Random, difficulty: int, complex_roots: bool) -> tuple[int, int, int]:
    """Primitive a, b, c with a non-square discriminant of the wanted sign."""
    bound = 3 + difficulty
    while True:
        a = rng.randint(1, 1 + difficulty // 3) * (rng.choice((1, -1)) if difficulty >= 8 else 1)
        b, c = rng.randint(-bound, bound), _nz(rng, bound)
        disc = b * b - 4 * a * c
        if (disc < 0) == complex_roots and disc and math.isqrt(abs(disc)) ** 2 != abs(disc) \
                and math.gcd(a, b, c) == 1:
            return a, b, c


@task("quadratic")
def quadratic(rng: random.Random, difficulty: int) -> Item:
    """Find all roots of a quadratic equation: integer, rational, irrational or complex."""
    kind = rng.choice(_QUADRATIC_KINDS[difficulty])
    bound = 3 + difficulty
    factors = None  # (q, p) pairs: the roots p/q of a quadratic that factors over the rationals
    if kind == "integer":
        lead = 1 if difficulty <= 2 else rng.choice((1, 1, 2, 3, -1, -2))
        factors = [(1, r) for r in rng.sample(range(-bound, bound + 1), 2)]
    elif kind == "rational":
        lead, roots = rng.choice((1, -1)), [Fraction(0), Fraction(0)]
        while roots[0] == roots[1]:
            roots = [Fraction(rng.randint(-bound, bound), rng.randint(1 if i else 2, 2 + difficulty // 2))
                     for i in range(2)]
        factors = [(r.denominator, r.numerator) for r in roots]
    if factors:  # lead (q1 x - p1)(q2 x - p2)
        (q1, p1), (q2, p2) = factors
        a, b, c = lead * q1 * q2, -lead * (q1 * p2 + q2 * p1), lead * p1 * p2
    elif kind == "complex" and difficulty <= 8:  # lead (x - u - vi)(x - u + vi)
        u, v, lead = rng.randint(-bound, bound), rng.randint(1, bound), rng.choice((1, 1, 2))
        a, b, c = lead, -2 * u * lead, (u * u + v * v) * lead
    else:
        a, b, c = _random_quadratic(rng, difficulty, kind == "complex")
    disc = b * b - 4 * a * c
    roots = _formula_roots(a, b, disc)
    answer = "\\{" + ", ".join(roots) + "\\}"

    shift = [0, 0, 0]
    if difficulty >= 3 and rng.random() < 0.3 + difficulty / 20:
        shift = [_nz(rng, bound) if rng.random() < 0.5 else 0 for _ in range(3)]
    left = [c + shift[0], b + shift[1], a + shift[2]]
    if not any(left):
        shift, left = [0, 0, 0], [c, b, a]
    equation = f"{_poly(left)} = {_poly(shift)}"
    standard = f"{_poly([c, b, a])} = 0"
    lines = [f"Bring every term to the left side: ${standard}$."] if any(shift) else []
    if factors:
        g = math.gcd(a, b, c) * (1 if a > 0 else -1)
        if g != 1:
            lines.append(f"Divide both sides by {g}: ${_poly([c // g, b // g, a // g])} = 0$.")
        if a // g == 1:
            lines.append(f"Look for two numbers whose product is {c // g} and whose sum is {b // g}: "
                         f"{-factors[0][1]} and {-factors[1][1]}.")
        shown = "".join(_factor_tex([-p, q]) for q, p in factors)
        lines.append(f"Factor: ${shown} = 0$.")
        lines.append(f"Set each factor to zero: $x = {roots[0]}$ or $x = {roots[1]}$.")
    else:
        if a < 0:
            a, b, c = -a, -b, -c
            lines.append(f"Multiply both sides by -1: ${_poly([c, b, a])} = 0$.")
        s, t = _square_part(abs(disc))
        root = ("" if s == 1 else str(s)) + ("" if t == 1 else f"\\sqrt{{{t}}}")
        lines.append(f"Use the quadratic formula with $a = {a}$, $b = {b}$, $c = {c}$.")
        lines.append(f"The discriminant is $b^2 - 4ac = {_paren(b)}^2 - 4 \\cdot {_paren(a)} \\cdot {_paren(c)} "
                     f"= {disc}$.")
        if disc > 0:
            lines.append(f"It is positive but not a perfect square, so the roots are irrational: "
                         f"$\\sqrt{{{disc}}} = {root}$.")
        else:
            lines.append(f"It is negative, so the roots are complex: $\\sqrt{{{disc}}} = {root}i$.")
            root += "i"
        lines.append(f"$x = \\frac{{-b \\pm \\sqrt{{b^2 - 4ac}}}}{{2a}} = \\frac{{{-b} \\pm {root}}}{{{2 * a}}}$, "
                     f"that is $x = {roots[0]}$ or $x = {roots[1]}$.")
    lines.append(f"The answer is {answer}.")
    prompt = f"Find all solutions of ${equation}$." if kind != "complex" else \
        f"Find all complex solutions of ${equation}$."
    return Item(prompt, answer, "\n".join(lines),
                {"kind": kind, "a": a, "b": b, "c": c, "equation": equation})


# ---------------------------------------------------------------------------------------------
# polynomial


def _factor_tex(poly: list, exponent: int = 1) -> str:
    body = "x" if poly == [0, 1] else f"({_poly(poly)})"
    return body + (f"^{{{exponent}}}" if exponent > 1 else "")


def _linear(rng: random.Random, lead: int, bound: int, zero: bool = False) -> list[int]:
    """A primitive linear factor ax + b (a > 0) as [b, a]."""
    while True:
        a, b = rng.randint(1, lead), (rng.randint(-bound, bound) if zero else _nz(rng, bound))
        if math.gcd(a, b) == 1:
            return [b, a]


_POLYNOMIAL_KINDS = ("expand", "factor", "evaluate")


@task("polynomial", kinds=_POLYNOMIAL_KINDS)
def polynomial(rng: random.Random, difficulty: int, kinds: tuple[str, ...] = _POLYNOMIAL_KINDS) -> Item:
    """Expand a product (and give one coefficient), factor a polynomial, or evaluate one at a point."""
    kind = rng.choice(kinds)
    return {"expand": _expand, "factor": _factor, "evaluate": _evaluate}[kind](rng, difficulty)


def _expand(rng: random.Random, difficulty: int) -> Item:
    degree = 2 + (difficulty - 1) // 3
    bound, lead = 2 + difficulty // 2, 1 + difficulty // 3
    factors: list[tuple[list[int], int]] = []
    while sum((len(p) - 1) * e for p, e in factors) < degree:
        room = degree - sum((len(p) - 1) * e for p, e in factors)
        if room >= 2 and difficulty >= 4 and rng.random() < 0.3:
            factors.append(([_nz(rng, bound), rng.randint(-bound, bound), rng.randint(1, lead)], 1))
        else:
            exponent = rng.randint(2, min(room, 3)) if room >= 2 and difficulty >= 3 and rng.random() < 0.3 else 1
            factors.append((_linear(rng, lead, bound), exponent))
    product = "".join(_factor_tex(p, e) for p, e in factors)
    power = rng.randint(1, degree - 1)
    lines, result = [], [1]
    for p, e in factors:
        for _ in range(e):
            if result == [1]:
                result = p
                continue
            before, result = result, _pmul(result, p)
            lines.append(f"$({_poly(before)}){_factor_tex(p)} = {_poly(result)}$.")
    coefficient = result[power]
    x_power = _power("x", power)
    lines.append(f"The coefficient of ${x_power}$ in ${_poly(result)}$ is {coefficient}.")
    lines.append(f"The answer is {coefficient}.")
    prompt = f"Expand ${product}$. What is the coefficient of ${x_power}$?"
    return Item(prompt, str(coefficient), "Multiply the factors one at a time.\n" + "\n".join(lines),
                {"kind": "expand", "expression": product, "power": power, "expanded": _poly(result)})


def _factor(rng: random.Random, difficulty: int) -> Item:
    n_linear = 2 if difficulty <= 4 else 3 if difficulty <= 8 else 4
    bound, lead = 3 + difficulty // 2, 1 if difficulty <= 2 else 2 if difficulty <= 6 else 3
    quadratic_factor = None
    if difficulty >= 7 and rng.random() < 0.5:
        n_linear -= 2
        p = rng.randint(-4, 4)
        quadratic_factor = [rng.randint(p * p // 4 + 1, p * p // 4 + 9), p, 1]  # no real roots
    linear = [_linear(rng, lead, bound, zero=difficulty >= 5) for _ in range(n_linear)]
    if difficulty >= 2 and len(linear) >= 2 and rng.random() < 0.2:
        linear[1] = linear[0]  # a repeated factor
    content = 1 if difficulty <= 2 else rng.choice((1, 1, 2, 3, -1, -2))
    linear.sort(key=lambda f: (f[1], f[0]))
    factors = [*linear, *([quadratic_factor] if quadratic_factor else [])]
    expanded = [content]
    for f in factors:
        expanded = _pmul(expanded, f)
    shown = []
    for f in factors:
        if not shown or shown[-1][0] != f:
            shown.append([f, 0])
        shown[-1][1] += 1
    answer = {1: "", -1: "-"}.get(content, str(content)) + "".join(_factor_tex(f, e) for f, e in shown)
    lines = []
    rest = [c // content for c in expanded]
    if content != 1:
        lines.append(f"Take out the common factor {content}: ${_poly(expanded)} = {content}({_poly(rest)})$.")
    for f in linear[:-1] if quadratic_factor is None else linear:
        quotient = _pdiv(rest, f)
        lines.append(f"Try $x = {_num(Fraction(-f[0], f[1]))}$ (rational root test): ${_poly(rest)}$ is 0 there, "
                     f"so ${_factor_tex(f)}$ is a factor: ${_poly(rest)} = {_factor_tex(f)}({_poly(quotient)})$.")
        rest = quotient
    if quadratic_factor:
        disc = quadratic_factor[1] ** 2 - 4 * quadratic_factor[0]
        lines.append(f"${_poly(rest)}$ has discriminant {disc} < 0, so it does not factor further.")
    lines.append(f"So ${_poly(expanded)} = {answer}$.")
    lines.append(f"The answer is {answer}.")
    prompt = f"Factor completely over the integers: ${_poly(expanded)}$."
    return Item(prompt, answer, "\n".join(lines),
                {"kind": "factor", "polynomial": _poly(expanded), "factors": [*map(_poly, factors)],
                 "content": content}, verifier="factor")  # the expanded polynomial is equal, but not an answer


def _evaluate(rng: random.Random, difficulty: int) -> Item:
    degree = 2 + (difficulty - 1) // 3
    bound = 3 + difficulty
    coeffs = [rng.randint(-bound, bound) if rng.random() < 0.8 else 0 for _ in range(degree)] + [_nz(rng, bound)]
    x0 = Fraction(rng.randint(-2 - difficulty // 3, 2 + difficulty // 3))
    if difficulty >= 8 and rng.random() < 0.5:
        x0 = Fraction(_nz(rng, 3), rng.randint(2, 3))
    value = sum(c * x0**k for k, c in enumerate(coeffs))
    point = f"({_num(x0)})"
    substituted = _sum(_term(c, point + ("" if k == 1 else f"^{{{k}}}") if k else "")
                       for k, c in reversed(list(enumerate(coeffs))) if c)
    terms = _sum(_num(c * x0**k) for k, c in reversed(list(enumerate(coeffs))) if c)
    answer = _num(value)
    call = f"p\\left({_num(x0)}\\right)" if x0.denominator > 1 else f"p({_num(x0)})"
    lines = [f"Substitute $x = {_num(x0)}$ into each term: ${call} = {substituted}$.",
             f"${call} = {terms} = {answer}$.", f"The answer is {answer}."]
    prompt = f"Let $p(x) = {_poly(coeffs)}$. Find ${call}$."
    return Item(prompt, answer, "\n".join(lines),
                {"kind": "evaluate", "polynomial": _poly(coeffs), "point": str(x0)})


# ---------------------------------------------------------------------------------------------
# derivative. Expression trees: ("num", q), ("x",), ("add", terms), ("mul", factors),
# ("pow", base, q) and (name, argument) for sin, cos, exp, ln. The constructors simplify a little
# (fold numbers, merge like terms and equal bases), so a derivative reads like a textbook's.

X = ("x",)
_ONE = Fraction(1)
_FUNCTIONS = ("sin", "cos", "exp", "ln")


def _n(q) -> tuple:
    return ("num", _fraction(q))


def _split(t: tuple) -> tuple[Fraction, tuple | None]:
    """(coefficient, the rest) of a term; the rest is None for a number."""
    if t[0] == "num":
        return t[1], None
    if t[0] == "mul" and t[1][0][0] == "num":
        rest = t[1][1:]
        return t[1][0][1], rest[0] if len(rest) == 1 else ("mul", rest)
    return Fraction(1), t


def _add(*terms: tuple) -> tuple:
    merged: dict[tuple, Fraction] = {}
    const, todo = Fraction(0), list(terms)
    while todo:
        c, rest = _split(todo.pop(0))
        if rest is None:
            const += c
        elif rest[0] == "add":  # c(a + b) -> ca + cb
            todo[:0] = [_mul(_n(c), u) for u in rest[1]]
        else:
            merged[rest] = merged.get(rest, 0) + c
    out = [_mul(_n(c), rest) for rest, c in merged.items() if c] + ([_n(const)] if const else [])
    if not out:
        return _n(0)
    return out[0] if len(out) == 1 else ("add", tuple(out))


def _rank(f: tuple) -> int:
    base = f[1] if f[0] == "pow" else f
    return {"num": 0, "x": 1, "add": 2}.get(base[0], 3)


def _mul(*factors: tuple) -> tuple:
    coef, powers, todo = _ONE, {}, list(factors)
    while todo:
        g = todo.pop(0)
        if g[0] == "num":
            coef *= g[1]
        elif g[0] == "mul":
            todo[:0] = g[1]
        else:
            base, e = (g[1], g[2]) if g[0] == "pow" else (g, Fraction(1))
            powers[base] = powers.get(base, 0) + e
    rest = []
    for base, e in powers.items():
        p = _pow(base, e)
        if p[0] == "num":
            coef *= p[1]
        elif p[0] == "mul":
            rest += [f for f in p[1] if f[0] != "num"]
            coef *= _split(p)[0]
        else:
            rest.append(p)
    if coef == 0:
        return _n(0)
    rest.sort(key=_rank)
    if coef != 1 or not rest:
        rest.insert(0, _n(coef))
    return rest[0] if len(rest) == 1 else ("mul", tuple(rest))


def _pow(base: tuple, e) -> tuple:
    e = _fraction(e)
    if e == 0:
        return _n(1)
    if e == 1:
        return base
    if base[0] == "num":
        if e.denominator == 1:
            return _n(base[1] ** int(e))
        if base[1] > 0:
            root = [round(v ** (1 / e.denominator)) for v in (base[1].numerator, base[1].denominator)]
            if root[0] ** e.denominator == base[1].numerator and root[1] ** e.denominator == base[1].denominator:
                return _n(Fraction(root[0], root[1]) ** e.numerator)
    elif base[0] == "pow":
        return _pow(base[1], base[2] * e)
    elif base[0] == "exp":
        return _fn("exp", _mul(_n(e), base[1]))
    elif base[0] == "mul" and e.denominator == 1:
        return _mul(*(_pow(f, e) for f in base[1]))
    return ("pow", base, e)


def _fn(name: str, u: tuple) -> tuple:
    special = {("sin", 0): 0, ("cos", 0): 1, ("exp", 0): 1, ("ln", 1): 0}
    if u[0] == "num" and (name, u[1]) in special:
        return _n(special[name, u[1]])
    return (name, u)


@functools.lru_cache(maxsize=4096)  # the explanation and the answer share parts: work them out once
def _diff(f: tuple) -> tuple:
    kind = f[0]
    if kind == "num":
        return _n(0)
    if kind == "x":
        return _n(1)
    if kind == "add":
        return _add(*map(_diff, f[1]))
    if kind == "mul":
        fs = f[1]
        return _add(*(_mul(_diff(g), *fs[:i], *fs[i + 1:]) for i, g in enumerate(fs) if g[0] != "num"))
    if kind == "pow":
        return _mul(_n(f[2]), _pow(f[1], f[2] - 1), _diff(f[1]))
    u = f[1]
    outer = {"sin": lambda: _fn("cos", u), "cos": lambda: _mul(_n(-1), _fn("sin", u)),
             "exp": lambda: f, "ln": lambda: _pow(u, -1)}[kind]()
    return _mul(outer, _diff(u))


def _subst(f: tuple, value: Fraction) -> tuple:
    kind = f[0]
    if kind == "num":
        return f
    if kind == "x":
        return _n(value)
    if kind == "add":
        return _add(*(_subst(t, value) for t in f[1]))
    if kind == "mul":
        return _mul(*(_subst(t, value) for t in f[1]))
    if kind == "pow":
        return _pow(_subst(f[1], value), f[2])
    return _fn(kind, _subst(f[1], value))


def _value(f: tuple, x: float) -> float:
    """A float value (raises ValueError, ZeroDivisionError or OverflowError off the domain)."""
    kind = f[0]
    if kind == "num":
        return float(f[1])
    if kind == "x":
        return x
    if kind == "add":
        return sum(_value(t, x) for t in f[1])
    if kind == "mul":
        return math.prod(_value(t, x) for t in f[1])
    if kind == "pow":
        base = _value(f[1], x)
        if base < 0 and f[2].denominator != 1:
            raise ValueError("a root of a negative number")
        return base ** float(f[2]) if f[2].denominator != 1 else base ** int(f[2])
    return {"sin": math.sin, "cos": math.cos, "exp": math.exp, "ln": math.log}[kind](_value(f[1], x))


@functools.lru_cache(maxsize=4096)
def _tex(f: tuple) -> str:
    kind = f[0]
    if kind == "num":
        return _num(f[1])
    if kind == "x":
        return "x"
    if kind == "add":
        return _sum(map(_tex, f[1]))
    if kind in ("mul", "pow"):
        return _tex_product(f[1] if kind == "mul" else (f,))
    if kind == "exp":
        return f"e^{{{_tex(f[1])}}}"
    return f"\\{kind}({_tex(f[1])})"


def _tex_product(factors) -> str:
    """Numbers in front, negative powers under a fraction bar: ``-\\frac{3\\cos(x)}{x^{2}}``."""
    coef, top, bottom = Fraction(1), [], []
    for g in factors:
        if g[0] == "num":
            coef *= g[1]
        elif g[0] == "pow" and g[2] < 0:
            bottom.append((g[1], -g[2]))
        else:
            top.append((g[1], g[2]) if g[0] == "pow" else (g, Fraction(1)))
    sign, coef = "-" if coef < 0 else "", abs(coef)
    if not bottom:
        return sign + (_num(coef) if coef != 1 or not top else "") + _tex_factors(top, True)
    up = ("" if coef.numerator == 1 and top else str(coef.numerator)) + _tex_factors(top, coef.numerator != 1)
    down = ("" if coef.denominator == 1 else str(coef.denominator)) + _tex_factors(bottom, coef.denominator != 1)
    return f"{sign}\\frac{{{up}}}{{{down}}}"


def _tex_factors(factors: list, after_number: bool) -> str:
    """Factors side by side; a lone sum needs no brackets (over or under a fraction bar)."""
    if len(factors) == 1 and not after_number and factors[0][1] == 1:
        return _tex(factors[0][0])
    return " ".join(_tex_power(base, e) for base, e in factors)


def _tex_factor(g: tuple) -> str:
    return f"({_tex(g)})" if g[0] in ("add", "mul") else _tex(g)


def _tex_power(base: tuple, e: Fraction) -> str:
    if e == 1:
        return _tex_factor(base)
    if e == Fraction(1, 2):
        return f"\\sqrt{{{_tex(base)}}}"
    shown = _tex(base) if base[0] == "x" else f"({_tex(base)})"
    return f"{shown}^{{{_num(e)}}}"


def _argument(rng: random.Random, difficulty: int, positive: bool = False) -> tuple:
    """The inside of a function: kx up to difficulty 5, a short polynomial after (positive for x > 0)."""
    k = rng.randint(1, 2 + difficulty // 3)
    if difficulty <= 5:
        return _mul(_n(k if positive or rng.random() < 0.7 else -k), X)
    if positive:
        return _add(_mul(_n(k), _pow(X, rng.choice((1, 2)))), _n(rng.randint(1, 5)))
    return _add(_mul(_n(_nz(rng, k)), _pow(X, rng.choice((1, 2, 2, 3)))), _n(rng.randint(-5, 5)))


def _basic(rng: random.Random, difficulty: int) -> tuple:
    name = rng.choice(_FUNCTIONS)
    return _fn(name, _argument(rng, difficulty, positive=name == "ln"))


def _monomial(rng: random.Random, bound: int, exponents) -> tuple:
    return _mul(_n(_nz(rng, bound)), _pow(X, rng.choice(exponents)))


def _nested(rng: random.Random, difficulty: int) -> tuple:
    """A function of a function: sin(e^{2x}), ln(x^2 + 3), (cos x)^3, sqrt(x^2 + 1)..."""
    inner = _basic(rng, 3 if rng.random() < 0.6 else difficulty)
    shape = rng.choice(("sin", "cos", "exp", "ln", "pow", "sqrt"))
    if shape == "ln":
        positive = (_add(_fn("exp", _argument(rng, 3)), _n(rng.randint(1, 4))),
                    _add(_n(rng.randint(2, 5)), _fn(rng.choice(("sin", "cos")), _argument(rng, 3))),
                    _add(_pow(X, 2), _n(rng.randint(1, 9))))
        return _fn("ln", rng.choice(positive))
    if shape == "sqrt":
        return _pow(_add(_mul(_n(rng.randint(1, 4)), _pow(X, 2)), _n(rng.randint(1, 9))), Fraction(1, 2))
    if shape == "pow":
        return _pow(_fn(rng.choice(("sin", "cos")), _argument(rng, 3)), rng.randint(2, 4))
    if inner[0] == "ln" and shape == "exp":
        inner = _fn("cos", inner[1])
    return _fn(shape, inner)


def _function(rng: random.Random, difficulty: int) -> tuple:
    """The function to differentiate; ``("quotient", u, v)`` for u / v (differentiated by the quotient rule)."""
    c = 2 + difficulty // 2
    if difficulty == 1:
        exps = sorted(rng.sample(range(5), rng.randint(2, 3)), reverse=True)
        return _add(*(_mul(_n(_nz(rng, 5)), _pow(X, e)) for e in exps))
    if difficulty == 2:
        odd = rng.choice((Fraction(-1), Fraction(-2), Fraction(1, 2), Fraction(3, 2), Fraction(-1, 2)))
        return _add(_monomial(rng, c, (2, 3, 4)), _monomial(rng, c, (1,)), _mul(_n(_nz(rng, c)), _pow(X, odd)))
    if difficulty == 3:
        return _add(_mul(_n(_nz(rng, c)), _basic(rng, difficulty)), _monomial(rng, c, (1, 2, 3)))
    if difficulty == 4:
        return _add(_mul(_n(_nz(rng, c)), _basic(rng, difficulty)), _mul(_n(_nz(rng, c)), _basic(rng, difficulty)),
                    _monomial(rng, c, (1, 2, 3)))
    if difficulty == 5:
        return _mul(_n(_nz(rng, 3)), _pow(X, rng.randint(1, 3)), _basic(rng, difficulty))
    if difficulty == 6:
        chain = rng.choice((_pow(_argument(rng, difficulty), rng.randint(2, 5)), _basic(rng, difficulty)))
        return _add(_mul(_n(_nz(rng, 3)), chain), _monomial(rng, c, (1, 2, 3)))
    if difficulty == 7:
        left = rng.choice((_pow(X, rng.randint(1, 3)), _basic(rng, 3)))
        return _mul(_n(_nz(rng, 3)), left, _basic(rng, difficulty))
    if difficulty == 8:
        bottom = _add(_pow(X, rng.randint(1, 2)), _n(rng.randint(1, 9)))
        top = rng.choice((_basic(rng, 3), _mul(_pow(X, rng.randint(1, 2)), _basic(rng, 3)), _add(X, _n(-rng.randint(1, 5)))))
        return ("quotient", top, bottom)
    if difficulty == 9:
        return _mul(_n(_nz(rng, 3)), _nested(rng, difficulty)) if rng.random() < 0.5 else \
            _mul(_pow(X, rng.randint(1, 2)), _nested(rng, difficulty))
    return _add(_mul(_n(_nz(rng, 3)), _pow(X, rng.randint(1, 3)), _basic(rng, 7)), _nested(rng, difficulty))


def _rule(t: tuple) -> tuple[str, list[str]]:
    """The rule that differentiates a term, and a line showing its parts where it has parts."""
    rest = _split(t)[1]
    if rest is None:
        return "a constant", []
    if rest == X or (rest[0] == "pow" and rest[1] == X):
        return "power rule", []
    if rest[0] == "mul":
        u, v = rest[1][0], _mul(*rest[1][1:])
        return "product rule", [f"Product rule with $u = {_tex(u)}$, $v = {_tex(v)}$: $u' = {_tex(_diff(u))}$, "
                                f"$v' = {_tex(_diff(v))}$, and $(uv)' = u'v + uv'$."]
    inner = rest[1]
    if inner == X:
        return f"derivative of {'e^x' if rest[0] == 'exp' else rest[0]}", []
    return "chain rule", [f"Chain rule with inner function $u = {_tex(inner)}$, $u' = {_tex(_diff(inner))}$."]


@task("derivative")
def derivative(rng: random.Random, difficulty: int) -> Item:
    """Differentiate sums, products, quotients and compositions of powers, exp, sin, cos and ln."""
    f = _function(rng, difficulty)
    lines = []
    if f[0] == "quotient":
        _, u, v = f
        du, dv = _diff(u), _diff(v)
        f = _mul(u, _pow(v, -1))
        gold = _mul(_add(_mul(du, v), _mul(_n(-1), u, dv)), _pow(v, -2))
        lines.append(f"Quotient rule with $u = {_tex(u)}$, $v = {_tex(v)}$: $u' = {_tex(du)}$, $v' = {_tex(dv)}$, "
                     f"and $\\left(\\frac{{u}}{{v}}\\right)' = \\frac{{u'v - uv'}}{{v^2}}$.")
    else:
        terms = f[1] if f[0] == "add" else (f,)
        if len(terms) > 1:
            lines.append("Differentiate term by term.")
        for t in terms:
            rule, parts = _rule(t)
            lines += parts
            lines.append(f"$\\left({_tex(t)}\\right)' = {_tex(_diff(t))}$ ({rule}).")
        gold = _add(*map(_diff, terms))
    shown = _tex(f)
    lines.append(f"So $f'(x) = {_tex(gold)}$.")
    point = None
    if rng.random() < 1 / 3:
        candidates = [0, 1, -1, 2] + ([-2, 3] if difficulty > 5 else [])
        rng.shuffle(candidates)
        for x0 in candidates:
            try:
                if abs(_value(f, x0)) < 1e6 and abs(_value(gold, x0)) < 1e6:
                    point = x0
                    break
            except (ValueError, ZeroDivisionError, OverflowError):
                continue
    if point is None:
        answer = _tex(gold)
        prompt = rng.choice(("Find the derivative of $f(x) = {f}$.", "Differentiate $f(x) = {f}$ with respect to $x$.",
                             "Let $f(x) = {f}$. Find $f'(x)$.")).format(f=shown)
    else:
        answer = _tex(_add(_subst(gold, Fraction(point))))
        lines.append(f"At $x = {point}$: $f'({point}) = {answer}$.")
        prompt = f"Let $f(x) = {shown}$. Find $f'({point})$."
    lines.append(f"The answer is {answer}.")
    return Item(prompt, answer, "\n".join(lines), {"function": shown, "point": point, "derivative": _tex(gold)})
