"""The R1-Zero format check: what passes, what fails and why, and that no input breaks it."""

from __future__ import annotations

import dataclasses
import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers import format as format_module
from verifiers.format import FormatResult, check_format, format_reward, tag_count

GOOD = "<think>2 + 2 = 4</think>\n<answer>4</answer>"
FENCE = "```"


def test_an_answer_block_of_50000_characters_is_not_a_final_answer():
    huge = "<think>x</think>\n<answer>" + "9" * 50_000 + "</answer>"
    assert check_format(huge).reason == "answer block of 50,000 characters (at most 10,000)"
    assert check_format(huge, max_answer_chars=100_000).ok


@pytest.mark.parametrize("completion", [
    GOOD,
    "<think>2 + 2 = 4</think><answer>4</answer>",
    "  \n<think>\nstep 1\nstep 2\n</think>\n\n<answer>\n4\n</answer>\n\n",
    "<think></think>\n<answer>4</answer>",  # an empty think block is allowed
    "<think>   </think><answer>4</answer>",
    "<think>use <Think> and <think > as words</think>\n<answer>4</answer>",  # look-alikes are text
    "<think>a < b and b > c</think>\n<answer>x < 3</answer>",
    "<think>x</think>\n<answer>\\boxed{\\frac{1}{2}}</answer>",
    "<think>x</think>\n<answer>```python\nprint(4)\n```</answer>",  # a fence without tags is just text
    "<think>x</think>\n<answer>" + "9" * 10_000 + "</answer>",  # long, but a final answer may be
    "<think>" + "hmm " * 20_000 + "</think>\n<answer>4</answer>",
])
def test_well_formed(completion):
    result = check_format(completion)
    assert result == FormatResult(True, "ok")
    assert result and format_reward(completion) == 1.0
    assert check_format(completion, strict=False).ok
    assert tag_count(completion) == 1.0


@pytest.mark.parametrize(("completion", "reason"), [
    # a loophole in open-r1's regex: anything after </answer>
    (GOOD + ".", "text after </answer>"),
    (GOOD + " Hope this helps!", "text after </answer>"),
    (GOOD + "\nActually, the answer is 5.", "text after </answer>"),
    (GOOD + "<Answer>5</Answer>", "text after </answer>"),
    # several answers, the main reward hack
    (GOOD + "\n<answer>5</answer>", "2 <answer> blocks"),
    ("<think>x</think><answer>4</answer><answer>5</answer><answer>6</answer>", "3 <answer> blocks"),
    (f"<think>x</think>\n<answer>4\n{FENCE}\n<answer>5</answer>\n{FENCE}\n</answer>", "2 <answer> blocks"),
    (f"<think>I would write\n{FENCE}\n<answer>5</answer>\n{FENCE}\n</think>\n<answer>4</answer>",
     "2 <answer> blocks"),
    # the answer must be in its own block after the thinking
    ("<think>the answer is <answer>4</answer></think>", "<answer> inside <think>"),
    ("<think>so <answer>4</think></answer>", "<answer> inside <think>"),
    ("<answer>4<think>why</think></answer>", "<think> inside <answer>"),
    ("<answer>4</answer>\n<think>because</think>", "answer before think"),
    ("<answer>4</answer>", "missing <think>"),
    ("<think>it is 4</think>", "missing <answer>"),
    ("<think>it is 4</think> 4", "missing <answer>"),
    ("", "missing <think>"),
    ("just 4", "missing <think>"),
    ("<Think>x</Think>\n<answer>4</answer>", "missing <think>"),
    ("<think >x</think >\n<answer>4</answer>", "missing <think>"),
    # missing or stray closing tags
    ("<think>x\n<answer>4</answer>", "missing </think>"),
    ("<think>x</think>\n<answer>4", "missing </answer>"),
    ("<think>x</think>\n<answer>4</Answer>", "missing </answer>"),
    ("</think><think>x<answer>4</answer>", "stray </think>"),
    ("<think>x</think></think>\n<answer>4</answer>", "stray </think>"),
    ("<think>x</think>\n<answer>4</answer></answer>", "stray </answer>"),
    ("<think>x</think>\n</answer>4<answer>", "stray </answer>"),
    # nesting and repeated thinking
    ("<think>a<think>b</think>c</think>\n<answer>4</answer>", "nested <think>"),
    ("<think>a<think>b</think>\n<answer>4</answer>", "nested <think>"),
    ("<think>a</think><think>b</think>\n<answer>4</answer>", "2 <think> blocks"),
    (f"<think>x</think>\n<answer>4\n{FENCE}\n<think>y</think>\n{FENCE}\n</answer>", "2 <think> blocks"),
    # empty answers
    ("<think>x</think>\n<answer></answer>", "empty answer"),
    ("<think>x</think>\n<answer> \n\t </answer>", "empty answer"),
    # text outside the blocks
    ("Sure! <think>x</think>\n<answer>4</answer>", "text before <think>"),
    ("<think>x</think>\nSo the answer:\n<answer>4</answer>", "text between </think> and <answer>"),
])
def test_malformed_strict(completion, reason):
    result = check_format(completion)
    assert not result and reason in result.reason
    assert format_reward(completion) == 0.0


