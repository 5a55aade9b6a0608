"""Where the final answer is taken from, and when there is none."""

import pytest

from verifiers import extract_answer
from verifiers.extract import boxed_contents, find_answer, is_hedge


@pytest.mark.parametrize(("completion", "answer"), [
    ("<think>maybe 5</think>\n<answer>6</answer>", "6"),
    ("<think>\\boxed{5}</think><answer>6</answer>", "6"),
    ("<answer>so we get \\boxed{\\frac{1}{2}} in the end</answer>", "\\frac{1}{2}"),
    ("<answer>\\boxed{3} and again \\boxed{ 3 }</answer>", "3"),
    ("<answer>The answer is 24.</answer>", "24"),
    ("<answer>$x = 2$.</answer>", "x = 2"),
    ("First \\boxed{1}, then corrected: \\boxed{2}", "2"),
    ("Hence \\fbox{7}.", "7"),
    ("Hence \\boxed 7.", "7"),
    ("Janet sells 9 eggs.\n#### 1,234", "1,234"),
    ("We add them. The answer is $42$.", "42"),
    ("so the final answer is: 3/4\nThanks", "3/4"),
    ("\\frac12", "\\frac12"),
    ("x = 2", "x = 2"),
    ("5\\text{ cm}", "5\\text{ cm}"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}"),
    ("reasoning goes here</think><answer>9</answer>", "9"),  # the prompt opened <think>
    ("<answer>12", "12"),  # stopped at </answer>, which the sampler dropped
    ("<answer>```python\nprint(1)\n```</answer>", "```python\nprint(1)\n```"),  # a fence inside is content
])
def test_extracts(completion, answer):
    assert extract_answer(completion) == answer


@pytest.mark.parametrize(("completion", "why"), [
    ("<answer>1</answer><answer>2</answer>", "2 answer blocks"),
    ("<answer>\\boxed{1} or maybe \\boxed{2}</answer>", "different boxed"),
    ("<answer></answer>", "empty"),
    ("<answer>\\boxed{}</answer>", "empty"),
    ("<think>it is 5</think>", "no answer"),
    ("<think>it is \\boxed{5} but I keep thinking", "no answer"),
    ("I am not sure what to do here at all, sorry.", "no answer"),
    ("The result is \\boxed{\\frac{1}{2}", "no answer"),
    ("<think>x</think>\n```\n<answer>0.5</answer>\n```", "no answer"),  # quoted in a code fence
])
def test_no_answer(completion, why):
    answer, reason = find_answer(completion)
    assert answer is None and why in reason
    assert extract_answer(completion) is None


def test_hedges_are_refused_by_extract_answer_but_kept_by_find_answer():
    assert extract_answer("<answer>7 or 8</answer>") is None
    assert find_answer("<answer>7 or 8</answer>").answer == "7 or 8"
    # boxed alternatives are kept as a hedge, so verify_math can accept them when the gold has both values
    assert find_answer("It is \\boxed{7} or \\boxed{8}.") == ("7 \\text{ or } 8", "boxed alternatives")
    assert extract_answer("It is \\boxed{7} or \\boxed{8}.") is None
    assert is_hedge("3 \\lor 4") and is_hedge("x=1 \\text{ or } x=2")
    assert not is_hedge("\\text{no solution}") and not is_hedge("for x > 2")


def test_boxed_contents_balance_braces_and_skip_unclosed_boxes():
    assert boxed_contents("\\boxed{\\frac{1}{2}} \\boxed{\\{1,2\\}}") == ["\\frac{1}{2}", "\\{1,2\\}"]
    assert boxed_contents("\\boxed{1 \\boxed{2}") == ["2"]


def test_non_string_completion_is_no_answer():
    answer, reason = find_answer(None)  # type: ignore[arg-type]
    assert answer is None and "NoneType" in reason
