"""Evaluate parsed expressions: exactly where the value is rational, else in high precision.

Rational subexpressions stay ``Fraction`` (so ``2^{100}`` and ``1/2004!`` are exact); anything
irrational becomes an mpmath number at a precision above the longest literal. Every step is
size-guarded (no ``9^{9^{9^9}}``, no ``(10^6)!``) and checks the time budget, so evaluation always
ends quickly. Variables take fixed pseudo-random values, so comparing two expressions at a few
points decides equality of functions with overwhelming probability (and deterministically).

>>> ev = Evaluator(Budget(1.0), dps=30)
>>> ev.value(("pow", ("num", Fraction(2), None), ("num", Fraction(10), None)), {})
Fraction(1024, 1)
"""

from __future__ import annotations

import math
import random
import threading
from fractions import Fraction

import mpmath

from verifiers.budget import Budget

__all__ = ["Evaluator", "NotANumber", "TooLarge", "free_symbols", "points", "wide_points"]

MAX_EXACT_BITS = 1 << 18  # exact powers and products stay under ~79,000 digits (fast to add, gcd)
MAX_MAGNITUDE_BITS = 1 << 40  # |log2 value| above this is "too large to compare"
MAX_FACTORIAL = 20_000

_local = threading.local()


def _context(dps: int) -> mpmath.ctx_mp.MPContext:
    """A per-thread mpmath context (the global one is shared by every thread)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = _local.ctx = mpmath.MPContext()
    ctx.dps = dps
    return ctx


class NotANumber(ValueError):
    """The node has no numeric value (a set, a relation, text, a division by zero)."""


class TooLarge(ValueError):
    """The value is too large to evaluate or compare exactly."""


def free_symbols(node: object, out: set[str] | None = None) -> set[str]:
    """Names of the variables in a tree."""
    out = set() if out is None else out
    if isinstance(node, tuple) and node:
        if node[0] == "sym":
            out.add(node[1])
        elif node[0] == "call":
            out.add(f"{node[1]}({len(node[2])})")
            for a in node[2]:
                free_symbols(a, out)
        else:
            for child in node[1:]:
                free_symbols(child, out)
    elif isinstance(node, list):
        for child in node:
            free_symbols(child, out)
    return out


# Positive ranges keep sqrt and log real; several scales catch step functions like floor(m/2).
_RANGES = ((0.3, 1.9), (2.2, 9.6), (0.2, 0.95), (1.1, 3.9), (4.5, 30.0))


def points(names: set[str], count: int) -> list[dict[str, float]]:
    """``count`` fixed assignments of values to ``names`` (same names, same values, every run)."""
    out = []
    for k in range(count):
        lo, hi = _RANGES[k % len(_RANGES)]
        out.append({n: random.Random(f"{k}:{n}").uniform(lo, hi) for n in sorted(names)})
    return out


# Negative, mixed-sign and large values: two expressions that agree on the positive ranges but not here
# differ on their real domain (sqrt(x^2) vs x; floor((2n-1)/5) vs floor((2n-1)/6), equal for small n).
_WIDE_RANGES = ((-9.6, -0.3), (11.0, 97.0), (-3.9, 3.9), (-97.0, -11.0))


def wide_points(names: set[str]) -> list[dict[str, float]]:
    """Fixed assignments beyond the positive ranges of :func:`points`, one per wide range.

    Used only to refute: a point where either side leaves the reals is skipped (``real_only``).

    >>> [round(v, 2) for p in wide_points({"x"}) for v in p.values()]
    [-4.73, 80.99, 2.32, -87.29]
    """
    return [{n: random.Random(f"wide{k}:{n}").uniform(lo, hi) for n in sorted(names)}
            for k, (lo, hi) in enumerate(_WIDE_RANGES)]


def literal_digits(node: object) -> int:
    """The most digits of any literal in a tree (sets the working precision)."""
    if isinstance(node, tuple) and node:
        if node[0] == "num":
            v = node[1]
            return max(len(str(v.numerator)) if v.numerator < 10**50 else v.numerator.bit_length() // 3,
                       v.denominator.bit_length() // 3)
        return max((literal_digits(c) for c in node[1:]), default=0)
    if isinstance(node, list):
        return max((literal_digits(c) for c in node), default=0)
    return 0


class Evaluator:
    """Evaluates expression trees under a budget. Values are ``Fraction`` or mpmath numbers."""

    def __init__(self, budget: Budget, dps: int = 40):
        self.budget = budget
        self.ctx = _context(dps)
        self.dps = dps
        self.real_only = False  # raise NotANumber as soon as a subexpression leaves the reals

    # -- public
    def value(self, node: tuple, env: dict[str, object]) -> Fraction | object:
        """The value of ``node`` with variables from ``env`` (floats, Fractions or mpmath numbers)."""
        self.env = env
        return self._ev(node)

    def equal(self, a: object, b: object) -> bool:
        """Exact for two rationals, else equal to within the working precision."""
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            return a == b
        ctx = self.ctx
        x, y = self.to_mp(a), self.to_mp(b)
        if ctx.isinf(x) or ctx.isinf(y):
            return bool(x == y)
        if ctx.isnan(x) or ctx.isnan(y):
            return False
        diff = abs(x - y)
        scale = max(abs(x), abs(y), 1)
        return bool(diff <= scale * ctx.mpf(10) ** (8 - self.dps))

    def set_dps(self, dps: int) -> None:
        self.dps = self.ctx.dps = dps

    def magnitude_digits(self, v: object) -> int:
        """Decimal digits before the point of |v| (0 for small values)."""
        if isinstance(v, Fraction):
            v = self.to_mp(v)
        if not self.ctx.isfinite(v) or v == 0:
            return 0
        return max(0, int(self.ctx.mag(v) * 0.30103) + 1)

    def to_mp(self, v: object):
        if isinstance(v, Fraction):
            return self.ctx.mpf(v.numerator) / v.denominator
        return v

    # -- evaluation
    def _ev(self, node: tuple):
        self.budget.check()
        kind = node[0]
        method = getattr(self, "_ev_" + kind, None)
        if method is None:
            raise NotANumber(f"{kind} has no numeric value")
        value = method(node)
        if self.real_only and isinstance(value, self.ctx.mpc) and value.imag:
            raise NotANumber("not real")
        return value

    def _ev_num(self, node):
        return node[1]

    def _ev_sym(self, node):
        if node[1] not in self.env:
            raise NotANumber(f"free variable {node[1]}")
        value = self.env[node[1]]
        return value if isinstance(value, Fraction) or not isinstance(value, float) else self.ctx.mpf(value)

    def _ev_call(self, node):
        key = f"{node[1]}({len(node[2])})"
        if key not in self.env:
            raise NotANumber(f"free function {node[1]}")
        args = [self.to_mp(self._ev(a)) for a in node[2]]
        # an unknown function: a fixed, smooth, injective-enough function of its arguments
        return self.ctx.mpf(self.env[key]) * (1 + sum((k + 2) * a for k, a in enumerate(args)))

    def _ev_const(self, node):
        ctx = self.ctx
        return {"pi": ctx.pi, "e": ctx.e, "i": ctx.mpc(0, 1), "inf": ctx.inf}[node[1]] + 0

    def _ev_neg(self, node):
        return -self._ev(node[1])

    def _ev_add(self, node):
        total = Fraction(0)
        for term in node[1]:
            v = self._ev(term)
            if isinstance(total, Fraction) and isinstance(v, Fraction) and not self._too_big(total, v):
                total += v
            else:
                total = self.to_mp(total) + self.to_mp(v)
        return total

    def _ev_mul(self, node):
        total = Fraction(1)
        for factor in node[1]:
            v = self._ev(factor)
            if isinstance(total, Fraction) and isinstance(v, Fraction) and not self._too_big(total, v):
                total *= v
            else:
                total = self.to_mp(total) * self.to_mp(v)
        return total

    def _ev_div(self, node):
        a, b = self._ev(node[1]), self._ev(node[2])
        if isinstance(a, Fraction) and isinstance(b, Fraction) and not self._too_big(a, b):
            if b == 0:
                raise NotANumber("division by zero")
            return a / b
        b = self.to_mp(b)
        if b == 0:
            raise NotANumber("division by zero")
        return self.to_mp(a) / b

    def _ev_pct(self, node):
        v = self._ev(node[1])
        return v / 100 if isinstance(v, Fraction) else self.to_mp(v) / 100

    def _ev_deg(self, node):
        return self.to_mp(self._ev(node[1])) * self.ctx.pi / 180

    def _ev_abs(self, node):
        v = self._ev(node[1])
        return abs(v)

    def _ev_pow(self, node):
        base, exp = self._ev(node[1]), self._ev(node[2])
        if isinstance(base, Fraction) and isinstance(exp, Fraction):
            exact = self._exact_pow(base, exp)
            if exact is not None:
                return exact
        return self._mp_pow(self.to_mp(base), self.to_mp(exp))

    def _exact_pow(self, base: Fraction, exp: Fraction) -> Fraction | None:
        if base == 0:
            if exp <= 0:
                raise NotANumber("0 to a non-positive power")
            return Fraction(0)
        if base in (1, -1) and exp.denominator == 1:
            return base ** int(exp)
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if exp.denominator == 1:
            if abs(exp) * bits > MAX_EXACT_BITS:
                return None
            return base ** int(exp)
        if base < 0 or exp.denominator > 64 or abs(exp.numerator) * bits > MAX_EXACT_BITS:
            return None
        root = _exact_root(base, exp.denominator)
        return None if root is None else root ** exp.numerator

    def _mp_pow(self, base, exp):
        ctx = self.ctx
        if base == 0:
            return ctx.mpf(0)
        # |log2 result| ~ |exp| * |log2 |base||; refuse what would not fit a sane exponent
        log2_base = ctx.log(abs(base), 2) if abs(base) != 1 else ctx.mpf(0)
        if abs(exp) * (abs(log2_base) + 1) > MAX_MAGNITUDE_BITS:
            raise TooLarge("power too large")
        return ctx.power(base, exp)

    def _ev_root(self, node):
        index = Fraction(2) if node[1] is None else self._ev(node[1])
        if not isinstance(index, Fraction) or index == 0:
            index = self.to_mp(index)
            return self._mp_pow(self.to_mp(self._ev(node[2])), 1 / index)
        arg = self._ev(node[2])
        if isinstance(arg, Fraction) and index.denominator == 1:
            n = int(index)
            if arg >= 0 or n % 2 == 1:
                root = _exact_root(abs(arg), abs(n)) if abs(n) <= 64 else None
                if root is not None:
                    root = root if arg >= 0 else -root
                    return root if n > 0 else 1 / root
                if arg < 0:  # odd root of a negative number: the real root
                    return -self._mp_pow(self.to_mp(-arg), self.ctx.mpf(1) / n)
        return self._mp_pow(self.to_mp(arg), 1 / self.to_mp(index))

    def _ev_fact(self, node):
        v = self._ev(node[1])
        if isinstance(v, Fraction) and v.denominator == 1 and v >= 0:
            if v > MAX_FACTORIAL:
                if v > 10**15:
                    raise TooLarge("factorial too large")
                return self.ctx.gamma(self.ctx.mpf(int(v)) + 1)
            return Fraction(math.factorial(int(v)))
        v = self.to_mp(v)
        if abs(v) > 10**15:
            raise TooLarge("factorial too large")
        return self.ctx.gamma(v + 1)

    def _ev_binom(self, node):
        n, k = self._ev(node[1]), self._ev(node[2])
        if (all(isinstance(x, Fraction) and x.denominator == 1 for x in (n, k))
                and 0 <= k <= MAX_FACTORIAL and abs(n) <= MAX_FACTORIAL):
            return Fraction(math.comb(int(n), int(k))) if n >= 0 else Fraction(
                (-1) ** int(k) * math.comb(int(k - n - 1), int(k)))
        n, k = self.to_mp(n), self.to_mp(k)
        if abs(n) > 10**15 or abs(k) > 10**15:
            raise TooLarge("binomial too large")
        return self.ctx.binomial(n, k)

    def _ev_log(self, node):
        arg = self._ev(node[2])
        base = None if node[1] is None else self._ev(node[1])
        if isinstance(arg, Fraction) and isinstance(base, Fraction) and arg > 0 and base > 0 and base != 1:
            exact = _exact_log(arg, base)
            if exact is not None:
                return exact
        ctx = self.ctx
        arg = self.to_mp(arg)
        if arg == 0:
            raise NotANumber("log of zero")
        if base is None:
            return ctx.log(arg)
        base = self.to_mp(base)
        if base == 1 or base == 0:
            raise NotANumber("bad logarithm base")
        return ctx.log(arg) / ctx.log(base)

    def _ev_func(self, node):
        name, arg = node[1], node[2]
        if name in ("max", "min", "gcd", "lcm"):
            values = [self._ev(a) for a in arg]
            if name in ("gcd", "lcm"):
                if not all(isinstance(v, Fraction) and v.denominator == 1 for v in values):
                    raise NotANumber(f"{name} of non-integers")
                ints = [int(v) for v in values]
                return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
            reals = [self.to_mp(v) for v in values]
            if any(isinstance(r, mpmath.mpc) for r in reals):
                raise NotANumber(f"{name} of complex numbers")
            best = max(range(len(reals)), key=lambda i: reals[i]) if name == "max" else min(
                range(len(reals)), key=lambda i: reals[i])
            return values[best]
        v = self._ev(arg)
        ctx = self.ctx
        if name == "exp":
            v = self.to_mp(v)
            if abs(v) > MAX_MAGNITUDE_BITS:
                raise TooLarge("exp too large")
            return ctx.exp(v)
        if name in ("floor", "ceil", "sgn"):
            if isinstance(v, Fraction):
                return Fraction({"floor": math.floor, "ceil": math.ceil}[name](v)) if name != "sgn" else Fraction(
                    (v > 0) - (v < 0))
            v = self.to_mp(v)
            return {"floor": ctx.floor, "ceil": ctx.ceil, "sgn": ctx.sign}[name](v)
        v = self.to_mp(v)
        if abs(v) > 1 << 60:
            raise TooLarge(f"{name} of a huge argument")
        if name in _RECIPROCAL:
            inner = getattr(ctx, _RECIPROCAL[name])(v)
            if inner == 0:
                raise NotANumber(f"{name} undefined")
            return 1 / inner
        if name in _ARC_RECIPROCAL:
            if v == 0:
                raise NotANumber(f"{name} undefined")
            return getattr(ctx, _ARC_RECIPROCAL[name])(1 / v)
        fn = getattr(ctx, _ALIASES.get(name, name), None)
        if fn is None:
            raise NotANumber(f"unknown function {name}")
        return fn(v)

    @staticmethod
    def _too_big(a: Fraction, b: Fraction) -> bool:
        """Exact arithmetic on these would be slow (gcd is quadratic): approximate instead."""
        bits = sum(max(x.numerator.bit_length(), x.denominator.bit_length()) for x in (a, b))
        return bits > 2 * MAX_EXACT_BITS


_RECIPROCAL = {"sec": "cos", "csc": "sin", "cot": "tan", "sech": "cosh", "csch": "sinh", "coth": "tanh"}
_ARC_RECIPROCAL = {"arcsec": "acos", "arccsc": "asin", "arccot": "atan"}
_ALIASES = {"conj": "conj", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arsinh": "asinh", "arcosh": "acosh",
            "artanh": "atanh"}


def _exact_root(x: Fraction, n: int) -> Fraction | None:
    """The rational n-th root of a non-negative rational, if there is one."""
    out = []
    for part in (x.numerator, x.denominator):
        r = _int_root(part, n)
        if r is None:
            return None
        out.append(r)
    return Fraction(out[0], out[1])


def _int_root(m: int, n: int) -> int | None:
    if m < 2:
        return m
    if n == 2:
        r = math.isqrt(m)
        return r if r * r == m else None
    r = round(2 ** (math.log2(m) / n)) if m.bit_length() < 1000 else _newton_root(m, n)
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**n == m:
            return c
    return None


def _newton_root(m: int, n: int) -> int:
    x = 1 << ((m.bit_length() + n - 1) // n)
    while True:
        y = ((n - 1) * x + m // x ** (n - 1)) // n
        if y >= x:
            return x
        x = y


def _exact_log(arg: Fraction, base: Fraction) -> Fraction | None:
    """log_base(arg) when it is a small rational p/q (arg^q == base^p)."""
    try:
        approx = math.log(arg) / math.log(base)
    except (ValueError, OverflowError):
        return None
    guess = Fraction(approx).limit_denominator(12)
    p, q = guess.numerator, guess.denominator
    arg_bits = max(arg.numerator.bit_length(), arg.denominator.bit_length())
    base_bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if abs(p) * base_bits > MAX_EXACT_BITS or q * arg_bits > MAX_EXACT_BITS:
        return None
    lhs = arg**q
    rhs = base ** abs(p)
    return guess if (lhs == rhs if p >= 0 else lhs * rhs == 1) else None
