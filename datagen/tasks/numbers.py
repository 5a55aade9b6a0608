"""``fractions``, ``number_theory``, ``sequence``: exact work with rationals, integers and sequences.

``fractions`` evaluates + − × ÷ of 2 to 5 fractions with the order of operations (kind
``arithmetic``, three in four problems), or asks to write a fraction in lowest terms (``simplify``,
scored by the ``simplest`` verifier, so the unreduced fraction itself is not an answer). Difficulty
adds terms (2 at 1, 5 at 10) and larger denominators (up to 6 at 1, 24 at 10); × from 2, ÷ from 4;
asks for a mixed-number answer from 3, shows mixed-number terms from 5 and negative terms from 6. In
``simplify`` it grows the fraction: the reduced denominator up to 10·d², the common factor up to 10·d.

``number_theory`` asks for a gcd or lcm (Euclid shown), a^b mod m (repeated squaring shown), the
n-th prime, the first prime after N, or a fact read off a prime factorization (largest prime factor,
sum of the distinct prime factors, number of divisors). Difficulty grows every number's size. (A
factorization itself is not asked: written as a product it equals n, so "n" would score correct.)

``sequence`` asks for the next term, the n-th term, or a formula for the n-th term of an arithmetic,
geometric, quadratic or Fibonacci-like sequence. Difficulty adds kinds (geometric from 2, Fibonacci-
like from 3, quadratic from 4), questions (n-th term from 2, formula from 3), negative numbers (from
4), larger numbers, and from 6 leaves the kind unnamed (only when the shown terms fit one pattern).

>>> import random
>>> items = [make(random.Random(0), 7) for make in (fractions, number_theory, sequence)]
>>> all(item.solution.endswith(f"The answer is {item.answer}.") for item in items)
True
"""

from __future__ import annotations

import math
import random
import re
from fractions import Fraction
from itertools import pairwise

from datagen.registry import Item, task

# ---------------------------------------------------------------------------------------------
# fractions

_SYMBOL = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}

# A rational is a pair (p, q) of ints in lowest terms with q > 0: several times faster than Fraction.


