"""Programmatic checkers: math answer equivalence, answer extraction, verdicts.

>>> from verifiers import verify_math
>>> verify_math("\\\\frac{1}{2}", "<answer>0.5</answer>").correct
True
"""

from verifiers.extract import extract_answer
from verifiers.math_answer import verify_math, verify_math_batch
from verifiers.verdict import Verdict

__all__ = ["Verdict", "extract_answer", "verify_math", "verify_math_batch"]
