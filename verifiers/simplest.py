r"""The ``simplest`` verifier: a "write in lowest terms" answer must equal the gold and be reduced.

``verify_math`` compares values, so for "simplify 84/126" the unsimplified ``84/126`` itself would
pass. Here the answer must also be written as an integer, a fraction ``a/b`` (or ``\frac{a}{b}``)
with ``gcd(a, b) = 1`` and ``b > 1``, or a mixed number whose fraction part is proper and reduced.

>>> verify_simplest("\\frac{2}{3}", "<answer>2/3</answer>").status
'correct'
>>> verify_simplest("\\frac{2}{3}", "<answer>\\frac{84}{126}</answer>").reason
'equal, but not in lowest terms'
>>> verify_simplest("\\frac{2}{3}", "<answer>3/4</answer>").status
'incorrect'
"""

from __future__ import annotations

import math
import re

from verifiers.math_answer import verify_math
from verifiers.verdict import Verdict

__all__ = ["verify_simplest"]

_INT = r"\d{1,3}(?:,\d{3})+|\d+"
_FRAC = r"\\[dt]?frac\s*\{\s*-?\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|\\[dt]?frac(\d)(\d)|(\d+)\s*/\s*(\d+)"
_FORM = re.compile(rf"([+-]?)\s*(?:({_INT})|(?:(\d+)(?:\s+|\s*(?=\\)))?(?:{_FRAC}))")
_NOISE = re.compile(r"\$|\\[,;!]|\\left|\\right|\\displaystyle")


def _form(answer: str) -> str | None:
    """Why ``answer`` is not written in lowest terms, or None when it is."""
    text = _NOISE.sub("", answer).strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    m = _FORM.fullmatch(text)
    if m is None:
        return "equal, but not written as an integer or a single fraction"
    if m.group(2) is not None:
        return None
    numerator, denominator = (int(next(g for g in pair if g is not None))
                              for pair in (m.group(4, 6, 8), m.group(5, 7, 9)))
    if denominator < 2 or math.gcd(numerator, denominator) != 1:
        return "equal, but not in lowest terms"
    if m.group(3) is not None and (numerator >= denominator or int(m.group(3)) == 0):
        return "equal, but the mixed number's fraction is not proper"
    return None


def verify_simplest(gold: str, completion: str, *, timeout_s: float = 1.0, extract: bool = True) -> Verdict:
    """Correct when ``verify_math`` says the answer equals ``gold`` and it is written in lowest terms."""
    verdict = verify_math(gold, completion, timeout_s=timeout_s, extract=extract)
    if not verdict.correct:
        return verdict
    problem = _form(verdict.extracted or "")
    if problem is None:
        return Verdict("correct", "equal and in lowest terms", verdict.extracted)
    return Verdict("incorrect", problem, verdict.extracted)