@pytest.mark.parametrize(("completion", "ok", "reason"), [
    ("Sure! <think>x</think>\n<answer>4</answer>", True, "ok"),
    ("<think>x</think>\nSo the answer:\n<answer>4</answer>", True, "ok"),
    ("a" * 100 + "<think>x</think>" + "b" * 100 + "<answer>4</answer>", True, "ok"),
    ("a" * 100 + "<think>x</think>" + "b" * 101 + "<answer>4</answer>", False, "201 characters outside"),
    (GOOD + " Hope this helps!", False, "text after </answer>"),
    (GOOD + ".", False, "text after </answer>"),
    ("<answer>4</answer>", False, "missing <think>"),
    ("<answer>4</answer><think>x</think>", False, "answer before think"),
    (GOOD + "<answer>5</answer>", False, "2 <answer> blocks"),
    ("<think>x</think><answer> </answer>", False, "empty answer"),
])
def test_lenient(completion, ok, reason):
    result = check_format(completion, strict=False)
    assert result.ok is ok and reason in result.reason
    assert format_reward(completion, strict=False) == float(ok)


@pytest.mark.parametrize(("completion", "ok", "reason"), [
    ("2 + 2 = 4</think>\n<answer>4</answer>", True, "ok"),
    ("</think><answer>4</answer>", True, "ok"),
    ("<think>2 + 2 = 4</think>\n<answer>4</answer>", False, "prompt already opened"),
    ("2 + 2 = 4\n<answer>4</answer>", False, "missing </think>"),
    ("so <answer>4</answer></think>", False, "<answer> inside <think>"),
    ("x</think>\n<answer>4</answer> Done.", False, "text after </answer>"),
    ("x</think>\nthus\n<answer>4</answer>", False, "text between </think> and <answer>"),
    ("x</think>\n<answer>4</answer><answer>5</answer>", False, "2 <answer> blocks"),
    ("x</think></think>\n<answer>4</answer>", False, "stray </think>"),
])
def test_think_in_prompt(completion, ok, reason):
    result = check_format(completion, think_in_prompt=True)
    assert result.ok is ok and reason in result.reason
    assert format_reward(completion, think_in_prompt=True) == float(ok)


def test_think_in_prompt_lenient_tolerates_only_text_between_the_blocks():
    assert check_format("x</think>\nthus\n<answer>4</answer>", strict=False, think_in_prompt=True)
    assert not check_format("x</think><answer>4</answer>.", strict=False, think_in_prompt=True)


