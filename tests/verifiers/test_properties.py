"""Hypothesis properties of verify_math: identity, algebraic forms, near misses, and its contract."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifiers import verify_math
from verifiers.verdict import STATUSES

# -- random expressions, written in LaTeX

atoms = st.one_of(
    st.integers(-40, 40).map(str),
    st.sampled_from(["x", "y", "\\pi", "e", "\\sqrt{2}", "\\frac{3}{7}", "0.25", "\\sqrt[3]{5}", "i"]),
)


def _combine(children):
    return st.one_of(
        st.tuples(children, children).map(lambda t: f"{t[0]}+{t[1]}"),
        st.tuples(children, children).map(lambda t: f"({t[0]})-({t[1]})"),
        st.tuples(children, children).map(lambda t: f"({t[0]})\\cdot({t[1]})"),
        st.tuples(children, children).map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
        st.tuples(children, st.integers(0, 4)).map(lambda t: f"({t[0]})^{{{t[1]}}}"),
        children.map(lambda c: f"\\sin({c})"),
        children.map(lambda c: f"\\left|{c}\\right|"),
    )


expressions = st.recursive(atoms, _combine, max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_any_expression_equals_itself(expr):
    verdict = verify_math(expr, f"<answer>{expr}</answer>")
    assert verdict.correct, verdict


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_a_and_a_plus_one_are_never_equal(expr):
    verdict = verify_math(expr, f"<answer>({expr})+1</answer>")
    assert not verdict.correct, verdict


# -- polynomials: factored against expanded

def _expand(factors: list[tuple[int, int]]) -> list[int]:
    """Coefficients (highest power first) of the product of (a x + b)."""
    coeffs = [1]
    for a, b in factors:
        out = [0] * (len(coeffs) + 1)
        for k, c in enumerate(coeffs):
            out[k] += c * a
            out[k + 1] += c * b
        coeffs = out
    return coeffs


def _poly_latex(coeffs: list[int]) -> str:
    degree = len(coeffs) - 1
    terms = []
    for k, c in enumerate(coeffs):
        power = degree - k
        if c == 0:
            continue
        mono = "" if power == 0 else ("x" if power == 1 else f"x^{{{power}}}")
        body = str(abs(c)) if (abs(c) != 1 or not mono) else ""
        terms.append(("-" if c < 0 else "+") + body + mono)
    text = "".join(terms) or "0"
    return text[1:] if text.startswith("+") else text


linear = st.tuples(st.integers(-6, 6).filter(bool), st.integers(-9, 9))


@settings(max_examples=150, deadline=None)
@given(st.lists(linear, min_size=1, max_size=4), st.integers(-5, 5).filter(bool))
def test_factored_and_expanded_forms_agree(factors, scale):
    factored = f"{scale}" + "".join(f"({a}x+{b})".replace("+-", "-") for a, b in factors)
    expanded = _poly_latex([scale * c for c in _expand(factors)])
    assert verify_math(expanded, f"<answer>{factored}</answer>").correct
    assert verify_math(factored, f"<answer>{expanded}</answer>").correct
    assert not verify_math(factored, f"<answer>{expanded}+1</answer>").correct


# -- the contract: never raises, never overruns its budget

latex_soup = st.lists(st.sampled_from([
    "\\frac", "{", "}", "\\sqrt", "^", "_", "9", "99999", "x", "(", ")", "[", "]", "\\left(", "\\right)",
    "<answer>", "</answer>", "\\boxed{", "<think>", "</think>", ",", "=", "<", "\\le", "\\pi", "!", "%",
    "\\text{", "cm", "or", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\\pm", "\\infty", "\\cup",
    "\\{", "\\}", "|", "e", "i", "\\log_", "\\sin", "^{9^{9^{9}}}", ".", "-", "+", "*", "/", " ", "$",
]), max_size=60).map("".join)

BUDGET_S = 0.5
SLACK_S = 1.0  # generous: a loaded CI machine may deschedule the thread for a while


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), latex_soup), st.one_of(st.text(max_size=40), latex_soup))
def test_arbitrary_text_never_raises_and_stays_in_budget(completion, gold):
    start = time.monotonic()
    verdict = verify_math(gold, completion, timeout_s=BUDGET_S)
    elapsed = time.monotonic() - start
    assert verdict.status in STATUSES
    assert elapsed < BUDGET_S + SLACK_S
