"""Puzzles with many right answers, checked by substitution: ``countdown`` and ``diophantine``.

``countdown``: reach a target with the given numbers, each used at most once, with + − × ÷ and
parentheses. The target is built from a random combination of the numbers under the classic rules
(every intermediate value a positive whole number, division exact), so a solution exists; harder
levels give more and larger numbers, 25/50/75/100 among them, targets up to 999, and a number that
the construction does not need.

``diophantine``: find any integer solution of ``ax + by = c`` (solved with the extended Euclidean
algorithm), of ``x^2 - y^2 = n`` (a factor pair of n) or of ``xy + ax + by = c`` (factored as
``(x + b)(y + a) = c + ab``); harder levels have larger coefficients, a common factor, and ask for
positive solutions. Every equation is built around a known solution.

>>> import random
>>> item = countdown(random.Random(0), 5)
>>> item.solution.endswith(f"The answer is {item.answer}.")
True
>>> diophantine(random.Random(0), 1).meta["variables"]
['x', 'y']
"""

from __future__ import annotations

import random
from math import gcd

from datagen.registry import Item, task

__all__ = ["countdown", "diophantine"]

# ---------------------------------------------------------------------------------------------
# countdown

_USED = (3, 3, 3, 4, 4, 4, 5, 5, 5, 5)  # numbers the construction combines, by difficulty
_TARGET = ((2, 30), (5, 60), (10, 100), (10, 200), (20, 300), (100, 500), (100, 999), (100, 999), (100, 999),
           (100, 999))
_LARGE = (25, 50, 75, 100)
_ASK = ("Using the numbers {nums}, make {target}. You may use +, -, *, / and parentheses, and each number "
        "at most once (you need not use them all). Give the expression as your answer.",
        "Reach the target {target} with the numbers {nums}: combine them with +, -, *, / and parentheses, "
        "using each number at most once. Answer with the expression.",
        "Numbers: {nums}. Target: {target}. Write an expression with +, -, *, / and parentheses that equals "
        "the target, using each number no more than once.")


def _numbers(r, d: int, k: int) -> list[int]:
    """``k`` numbers: small ones 1..9+d, and from difficulty 4 some of 25, 50, 75, 100."""
    big = 0.1 + 0.04 * d if d >= 4 else 0.0
    return [_LARGE[int(r() * 4)] if r() < big else 1 + int(r() * (9 + d)) for _ in range(k)]


def _combine(r, numbers: list[int]):
    """Fold the numbers pairwise at random; returns (value, text, steps) or None on a dead end."""
    pool = [(n, str(n), 3) for n in numbers]  # (value, text, precedence: 1 for + -, 2 for * /, 3 a number)
    steps = []
    while len(pool) > 1:
        i = int(r() * len(pool))
        a = pool.pop(i)
        b = pool.pop(int(r() * len(pool)))
        if a[0] < b[0]:
            a, b = b, a
        ops = ["+"]
        if a[0] > b[0]:
            ops.append("-")
        if b[0] > 1:
            ops.append("*")
            if a[0] % b[0] == 0:
                ops += ["/", "/"]  # exact division is rare: give it more weight
        op = ops[int(r() * len(ops))]
        (x, xt, xp), (y, yt, yp) = a, b
        if op == "+":
            value, text, prec = x + y, f"{xt} + {yt}", 1
        elif op == "-":
            value, text, prec = x - y, f"{xt} - {f'({yt})' if yp == 1 else yt}", 1
        elif op == "*":
            value, prec = x * y, 2
            text = f"{f'({xt})' if xp == 1 else xt} * {f'({yt})' if yp == 1 else yt}"
        else:
            value, prec = x // y, 2
            text = f"{f'({xt})' if xp == 1 else xt} / {f'({yt})' if yp < 3 else yt}"
        steps.append(f"{x} {op} {y} = {value}")
        pool.append((value, text, prec))
    return pool[0][0], pool[0][1], steps


