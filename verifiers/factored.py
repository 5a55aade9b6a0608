r"""The ``factor`` verifier: a "factor completely" answer must equal the gold and be factored as far.

``verify_math`` compares values, so the expanded polynomial would pass as the answer to "factor
completely". Here the answer must also be a product (times any constant) whose every non-constant
factor is a constant multiple of one of the gold answer's factors, which the gold states fully
factored. Factors are compared as functions, exactly, at a few rational points.

>>> verify_factored("2(x - 1)^{2}(x + 3)", "<answer>(2x - 2)(x + 3)(x - 1)</answer>").status
'correct'
>>> verify_factored("2(x - 1)^{2}(x + 3)", "<answer>2x^3 + 2x^2 - 10x + 6</answer>").reason
'equal, but not factored as far as the gold answer'
>>> verify_factored("(x - 1)(x + 3)", "<answer>(x - 1)(x + 4)</answer>").status
'incorrect'
"""

from __future__ import annotations

import logging
from fractions import Fraction

from verifiers.budget import Budget, OutOfTime
from verifiers.latex import normalize, parse
from verifiers.math_answer import verify_math
from verifiers.numeric import Evaluator, free_symbols
from verifiers.verdict import Verdict

__all__ = ["verify_factored"]

log = logging.getLogger(__name__)
# points where no factor with small coefficients vanishes
_POINTS = (Fraction(31, 37), Fraction(-41, 43), Fraction(53, 59), Fraction(-61, 67), Fraction(71, 73))
_MAX_POWER = 64


def verify_factored(gold: str, completion: str, *, timeout_s: float = 1.0, extract: bool = True) -> Verdict:
    """Correct when ``verify_math`` says the answer equals ``gold`` and it is factored as far as ``gold``."""
    verdict = verify_math(gold, completion, timeout_s=timeout_s, extract=extract)
    if not verdict.correct:
        return verdict
    budget = Budget(timeout_s)
    try:
        wanted, given = (_factors(_value_side(parse(normalize(text), budget))) for text in (gold, verdict.extracted))
        names = sorted(free_symbols(wanted))
        ev = Evaluator(budget)
        if all(any(_proportional(ev, f, g, names) for g in wanted) for f in given):
            return Verdict("correct", "equal and factored", verdict.extracted)
        return Verdict("incorrect", "equal, but not factored as far as the gold answer", verdict.extracted)
    except OutOfTime:
        return Verdict("timeout", f"over the {timeout_s:g} s budget", verdict.extracted)
    except Exception as exc:  # never crash the caller on model text
        log.debug("verify_factored failed on %r", verdict.extracted, exc_info=True)
        return Verdict("unparseable", f"internal error: {type(exc).__name__}", verdict.extracted)


def _value_side(tree: tuple) -> tuple:
    """``f(x) = (x - 1)(x + 3)`` -> its right side; any other tree as it is."""
    if tree[0] == "rel" and tree[1] == ["="] and len(tree[2]) == 2:
        return tree[2][1]
    return tree


def _factors(node: tuple, out: list | None = None) -> list:
    """The non-constant factors of a product, a power repeated, signs and constant divisors dropped."""
    out = [] if out is None else out
    kind = node[0]
    if kind == "mul":
        for factor in node[1]:
            _factors(factor, out)
    elif kind == "neg" or (kind == "div" and not free_symbols(node[2])):
        _factors(node[1], out)
    elif kind == "pow" and node[2][0] == "num" and node[2][1].denominator == 1 \
            and 1 <= node[2][1] <= _MAX_POWER and free_symbols(node[1]):
        for _ in range(int(node[2][1])):
            _factors(node[1], out)
    elif free_symbols(node):
        out.append(node)
    return out


def _proportional(ev: Evaluator, f: tuple, g: tuple, names: list[str]) -> bool:
    """f = c·g for a constant c != 0, as functions: f(p)·g(q) = f(q)·g(p) at a few points p."""
    if not free_symbols(f) <= set(names):
        return False
    values = []
    for shift in range(len(_POINTS)):  # variable k takes point k + shift
        point = {name: _POINTS[(k + shift) % len(_POINTS)] for k, name in enumerate(names)}
        values.append((ev.value(f, point), ev.value(g, point)))
    f0, g0 = values[0]
    if ev.equal(f0, 0) or ev.equal(g0, 0):
        return False
    return all(ev.equal(_times(ev, fv, g0), _times(ev, gv, f0)) for fv, gv in values[1:])


def _times(ev: Evaluator, a: object, b: object) -> object:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a * b
    return ev.to_mp(a) * ev.to_mp(b)