@pytest.mark.parametrize("tag", ["<think>", "<answer>", "</think>", "</answer>"])
def test_a_million_repeated_tags_is_answered_in_linear_time(tag):
    result = check_format(tag * (1_000_000 // len(tag)))
    assert not result.ok and result.reason
    assert 0.0 <= tag_count(tag * (1_000_000 // len(tag))) <= 1.0


def test_a_million_repeated_tags_reasons():
    assert check_format("<think>" * 142_858).reason == "nested <think>"
    assert check_format("<answer>" * 125_000).reason == "125000 <answer> blocks"


@pytest.mark.parametrize("value", [None, 4, b"<think>x</think><answer>4</answer>", ["<think>"]])
def test_non_string_completion_fails_without_raising(value):
    result = check_format(value)
    assert not result and result.reason == f"completion is {type(value).__name__}, not str"
    assert format_reward(value) == 0.0 and tag_count(value) == 0.0


def test_result_is_frozen_and_truthy_only_when_ok():
    result = FormatResult(True, "ok")
    assert result and not FormatResult(False, "empty answer")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


@pytest.mark.parametrize(("completion", "kwargs", "score"), [
    ("<think>a</think><answer>b</answer>", {}, 1.0),
    ("<think>a</think>", {}, 0.5),
    ("<think>a</think><answer>b", {}, 0.75),
    ("<think>a</think><think>b</think><answer>c</answer>", {}, 0.5),
    ("<answer>c</answer> trailing text is not format's concern here", {}, 0.5),
    ("nothing at all", {}, 0.0),
    ("a</think><answer>b</answer>", {"think_in_prompt": True}, 1.0),
    ("<think>a</think><answer>b</answer>", {"think_in_prompt": True}, 0.75),
    ("<Think>a</Think>", {}, 0.0),
])
def test_tag_count(completion, kwargs, score):
    assert tag_count(completion, **kwargs) == score


def test_docstring_examples_run():
    assert doctest.testmod(format_module).failed == 0


# -- properties

no_tags = st.text(alphabet=st.characters(blacklist_characters="<"))
answers = no_tags.filter(lambda s: s.strip())
not_blank = st.text(min_size=1).filter(lambda s: s.strip())
tag_soup = st.lists(
    st.one_of(
        st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "<Think>", "<think >", FENCE, "\n"]),
        st.text(max_size=8),
    ),
    max_size=20,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(think=no_tags, answer=answers)
def test_any_tagless_think_and_nonblank_answer_is_well_formed(think, answer):
    completion = f"<think>{think}</think>\n<answer>{answer}</answer>"
    assert check_format(completion) == FormatResult(True, "ok")
    assert format_reward(completion) == 1.0
    assert tag_count(completion) == 1.0
    assert format_reward(f"{think}</think>\n<answer>{answer}</answer>", think_in_prompt=True) == 1.0


@settings(max_examples=200, deadline=None)
@given(think=no_tags, answer=answers, tail=not_blank)
def test_any_text_after_the_answer_fails_in_every_mode(think, answer, tail):
    completion = f"<think>{think}</think>\n<answer>{answer}</answer>{tail}"
    assert not check_format(completion)
    assert not check_format(completion, strict=False)
    assert not check_format(f"{think}</think>\n<answer>{answer}</answer>{tail}", think_in_prompt=True)
    assert format_reward(completion) == format_reward(completion, strict=False) == 0.0


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(), tag_soup), think_in_prompt=st.booleans())
def test_never_raises_and_stays_in_range(text, think_in_prompt):
    strict = check_format(text, think_in_prompt=think_in_prompt)
    lenient = check_format(text, strict=False, think_in_prompt=think_in_prompt)
    assert isinstance(strict.reason, str) and strict.reason
    assert 0.0 <= tag_count(text, think_in_prompt=think_in_prompt) <= 1.0
    if strict:  # strict accepts a subset of lenient, and a well-formed completion has every tag once
        assert lenient and tag_count(text, think_in_prompt=think_in_prompt) == 1.0