@task("countdown", verifier="countdown")
def countdown(rng: random.Random, difficulty: int) -> Item:
    """Reach a target number with the given numbers, each at most once, and + - * /."""
    r = rng.random
    lo, hi = _TARGET[difficulty - 1]
    used = _numbers(r, difficulty, _USED[difficulty - 1])
    while True:
        target, expression, steps = _combine(r, used)
        if lo <= target <= hi and target not in used:
            break
        if r() < 0.3:  # some sets cannot reach the range: draw new numbers now and then
            used = _numbers(r, difficulty, len(used))
    numbers = used + _numbers(r, difficulty, 1 if difficulty >= 5 else 0)
    rng.shuffle(numbers)
    spare = [n for n in numbers if n not in used] if difficulty >= 5 else []
    shown = ", ".join(map(str, numbers))
    prompt = _ASK[int(r() * len(_ASK))].format(nums=shown, target=target)
    lines = [f"Combine the numbers two at a time, aiming for {target}:", *steps,
             f"So {expression} = {target}."]
    if spare:
        lines.append(f"The {spare[0]} is not needed.")
    lines.append(f"The answer is {expression}.")
    return Item(prompt, expression, "\n".join(lines), {"numbers": numbers, "target": target})


# ---------------------------------------------------------------------------------------------
# diophantine

_SIZE = (6, 9, 12, 20, 30, 45, 70, 100, 150, 250)  # largest coefficient, by difficulty
_FIND = ("Find integers x and y such that {eq}.", "Find one pair of integers (x, y) with {eq}.",
         "Give an integer solution (x, y) of {eq}.", "Solve {eq} in integers: any one solution will do.")
_FIND_POSITIVE = ("Find positive integers x and y such that {eq}.",
                  "Find one pair of positive integers (x, y) with {eq}.",
                  "Give a solution of {eq} in positive integers x and y.")
_FORM = " Answer in the form x = ..., y = ..."


def _term(coef: int, var: str, first: bool = False) -> str:
    """``3x``, ``- x``, ``+ 12y``: a signed term of a sum (the first one without a leading ``+``)."""
    size = "" if abs(coef) == 1 and var else str(abs(coef))
    if first:
        return f"{'-' if coef < 0 else ''}{size}{var}"
    return f"{'-' if coef < 0 else '+'} {size}{var}"


def _p(n: int) -> str:
    """A number as a factor: negative ones in parentheses."""
    return f"({n})" if n < 0 else str(n)


def _euclid(a: int, b: int) -> tuple[int, int, int, list[str]]:
    """Extended Euclid on a, b > 0: (g, s, t) with s*a + t*b = g, and the table as text."""
    rows = [(a, 1, 0), (b, 0, 1)]
    lines = [f"Extended Euclid on {a} and {b} (each row: remainder = s*{a} + t*{b}):",
             f"{a} = 1*{a} + 0*{b}", f"{b} = 0*{a} + 1*{b}"]
    while rows[-1][0]:
        (r0, s0, t0), (r1, s1, t1) = rows[-2], rows[-1]
        q = r0 // r1
        rows.append((r0 - q * r1, s0 - q * s1, t0 - q * t1))
        r2, s2, t2 = rows[-1]
        if r2:
            row = f"{r2} = {s2}*{a} + {t2}*{b}".replace("+ -", "- ")
            lines.append(f"{row}   (row {r0} minus {q} times row {r1})")
    g, s, t = rows[-2]
    lines.append(f"The last nonzero remainder is gcd({a}, {b}) = {g}.")
    return g, s, t, lines


