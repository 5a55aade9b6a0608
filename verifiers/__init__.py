r"""Programmatic checkers: math answer equivalence, substitution, format, rewards, TRL adapters.

>>> from verifiers import verify_math, check_format, score
>>> verify_math("\\frac{1}{2}", "<answer>0.5</answer>").correct
True
>>> check_format("<think>1+1</think>\n<answer>2</answer> ok").reason
'text after </answer>'
>>> score("<think>1+1</think>\n<answer>2</answer>", {"answer": "2", "verifier": "math"}).total
2.0
"""

from verifiers.code import CodeVerdict, run_tests, run_tests_batch
from verifiers.countdown import verify_countdown
from verifiers.equation import verify_equation
from verifiers.exact import verify_exact
from verifiers.extract import extract_answer
from verifiers.factored import verify_factored
from verifiers.format import FormatResult, check_format, format_reward, tag_count
from verifiers.math_answer import verify_math, verify_math_batch
from verifiers.problem import Problem
from verifiers.registry import judge, register_verifier
from verifiers.rewards import REWARDS, Judged, Rubric, Score, score
from verifiers.simplest import verify_simplest
from verifiers.verdict import Verdict

__all__ = [
    "REWARDS",
    "CodeVerdict",
    "FormatResult",
    "Judged",
    "Problem",
    "Rubric",
    "Score",
    "Verdict",
    "check_format",
    "extract_answer",
    "format_reward",
    "judge",
    "register_verifier",
    "run_tests",
    "run_tests_batch",
    "score",
    "tag_count",
    "verify_countdown",
    "verify_equation",
    "verify_exact",
    "verify_factored",
    "verify_math",
    "verify_math_batch",
    "verify_simplest",
]