def _reduced(p: int, q: int) -> tuple[int, int]:
    g = math.gcd(p, q)
    return (p // g, q // g) if q > 0 else (-p // g, -q // g)


def _tex(p: int, q: int, mixed: bool = False) -> str:
    """A rational in LaTeX: ``5``, ``-\\frac{7}{2}``, or (``mixed``) ``-3\\frac{1}{2}``."""
    if q == 1:
        return str(p)
    sign = "-" if p < 0 else ""
    p = abs(p)
    if mixed and p > q:
        return f"{sign}{p // q}\\frac{{{p % q}}}{{{q}}}"
    return f"{sign}\\frac{{{p}}}{{{q}}}"


def _operand(p: int, q: int, mixed: bool = False) -> str:
    return f"({_tex(p, q, mixed)})" if p < 0 else _tex(p, q, mixed)


def _term(r, max_den: int, mixed: bool, negative: bool) -> tuple[int, int]:
    den = 2 + int(r() * (max_den - 1))
    num = 1 + int(r() * (den - 1))
    while math.gcd(num, den) != 1:
        num = 1 + int(r() * (den - 1))
    if mixed:
        num += (1 + int(r() * (1 + max_den // 6))) * den
    return (-num if negative else num), den


def _over(num: int, den: int, second: bool = False) -> str:
    """An unreduced fraction ``num/den`` in LaTeX, in parentheses when negative and not first."""
    text = str(abs(num)) if den == 1 else f"\\frac{{{abs(num)}}}{{{den}}}"
    if num >= 0:
        return text
    return f"(-{text})" if second else f"-{text}"


def _fraction_step(op: str, a: tuple[int, int], b: tuple[int, int]) -> tuple[tuple[int, int], str]:
    """Apply ``op`` to ``a`` and ``b``; return the result and the step in words."""
    (an, ad), (bn, bd) = a, b
    if op in "+-":
        den = ad * bd // math.gcd(ad, bd)
        x, y = an * (den // ad), bn * (den // bd)
        num = x + y if op == "+" else x - y
        text = f"Over the common denominator {den}: ${_operand(an, ad)} {op} {_operand(bn, bd)} = "
        if ad != den or bd != den:
            text += f"{_over(x, den)} {op} {_over(y, den, True)} = "
        text += _over(num, den)
    else:
        fn, fd = (bn, bd) if op == "*" else (bd, bn) if bn > 0 else (-bd, -bn)
        num, den = an * fn, ad * fd
        flip = "" if op == "*" else f" = {_operand(an, ad)} \\times {_operand(fn, fd)}"
        text = (f"Multiply numerators and denominators: ${_operand(an, ad)} {_SYMBOL[op]} {_operand(bn, bd)}"
                f"{flip} = {_over(num, den)}")
    result = _reduced(num, den)
    if result[1] != den:
        text += f" = {_tex(*result)}"
    return result, text + "$."


def _evaluate(terms: list[tuple[int, int]], ops: list[str], steps: list[str]) -> tuple[int, int]:
    """× and ÷ first, left to right; then + and −, left to right."""
    values, pending = [terms[0]], []
    for op, term in zip(ops, terms[1:]):
        if op in "*/":
            values[-1], text = _fraction_step(op, values[-1], term)
            steps.append(text)
        else:
            values.append(term)
            pending.append(op)
    result = values[0]
    for op, value in zip(pending, values[1:]):
        result, text = _fraction_step(op, result, value)
        steps.append(text)
    return result


_FRACTION_KINDS = ("arithmetic", "simplify")


@task("fractions", kinds=_FRACTION_KINDS)
def fractions(rng: random.Random, difficulty: int, kinds: tuple[str, ...] = _FRACTION_KINDS) -> Item:
    """Fraction arithmetic with mixed numbers, and fractions to lowest terms; answers in simplest form."""
    if len(kinds) > 1:
        return _simplify(rng, difficulty) if rng.random() < 0.25 else _arithmetic(rng, difficulty)  # 1 in 4
    return _simplify(rng, difficulty) if kinds[0] == "simplify" else _arithmetic(rng, difficulty)


def _simplify(rng: random.Random, difficulty: int) -> Item:
    """Write p·f / q·f in lowest terms, with the gcd f found by the Euclidean algorithm. The reduced
    denominator goes up to 10·d², the common factor up to 10·d; improper fractions from 4."""
    r = rng.random
    q = 2 + int(r() * (10 * difficulty * difficulty - 1))
    top = 2 * q if difficulty >= 4 and r() < 0.5 else q
    p = 1 + int(r() * (top - 1))
    while math.gcd(p, q) != 1:
        p = 1 + int(r() * (top - 1))
    factor = 2 + int(r() * (10 * difficulty - 1))
    num, den = p * factor, q * factor
    n, d, f = str(num), str(den), str(factor)  # each is written several times: convert it once
    lines = [f"Find the greatest common divisor of {n} and {d} with the Euclidean algorithm:"]
    _euclid(num, den, lines)
    tex, answer = f"\\frac{{{n}}}{{{d}}}", f"\\frac{{{p}}}{{{q}}}"
    lines.append(f"The gcd is {f}. Divide the numerator and the denominator by it: ${tex} = "
                 f"\\frac{{{n} \\div {f}}}{{{d} \\div {f}}} = {answer}$.\nThe answer is {answer}.")
    return Item(f"Write ${tex}$ as a fraction in lowest terms.", answer, "\n".join(lines),
                f'{{"denominator":{d},"kind":"simplify","numerator":{n}}}', "", "simplest")


def _arithmetic(rng: random.Random, difficulty: int) -> Item:
    """+ − × ÷ of 2 to 5 fractions and mixed numbers, the order of operations shown step by step."""
    r = rng.random
    count = 2 + (difficulty - 1) // 3
    max_den = 4 + 2 * difficulty
    ops = ("+", "-", "*", "/")[: 2 + (difficulty >= 2) + (difficulty >= 4)]
    while True:
        mixed = [difficulty >= 5 and r() < 0.4 for _ in range(count)]
        terms = [_term(r, max_den, m, difficulty >= 6 and r() < 0.25) for m in mixed]
        chosen = [ops[int(r() * len(ops))] for _ in range(count - 1)]
        steps: list[str] = []
        p, q = _evaluate(terms, chosen, steps)
        if q <= 100 * max_den and abs(p) <= 10**5:
            break
    expression = _operand(*terms[0], mixed[0]) + "".join(
        f" {_SYMBOL[op]} {_operand(*t, m)}" for op, t, m in zip(chosen, terms[1:], mixed[1:]))
    as_mixed = difficulty >= 3 and q > 1 and abs(p) > q and r() < 0.5
    answer = _tex(p, q, as_mixed)
    form = "a mixed number in simplest form" if as_mixed else "a fraction in simplest form (or an integer)"
    lines = []
    if any(mixed):
        lines.append("Write the mixed numbers as improper fractions: " + ", ".join(
            f"${_tex(abs(t[0]), t[1], True)} = {_tex(abs(t[0]), t[1])}$" for t, m in zip(terms, mixed) if m) + ".")
    if count > 2:
        lines.append("Multiply and divide first, then add and subtract, left to right.")
    lines += steps
    if as_mixed:
        lines.append(f"As a mixed number: ${_tex(p, q)} = {answer}$ ({abs(p)} = "
                     f"{abs(p) // q} \u00d7 {q} + {abs(p) % q}).")
    lines.append(f"The answer is {answer}.")
    meta = {"kind": "arithmetic", "terms": [f"{n}/{d}" for n, d in terms], "ops": chosen, "mixed_terms": mixed,
            "mixed_answer": as_mixed}
    return Item(f"Calculate ${expression}$. Write the answer as {form}.", answer, "\n".join(lines), meta)


# ---------------------------------------------------------------------------------------------
# number_theory


def _sieve(limit: int) -> list[int]:
    flags = bytearray([1]) * (limit + 1)
    flags[0:2] = b"\0\0"
    for i in range(2, math.isqrt(limit) + 1):
        if flags[i]:
            flags[i * i :: i] = bytes(len(range(i * i, limit + 1, i)))
    return [i for i, flag in enumerate(flags) if flag]


_PRIMES = _sieve(100_000)  # trial division of numbers below 10^10
_NTH_PRIME_MAX = 210  # the largest n asked for (difficulty 10)
_PRIME_LIST = ", ".join(map(str, _PRIMES[:_NTH_PRIME_MAX]))
_PRIME_LIST_END = [0] + [m.end() for m in re.finditer(r"\d+", _PRIME_LIST)]  # the first n: _PRIME_LIST[:end[n]]


def _is_prime(n: int) -> bool:
    """Miller-Rabin with the first seven prime bases: exact below 3.4 * 10^14."""
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _smallest_factor(n: int) -> int:
    if _is_prime(n):  # a prime would otherwise be trial-divided all the way to its square root
        return n
    for p in _PRIMES:
        if p * p > n:
            return n
        if n % p == 0:
            return p
    raise ValueError(f"{n} is beyond the sieve")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_POW10 = [10**k for k in range(40)]


def _digits(rng: random.Random, low: int, high: int) -> int:
    """A random number with ``low`` to ``high`` digits (``randint`` twice, inlined: the same draws)."""
    r = rng.random
    low = _POW10[low - 1 + int(r() * (high - low + 1))]
    if low > 1_000_000:  # ItemRng.randint's wider path, for ranges of 2**24 and more
        return rng.randint(low, 10 * low - 1)
    return low + int(r() * (9 * low))


def _distinct(rng: random.Random, k: int, factor: int, low: int, high: int) -> list[int]:
    """``k`` different multiples of ``factor`` by numbers of ``low`` to ``high`` digits: ``_digits``,
    inlined in this hot loop (the same draws; calling it costs gcd and lcm 4% of their rate)."""
    r, numbers, span = rng.random, [], high - low + 1
    while len(numbers) < k:
        size = _POW10[low - 1 + int(r() * span)]
        n = factor * (size + int(r() * (9 * size)) if size <= 1_000_000 else rng.randint(size, 10 * size - 1))
        if n not in numbers:
            numbers.append(n)
    return numbers


def _euclid(a: int, b: int, lines: list[str]) -> int:
    """gcd(a, b), with one line per step of the Euclidean algorithm."""
    if a < b:
        a, b = b, a
    append = lines.append
    text_a, text_b = str(a), str(b)  # each number is written up to three times: convert it once
    while b:
        rest = a % b
        text_rest = str(rest)
        append(f"{text_a} = {a // b} \u00d7 {text_b} + {text_rest}")
        a, b, text_a, text_b = b, rest, text_b, text_rest
    return a


def _item(prompt: str, result: int, lines: list[str], meta: dict | str) -> Item:
    """The item of a kind: its solution ends in the answer line."""
    answer = str(result)
    lines.append(f"The answer is {answer}.")
    return Item(prompt, answer, "\n".join(lines), meta)


def _numbers_item(kind: str, question: str, result: int, lines: list[str], numbers: list[int]) -> Item:
    """gcd and lcm, the kinds most often asked alone, and cheap: they write their ``meta`` JSON
    themselves (canonical: sorted keys, no spaces), which saves a tenth of their time."""
    listed = ", ".join(map(str, numbers))
    meta = f'{{"kind":"{kind}","numbers":[{listed.replace(" ", "")}]}}'
    return _item(f"{question} {listed}?", result, lines, meta)


def _gcd(rng: random.Random, difficulty: int) -> Item:
    r = rng.random
    k = 3 if difficulty >= 7 and r() < 0.5 else 2
    # g = _digits(rng, 1, 1 + difficulty // 3), inlined (the same draws): at most 4 digits, so always
    # _digits' narrow path
    size = _POW10[int(r() * (1 + difficulty // 3))]
    g = size + int(r() * (9 * size))
    numbers = _distinct(rng, k, g, 1 + difficulty // 4, 1 + difficulty // 2)
    lines = ["Use the Euclidean algorithm: replace (a, b) by (b, a mod b) until the remainder is 0."]
    result = numbers[0]
    for n in numbers[1:]:
        previous = result
        result = _euclid(result, n, lines)
        lines.append(f"So gcd({previous}, {n}) = {result}.")
    return _numbers_item("gcd", "What is the greatest common divisor of", result, lines, numbers)


def _lcm(rng: random.Random, difficulty: int) -> Item:
    r = rng.random
    k = 3 if difficulty >= 6 and r() < 0.5 else 2
    g = 1 + int(r() * (3 + 3 * difficulty))  # rng.randint(1, 3 + 3 * difficulty), inlined
    numbers = _distinct(rng, k, g, 1, 1 + difficulty // 4)
    lines = ["Use lcm(a, b) = a \u00d7 b / gcd(a, b), with the gcd from the Euclidean algorithm."]
    result = numbers[0]
    for n in numbers[1:]:
        previous = result
        g = _euclid(previous, n, lines)
        result = previous * n // g
        lines.append(f"gcd({previous}, {n}) = {g}, so lcm({previous}, {n}) = {previous} \u00d7 {n} / {g} = {result}.")
    return _numbers_item("lcm", "What is the least common multiple of", result, lines, numbers)


def _mod_pow(rng: random.Random, difficulty: int) -> Item:
    base = rng.randint(2, 10 ** (1 + difficulty // 3))
    exponent = rng.randint(5, 10 + 2 ** (2 + difficulty // 2))
    modulus = rng.randint(3, 10 ** (1 + (difficulty + 1) // 3))
    bits = bin(exponent)[2:]
    lines = [f"Write the exponent in binary: {exponent} = {bits}_2 = "
             + " + ".join(str(1 << i) for i, bit in enumerate(reversed(bits)) if bit == "1") + ".",
             f"Square repeatedly, reducing mod {modulus}:"]
    square, picked = base % modulus, []
    for i, bit in enumerate(reversed(bits)):
        if i:
            new = square * square % modulus
            lines.append(f"{base}^{{{1 << i}}} \u2261 {square}^2 = {square * square} \u2261 {new}")
            square = new
        else:
            lines.append(f"{base}^{{1}} \u2261 {square}")
        if bit == "1":
            picked.append(square)
    result = 1 % modulus
    lines.append(f"Multiply the powers for the 1 bits, reducing mod {modulus} each time:")
    for value in picked:
        new = result * value % modulus
        lines.append(f"{result} \u00d7 {value} = {result * value} \u2261 {new}")
        result = new
    prompt = f"What is ${base}^{{{exponent}}} \\bmod {modulus}$ (the remainder when ${base}^{{{exponent}}}$ " \
             f"is divided by {modulus})?"
    return _item(prompt, result, lines, {"kind": "mod_pow", "base": base, "exponent": exponent, "modulus": modulus})


def _nth_prime(rng: random.Random, difficulty: int) -> Item:
    n = rng.randint(1 + 2 * difficulty, 10 + 20 * difficulty)
    lines = [f"List the primes in order: {_PRIME_LIST[:_PRIME_LIST_END[n]]}.",
             f"That is {n} primes; the last is {_PRIMES[n - 1]}."]
    return _item(f"What is the {_ordinal(n)} prime number?", _PRIMES[n - 1], lines, {"kind": "nth_prime", "n": n})


def _next_prime(rng: random.Random, difficulty: int) -> Item:
    start = _digits(rng, 1 + difficulty // 2, min(9, 1 + difficulty))
    lines = ["Test the numbers after it in turn: a number is prime when no prime up to its square root divides it."]
    n = start + 1
    while (p := _smallest_factor(n)) != n or n < 2:
        lines.append(f"{n} = {p} \u00d7 {n // p}, not prime.")
        n += 1
    lines.append(f"{n}: no prime up to \u221a{n} \u2248 {math.isqrt(n)} divides it, so it is prime.")
    return _item(f"What is the smallest prime number greater than {start}?", n, lines,
                 {"kind": "next_prime", "after": start})


def _factor_fact(rng: random.Random, difficulty: int) -> Item:
    pool = _PRIMES[: 4 + 4 * difficulty]
    while True:
        primes = sorted(rng.sample(pool, rng.randint(2, 2 + difficulty // 3)))
        powers = {p: rng.randint(1, max(1, 4 - difficulty // 3)) if p < 20 else 1 for p in primes}
        n = math.prod(p**e for p, e in powers.items())
        if n < 10 ** (3 + difficulty):
            break
    ask = rng.choice(["largest", "sum", "divisors"])
    lines = [f"Factor {n} by trial division, smallest primes first:"]
    rest = n
    for p, e in powers.items():
        chain = [rest]
        for _ in range(e):
            rest //= p
            chain.append(rest)
        lines.append(f"divide by {p} ({e} time{'s' if e > 1 else ''}): " + " \u2192 ".join(map(str, chain)))
    product = " \\cdot ".join(f"{p}^{{{e}}}" if e > 1 else str(p) for p, e in powers.items())
    lines.append(f"So ${n} = {product}$.")
    if ask == "largest":
        question, result = f"What is the largest prime factor of {n}?", max(powers)
        lines.append(f"The largest prime factor is {result}.")
    elif ask == "sum":
        question, result = f"What is the sum of the distinct prime factors of {n}?", sum(powers)
        lines.append(f"The distinct prime factors sum to {' + '.join(map(str, powers))} = {result}.")
    else:
        question, result = f"How many positive divisors does {n} have?", math.prod(e + 1 for e in powers.values())
        counts = " \u00d7 ".join(str(e + 1) for e in powers.values())
        lines.append(f"A divisor takes each prime's exponent from 0 up to its power: {counts} = {result} divisors.")
    return _item(question, result, lines, {"kind": "prime_factors", "n": n, "ask": ask})


_NUMBER_KINDS = {"gcd": _gcd, "lcm": _lcm, "mod_pow": _mod_pow, "nth_prime": _nth_prime,
                 "next_prime": _next_prime, "prime_factors": _factor_fact}


@task("number_theory", kinds=_NUMBER_KINDS)
def number_theory(rng: random.Random, difficulty: int, kinds: tuple[str, ...] = tuple(_NUMBER_KINDS)) -> Item:
    """gcd, lcm, modular powers, primes and prime factorizations."""
    return _NUMBER_KINDS[kinds[int(rng.random() * len(kinds))]](rng, difficulty)  # rng.choice, inlined


# ---------------------------------------------------------------------------------------------
# sequence



def _poly(coefficients: list[int]) -> str:
    """A polynomial in n, highest power first, in LaTeX: [2, -3, 1] -> 2n^{2}-3n+1."""
    out = ""
    for power, c in zip(range(len(coefficients) - 1, -1, -1), coefficients):
        if c == 0:
            continue
        sign = "-" if c < 0 else ("+" if out else "")
        size = "" if abs(c) == 1 and power else str(abs(c))
        out += sign + size + ("" if power == 0 else "n" if power == 1 else f"n^{{{power}}}")
    return out or "0"


def _geometric_formula(first: int, ratio: int) -> str:
    power = f"({ratio})^{{n-1}}" if ratio < 0 else f"{ratio}^{{n-1}}"
    return {1: power, -1: "-" + power}.get(first, f"{first} \\cdot {power}")


def _diffs(values: list[int]) -> list[int]:
    return [b - a for a, b in pairwise(values)]


def _times(c: int) -> str:
    return "" if c == 1 else f"{c} \\cdot "


def _paren(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


def _recurrence(first: int, second: int, p: int, q: int, count: int) -> list[int]:
    terms = [first, second]
    while len(terms) < count:
        terms.append(p * terms[-1] + q * terms[-2])
    return terms[:count]


def _rule(p: int, q: int) -> str:
    """The right side of a_n = p a_{n-1} + q a_{n-2}."""
    return (f"{'' if p == 1 else p}a_{{n-1}} {'-' if q < 0 else '+'} "
            f"{'' if abs(q) == 1 else abs(q)}a_{{n-2}}")


def _continuations(terms: list[int], count: int) -> list[list]:
    """The terms continued to ``count`` by each pattern they fit: quadratic or lower, geometric, Fibonacci."""
    out = []
    d1 = _diffs(terms)
    if len(set(_diffs(d1))) == 1:
        more, step = list(terms), d1[-1]
        while len(more) < count:
            step += d1[1] - d1[0]
            more.append(more[-1] + step)
        out.append(more)
    if all(terms) and len({Fraction(y, x) for x, y in pairwise(terms)}) == 1:
        more, ratio = list(terms), Fraction(terms[1], terms[0])
        while len(more) < count:
            more.append(more[-1] * ratio)
        out.append(more)
    if all(terms[i] == terms[i - 1] + terms[i - 2] for i in range(2, len(terms))):
        out.append(_recurrence(terms[0], terms[1], 1, 1, count))
    return out


def _signed(rng: random.Random, low: int, high: int, negative: bool) -> int:
    value = rng.randint(low, high)
    return -value if negative and rng.random() < 0.4 else value


def _make_sequence(rng: random.Random, difficulty: int, family: str) -> dict:
    negative = difficulty >= 4
    if family == "arithmetic":
        return {"first": _signed(rng, 1, 5 * difficulty, negative),
                "difference": _signed(rng, 1, 2 + 2 * difficulty, negative)}
    if family == "geometric":
        return {"first": _signed(rng, 1, 2 + difficulty, difficulty >= 5),
                "ratio": _signed(rng, 2, 2 + difficulty // 3, difficulty >= 6)}
    if family == "quadratic":
        return {"a": _signed(rng, 1, 1 + difficulty // 3, difficulty >= 7),
                "b": _signed(rng, 0, 3 * difficulty, True), "c": _signed(rng, 0, 3 * difficulty, True)}
    p, q = (rng.choice([1, 2]), rng.choice([1, 2, -1])) if difficulty >= 8 else (1, 1)
    return {"first": _signed(rng, 1, 3 + 2 * difficulty, difficulty >= 7),
            "second": _signed(rng, 1, 3 + 2 * difficulty, difficulty >= 7), "p": p, "q": q}


def _terms(family: str, params: dict, count: int) -> list[int]:
    if family == "arithmetic":
        return [params["first"] + k * params["difference"] for k in range(count)]
    if family == "geometric":
        return [params["first"] * params["ratio"] ** k for k in range(count)]
    if family == "quadratic":
        return [params["a"] * n * n + params["b"] * n + params["c"] for n in range(1, count + 1)]
    return _recurrence(params["first"], params["second"], params["p"], params["q"], count)


def _rule_lines(family: str, params: dict, shown: list[int]) -> tuple[list[str], str]:
    """The steps that find the pattern, and the n-th term formula (empty for a recurrence)."""
    d1 = _diffs(shown)
    if family == "arithmetic":
        first, step = params["first"], params["difference"]
        formula = _poly([step, first - step])
        return [f"The differences are {', '.join(map(str, d1))}: a common difference $d = {step}$.",
                f"So $a_n = a_1 + (n-1)d = {first} + (n-1){_paren(step)} = {formula}$."], formula
    if family == "geometric":
        first, ratio = params["first"], params["ratio"]
        formula = _geometric_formula(first, ratio)
        return [f"Each term is {ratio} times the one before: a common ratio $r = {ratio}$.",
                f"So $a_n = a_1 r^{{n-1}} = {formula}$."], formula
    if family == "quadratic":
        a, b, c = params["a"], params["b"], params["c"]
        d2 = _diffs(d1)
        formula = _poly([a, b, c])
        return [f"The first differences are {', '.join(map(str, d1))}; the second differences are "
                f"{', '.join(map(str, d2))}.",
                f"Constant second differences mean $a_n = An^2 + Bn + C$ with $2A = {d2[0]}$, so $A = {a}$.",
                f"$a_2 - a_1 = 3A + B = {d1[0]}$ gives $B = {b}$; $a_1 = A + B + C = {shown[0]}$ gives $C = {c}$.",
                f"So $a_n = {formula}$."], formula
    if (params["p"], params["q"]) == (1, 1):
        return ["Each term is the sum of the two before it: $a_n = a_{n-1} + a_{n-2}$."], ""
    return [f"Each term follows $a_n = {_rule(params['p'], params['q'])}$."], ""


def _value_lines(family: str, params: dict, formula: str, terms: list[int], shown: int) -> list[str]:
    """The steps from the pattern to a_n, n = len(terms), after ``shown`` known terms."""
    n, value = len(terms), terms[-1]
    if family == "fibonacci":
        p, q = params["p"], params["q"]
        return [f"$a_{{{k}}} = {_times(p)}{_paren(terms[k - 2])} {'-' if q < 0 else '+'} "
                f"{_times(abs(q))}{_paren(terms[k - 3])} = {terms[k - 1]}$." for k in range(shown + 1, n + 1)]
    if n == shown + 1:
        last = terms[-2]
        if family == "arithmetic":
            return [f"$a_{{{n}}} = a_{{{n - 1}}} + d = {last} + {_paren(params['difference'])} = {value}$."]
        if family == "geometric":
            return [f"$a_{{{n}}} = a_{{{n - 1}}} \\cdot r = {last} \\cdot {_paren(params['ratio'])} = {value}$."]
        step = value - last
        return [f"The next first difference is {terms[-2] - terms[-3]} + {_paren(2 * params['a'])} = {step}, "
                f"so $a_{{{n}}} = {last} + {_paren(step)} = {value}$."]
    shown_formula = formula.replace("n-1", f"{n}-1") if family == "geometric" else formula.replace("n", f"({n})")
    return [f"$a_{{{n}}} = {shown_formula} = {value}$."]


@task("sequence")
def sequence(rng: random.Random, difficulty: int) -> Item:
    """Next term, n-th term or formula of arithmetic, geometric, quadratic and Fibonacci-like sequences."""
    families = ["arithmetic", "geometric", "fibonacci", "quadratic"][: min(4, difficulty)]
    family = rng.choice(families)
    asks = ["next"] + (["nth"] if difficulty >= 2 else []) + \
        (["formula"] if difficulty >= 3 and family != "fibonacci" else [])
    ask = rng.choice(asks)
    count = 6 if difficulty >= 6 else 5
    while True:
        params = _make_sequence(rng, difficulty, family)
        if ask == "next":
            n = count + 1
        elif family in ("arithmetic", "quadratic"):
            n = rng.randint(count + 2, 10 + 5 * difficulty)
        else:
            n = rng.randint(count + 2, count + 2 + difficulty // 3)
        terms = _terms(family, params, n + 2)
        shown = terms[:count]
        stated = family == "fibonacci" and (params["p"], params["q"]) != (1, 1)
        named = difficulty < 6 or stated
        # unnamed, the shown terms must fit one pattern only: every fitting pattern agrees beyond them
        if named or all(more == terms for more in _continuations(shown, len(terms))):
            break
    lines, formula = _rule_lines(family, params, shown)
    if ask == "formula":
        answer = formula
    else:
        answer = str(terms[n - 1])
        lines += _value_lines(family, params, formula, terms[:n], count)
    lines.append(f"The answer is {answer}.")
    if stated:
        name = f"sequence with $a_n = {_rule(params['p'], params['q'])}$ for $n \\ge 3$"
    elif not named:
        name = "sequence"
    else:
        name = {"arithmetic": "arithmetic sequence", "geometric": "geometric sequence",
                "quadratic": "sequence with constant second differences",
                "fibonacci": "sequence in which each term is the sum of the two before it"}[family]
    what = {"next": "the next term", "nth": f"the {_ordinal(n)} term $a_{{{n}}}$",
            "formula": "a formula in $n$ for the n-th term $a_n$"}[ask]
    listed = ", ".join(map(str, shown))
    prompt = f"Find {what} of the {name}: ${listed}, \\ldots$" + \
        ("." if ask == "next" else f" (the first term is $a_1 = {shown[0]}$).")
    meta = {"family": family, "params": params, "shown": shown, "ask": ask, "n": n, "named": named}
    return Item(prompt, answer, "\n".join(lines), meta)