def _linear(r, d: int, positive: bool):
    size = _SIZE[d - 1]
    common = 1 + int(r() * (1 + d // 2)) if d >= 4 and r() < 0.6 else 1
    while True:
        a, b = 2 + int(r() * (size - 1)), 2 + int(r() * (size - 1))
        if a != b and gcd(a, b) == 1:
            break
    if not positive and d >= 3:
        a, b = (-a if r() < 0.3 else a), (-b if r() < 0.5 else b)
    a, b = a * common, b * common
    reach = 2 + 2 * d
    x0, y0 = (1 + int(r() * reach), 1 + int(r() * reach)) if positive else \
        (int(r() * (2 * reach + 1)) - reach, int(r() * (2 * reach + 1)) - reach)
    c = a * x0 + b * y0
    equation = f"{_term(a, 'x', True)} {_term(b, 'y')} = {c}"
    if abs(a) >= abs(b):
        g, s, t, lines = _euclid(abs(a), abs(b))
    else:
        g, t, s, lines = _euclid(abs(b), abs(a))
    k = c // g
    x1, y1 = s * k * (1 if a > 0 else -1), t * k * (1 if b > 0 else -1)
    lines.append(f"{g} divides {c}, so solutions exist. Multiply the row for {g} by {c} / {g} = {k}"
                 + (" and fix the signs" if a < 0 or b < 0 else "") + f": x = {x1}, y = {y1} solve it.")
    step_x, step_y = b // g, a // g
    lines.append(f"All solutions: x = {x1} + {step_x}n, y = {y1} - {step_y}n for any integer n."
                 .replace("+ -", "- ").replace("- -", "+ "))
    if positive:  # the smallest positive x; y is then positive too, since a positive solution exists
        x = (x1 - 1) % abs(step_x) + 1
        lines.append(f"The smallest positive x in this family is {x}.")
    else:
        x = x1 % abs(step_x)
        if 2 * x > abs(step_x):
            x -= abs(step_x)
        lines.append(f"Choosing n to make x small gives x = {x}.")
    y = (c - a * x) // b
    lines.append(f"Then y = ({c} - {_p(a)} * {_p(x)}) / {_p(b)} = {y}.")
    lines.append(f"Check: {_p(a)} * {_p(x)} + {_p(b)} * {_p(y)} = {a * x + b * y}.")
    return equation, x, y, lines, {"a": a, "b": b, "c": c}


def _squares(r, d: int, positive: bool):
    reach = 4 + 4 * d
    while True:
        x, y = 2 + int(r() * reach), 1 + int(r() * reach)
        if x > y:
            break
    low, high = x - y, x + y
    n = low * high
    lines = [f"x^2 - y^2 = (x - y)(x + y), so look for a factor pair of {n} whose factors have the same "
             "parity (then x and y are whole).",
             f"{n} = {low} * {high}: both {'even' if low % 2 == 0 else 'odd'}.",
             f"x - y = {low} and x + y = {high} give x = ({low} + {high}) / 2 = {x} and "
             f"y = ({high} - {low}) / 2 = {y}.",
             f"Check: {x}^2 - {y}^2 = {x * x} - {y * y} = {n}."]
    if not positive and r() < 0.5:  # any sign works: show a negative one now and then
        lines.append(f"Signs do not matter here, so x = -{x} works as well.")
        x = -x
    return f"x^2 - y^2 = {n}", x, y, lines, {"n": n}


def _product(r, d: int, positive: bool):
    reach = 3 + 2 * d
    while True:
        a, b = int(r() * (2 * reach + 1)) - reach, int(r() * (2 * reach + 1)) - reach
        x, y = (1 + int(r() * reach), 1 + int(r() * reach)) if positive else \
            (int(r() * (2 * reach + 1)) - reach, int(r() * (2 * reach + 1)) - reach)
        if a and b and x + b and y + a:
            break
    c = x * y + a * x + b * y
    equation = f"xy {_term(a, 'x')} {_term(b, 'y')} = {c}"
    n = c + a * b
    lines = [f"Add {_p(a)} * {_p(b)} = {a * b} to both sides: "
             f"xy {_term(a, 'x')} {_term(b, 'y')} {_term(a * b, '')} = {c} {_term(a * b, '')}.",
             f"The left side factors: (x {_term(b, '')})(y {_term(a, '')}) = {n}.",
             f"Take the factor pair {n} = {_p(x + b)} * {_p(y + a)}: "
             f"x {_term(b, '')} = {x + b} and y {_term(a, '')} = {y + a}.",
             f"So x = {x} and y = {y}.",
             f"Check: {_p(x)} * {_p(y)} + {_p(a)} * {_p(x)} + {_p(b)} * {_p(y)} = {c}."]
    return equation, x, y, lines, {"a": a, "b": b, "c": c}


@task("diophantine", verifier="equation")
def diophantine(rng: random.Random, difficulty: int) -> Item:
    """Find an integer solution of a linear or simple quadratic equation in x and y."""
    r = rng.random
    kind = "linear" if difficulty <= 2 or r() < 0.5 else ("squares", "product")[int(r() * 2)]
    positive = difficulty >= 6 and r() < 0.5
    make = {"linear": _linear, "squares": _squares, "product": _product}[kind]
    equation, x, y, lines, coefficients = make(r, difficulty, positive)
    ask = _FIND_POSITIVE if positive else _FIND
    prompt = ask[int(r() * len(ask))].format(eq=f"${equation}$") + _FORM
    answer = f"x = {x}, y = {y}"
    lines.append(f"The answer is {answer}.")
    equations = [equation, "x > 0", "y > 0"] if positive else [equation]
    return Item(prompt, answer, "\n".join(lines), {"equations": equations, "variables": ["x", "y"],
                                                   "domain": "integer", "kind": kind, **coefficients})
