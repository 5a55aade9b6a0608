"""Each reward on hand-written cases, their declared ranges as properties, and cheats that earn nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifiers import registry
from verifiers.rewards import REWARDS, Rubric, judge, register_verifier, score
from verifiers.verdict import Verdict

MATH = {"id": "m", "answer": "\\frac12", "verifier": "math", "meta": "{}"}
GOOD = "<think>half of one</think>\n<answer>0.5</answer>"
WRONG = "<think>half of one</think>\n<answer>0.6</answer>"


def parts(completion, problem=MATH, **options):
    names = {"accuracy", "format", "tag_count", "cosine_scaled", "repetition_penalty", "overlong",
             "reasoning_steps"} | set(options)
    return score(completion, problem, weights=dict.fromkeys(names, 1.0), **options).parts


def test_accuracy_routes_through_the_problems_verifier():
    assert parts(GOOD)["accuracy"] == 1.0 and parts(WRONG)["accuracy"] == 0.0
    assert parts("<think>hmm</think>")["accuracy"] is None  # could not judge
    eq = {"answer": "2, 3", "verifier": "equation",
          "meta": json.dumps({"equations": ["x^2-5x+6=0"], "find_all": True})}
    assert parts("<answer>\\{3, 2\\}</answer>", eq)["accuracy"] == 1.0
    assert parts("<answer>3</answer>", eq)["accuracy"] == 0.0
    cd = {"answer": "", "verifier": "countdown", "meta": {"numbers": [3, 5, 7], "target": 22}}
    assert parts("<answer>3 * 5 + 7</answer>", cd)["accuracy"] == 1.0
    assert parts("<answer>3 * 7 + 1</answer>", cd)["accuracy"] == 0.0
    exact = {"answer": "Paris", "verifier": "exact"}
    assert parts("<answer>paris</answer>", exact)["accuracy"] == 1.0


def test_unknown_verifier_is_a_clear_error_and_verifiers_can_be_registered(monkeypatch):
    with pytest.raises(ValueError, match="unknown verifier 'chess'"):
        judge("<answer>e4</answer>", {"verifier": "chess", "answer": "e4"})
    monkeypatch.setitem(registry.VERIFIERS, "upper", None)  # removed again after the test
    monkeypatch.setitem(registry._USER, "upper", None)
    register_verifier("upper", lambda c, p: Verdict("correct" if c.isupper() else "incorrect", "case"))
    assert judge("ABC", {"verifier": "upper"}).correct


def test_format_and_tag_count():
    assert parts(GOOD)["format"] == 1.0 and parts(GOOD + " thanks")["format"] == 0.0
    assert parts("<think>a</think> 4")["tag_count"] == 0.5
    assert score("plan</think>\n<answer>0.5</answer>", MATH, weights={"format": 1},
                 format={"think_in_prompt": True}).total == 1.0


def test_length_is_relative_within_the_group_and_never_rewards_wrong_answers():
    rubric = Rubric(["length"])
    short_right, long_right = "<answer>0.5</answer>", "<think>" + "x" * 100 + "</think><answer>0.5</answer>"
    short_wrong = "<answer>0.7</answer>"
    values = [s.total for s in rubric.score_group([short_right, long_right, short_wrong], MATH)]
    assert values == [0.5, -0.5, 0.0]  # the short wrong answer gets min(0, 0.5)
    assert rubric.score(short_right, MATH).total == 0.0  # a group of one has no spread


def test_cosine_scaled_prefers_short_right_and_long_wrong():
    right = [score(GOOD, MATH, weights={"cosine_scaled": 1}, cosine_scaled={"max_len": 100}).total]
    long_good = "<think>" + "x" * 80 + "</think>\n<answer>0.5</answer>"
    right.append(score(long_good, MATH, weights={"cosine_scaled": 1}, cosine_scaled={"max_len": 100}).total)
    assert 1.0 >= right[0] > right[1] >= 0.5
    short_wrong = score("<answer>0.6</answer>", MATH, weights={"cosine_scaled": 1}).total
    long_wrong = score("<think>" + "x" * 2000 + "</think><answer>0.6</answer>", MATH,
                       weights={"cosine_scaled": 1}).total
    assert -1.0 <= short_wrong < long_wrong <= -0.5


def test_repetition_overlong_and_steps():
    assert parts("a b c d e f")["repetition_penalty"] == 0.0
    assert parts("go go go go go go go go")["repetition_penalty"] == pytest.approx(-5 / 6)
    assert score("x" * 2900, MATH, weights={"overlong": 1}, overlong={"max_length": 4000, "cache": 1000}).total == 0
    assert score("x" * 3500, MATH, weights={"overlong": 1},
                 overlong={"max_length": 3600, "cache": 1000}).total == pytest.approx(-0.9)
    assert score("x" * 5000, MATH, weights={"overlong": 1}).total == -1.0
    steps = "<think>Step 1: add.\nStep 2: halve.\nFinally, done.</think><answer>0.5</answer>"
    assert parts(steps)["reasoning_steps"] == 1.0 and parts(GOOD)["reasoning_steps"] == 0.0


def test_weights_totals_and_none_propagation():
    s = score(GOOD, MATH, weights={"accuracy": 2.0, "format": 0.5})
    assert s.total == 2.5 and s.verdict.correct
    assert score("<think>hmm</think>", MATH).total is None
    with pytest.raises(ValueError, match="unknown reward 'acc'"):
        Rubric(["acc"])
    with pytest.raises(ValueError, match="options given for reward"):
        Rubric(["accuracy"], options={"format": {"strict": False}})
    assert Rubric.parse("accuracy,format=0.5").weights == {"accuracy": 1.0, "format": 0.5}


@pytest.mark.parametrize(("name", "completion"), [
    ("answer only inside think", "<think>the answer is \\boxed{0.5}</think>"),
    ("repeated answer blocks", "<think>x</think>\n<answer>0.5</answer>\n<answer>0.5</answer>"),
    ("two answer blocks, two answers", "<think>x</think><answer>0.4</answer><answer>0.5</answer>"),
    ("candidate list", "<think>x</think>\n<answer>0.4 or 0.5</answer>"),
    ("boxed candidates", "<think>x</think>\n<answer>\\boxed{0.4} \\boxed{0.5}</answer>"),
    ("empty answer", "<think>0.5</think>\n<answer> </answer>"),
    ("tags inside a code block", "<think>x</think>\n```\n<answer>0.5</answer>\n```"),
    ("answer block of 50,000 characters", "<think>x</think>\n<answer>0.5 " + "9" * 50_000 + "</answer>"),
    ("answer after text after the block", "<think>x</think>\n<answer>0.4</answer> no wait, 0.5"),
])
def test_cheats_earn_no_accuracy_and_no_total(name, completion):
    result = score(completion, MATH)
    assert result.parts["accuracy"] != 1.0, name
    assert result.total is None or result.total < 1.0, name


problems = st.sampled_from([
    MATH,
    {"answer": "7", "verifier": "math"},
    {"answer": "x^2", "verifier": "math"},
    {"answer": "", "verifier": "countdown", "meta": '{"numbers": [1, 2, 3], "target": 6}'},
    {"answer": "", "verifier": "equation", "meta": '{"equations": ["2x = 4"]}'},
])
texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "0.5", "7", "x^2", "1+2+3", "2", " ", "\n", "Step 1:",
     "word", "\\boxed{", "}", "or"]), max_size=40).map("".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=4), problems)
def test_every_reward_stays_in_its_declared_range(completions, problem):
    rubric = Rubric(dict.fromkeys(REWARDS, 1.0))
    for s in rubric.score_group(completions, problem):
        for name, value in s.parts.items():
            reward = REWARDS[name]
            assert value is None or reward.low <= value <= reward.high, (name, value)
