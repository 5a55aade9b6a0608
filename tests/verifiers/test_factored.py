"""The ``factor`` verifier: equal to the gold and factored as far as it; any order, spelling or spread
of constants counts; expanded or partly factored forms do not, however equal their values."""

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers import factored, verify_factored, verify_math
from verifiers.rewards import judge

GOLD = "2(x - 1)^{2}(x + 3)"


def answer(text: str) -> str:
    return f"<think>factor it</think>\n<answer>{text}</answer>"


@pytest.mark.parametrize("text", [
    GOLD,
    "2(x-1)(x-1)(x+3)",
    "(x+3) \\cdot 2(x-1)^2",
    "(2x - 2)(x - 1)(x + 3)",          # the constant spread into a factor
    "-2(1 - x)^{2}(-x - 3)",            # signs moved around
    "(x - 1)^2 (2x + 6)",
    "\\frac{(4x - 4)(x - 1)(x + 3)}{2}",
    "f(x) = 2(x - 1)^2(x + 3)",
])
def test_factored_forms_are_correct(text):
    verdict = verify_factored(GOLD, answer(text))
    assert verdict.status == "correct", (text, verdict)


@pytest.mark.parametrize("text", [
    "2x^3 + 2x^2 - 10x + 6",            # expanded: equal, and what verify_math alone accepts
    "2(x^2 + 2x - 3)(x - 1)",           # partly factored
    "(2x^2 - 4x + 2)(x + 3)",
    "2(x - 1)^2(x + 3) + 0",            # a sum, however trivially
    "2(x - 1)^{2}(x + 3)(x + 5)/(x + 5)",
])
def test_equal_but_not_factored_is_incorrect(text):
    assert verify_math(GOLD, answer(text)).correct  # the gap this verifier closes
    verdict = verify_factored(GOLD, answer(text))
    assert verdict.status == "incorrect" and "not factored" in verdict.reason, (text, verdict)


def test_wrong_or_missing_answers_keep_verify_math_s_verdict():
    assert verify_factored(GOLD, answer("2(x - 1)^{2}(x + 4)")).status == "incorrect"
    assert verify_factored(GOLD, "<think>no idea</think>").status == "no_answer"


def test_irreducible_quadratic_factors_and_several_variables():
    gold = "-x(x^{2} + x + 5)(x - 2)"
    assert verify_factored(gold, answer("x(2 - x)(x^2 + x + 5)")).correct
    assert not verify_factored(gold, answer("(x^2 - 2x)(-x^2 - x - 5)")).correct
    assert verify_factored("(x - y)(x + y)", answer("(y + x)(x - y)")).correct
    assert not verify_factored("(x - y)(x + y)", answer("x^2 - y^2")).correct


def test_a_factor_rows_verifier_is_factor_in_the_registry():
    row = {"answer": "(x - 1)(x + 3)", "verifier": "factor"}
    assert judge(answer("(x + 3)(x - 1)"), row).correct
    assert not judge(answer("x^2 + 2x - 3"), row).correct


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(-9, 9)), min_size=2, max_size=4),
       st.sampled_from([1, -1, 2, 3]))
def test_products_of_linear_factors(factors, content):
    """Any product of linear factors: the product in another order counts, the expanded form does not."""
    text = "".join(f"({a}x + {b})" for a, b in factors)
    gold = f"{content}{text}"
    shuffled = f"{content}" + "".join(f"({a}x + {b})" for a, b in reversed(factors))
    assert verify_factored(gold, answer(shuffled)).correct
    coefficients = [content]
    for a, b in factors:  # multiply out: constant term first
        coefficients = [x * b + (coefficients[k - 1] * a if k else 0) for k, x in enumerate(coefficients)] + \
            [coefficients[-1] * a]
    expanded = " + ".join(f"({c})x^{{{k}}}" for k, c in enumerate(coefficients))
    assert verify_math(gold, answer(expanded)).correct
    assert not verify_factored(gold, answer(expanded)).correct


def test_docstring_examples():
    assert doctest.testmod(factored).failed == 0
