"""The ``simplest`` verifier: equal to the gold and written in lowest terms; an equal but unreduced
fraction, a decimal or an expression does not count, whatever verify_math says of its value."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers import verify_math, verify_simplest
from verifiers.rewards import judge


def answer(text: str) -> str:
    return f"<think>divide by the gcd</think>\n<answer>{text}</answer>"


@pytest.mark.parametrize(("gold", "text"), [
    ("\\frac{2}{3}", "2/3"),
    ("\\frac{2}{3}", "\\frac{2}{3}"),
    ("\\frac{2}{3}", "$\\dfrac{2}{3}$"),
    ("\\frac{2}{3}", "( 2 / 3 )"),
    ("\\frac{1}{2}", "\\frac12"),
    ("-\\frac{7}{2}", "-7/2"),
    ("-\\frac{7}{2}", "\\frac{-7}{2}"),
    ("-\\frac{7}{2}", "-3\\frac{1}{2}"),
    ("\\frac{3}{2}", "1 1/2"),
    ("4", "4"),
    ("1000", "1,000"),
])
def test_reduced_forms_are_correct(gold, text):
    verdict = verify_simplest(gold, answer(text))
    assert verdict.status == "correct", (gold, text, verdict)


@pytest.mark.parametrize(("gold", "text", "why"), [
    ("\\frac{2}{3}", "\\frac{84}{126}", "lowest terms"),   # echoing the question
    ("\\frac{2}{3}", "4/6", "lowest terms"),
    ("4", "8/2", "lowest terms"),
    ("4", "\\frac{4}{1}", "lowest terms"),
    ("\\frac{1}{2}", "0.5", "single fraction"),
    ("\\frac{2}{3}", "2/3 + 0", "single fraction"),
])
def test_equal_but_unreduced_is_incorrect(gold, text, why):
    assert verify_math(gold, answer(text)).correct  # the gap this verifier closes
    verdict = verify_simplest(gold, answer(text))
    assert verdict.status == "incorrect" and why in verdict.reason, (text, verdict)


def test_wrong_or_missing_answers_keep_verify_math_s_verdict():
    assert verify_simplest("\\frac{2}{3}", answer("3/4")).status == "incorrect"
    assert verify_simplest("\\frac{2}{3}", "<think>no idea</think>").status == "no_answer"


def test_a_simplest_rows_verifier_is_simplest_in_the_registry():
    row = {"answer": "\\frac{2}{3}", "verifier": "simplest"}
    assert judge(answer("2/3"), row).correct
    assert not judge(answer("6/9"), row).correct


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.integers(2, 500), st.integers(1, 40))
def test_only_the_reduced_fraction_of_a_value_is_correct(p, q, k):
    value = Fraction(p, q)
    gold = str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    reduced = math.gcd(p * k, q * k) == 1
    assert verify_simplest(gold, answer(f"{p * k}/{q * k}")).correct == reduced
    assert verify_simplest(gold, answer(gold)).correct
