"""Answers in the wild: outputs rlvr did not shape, labelled per class, under both extractions."""

from __future__ import annotations

import json
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers import extract_answer, verify_math, verify_math_batch
from verifiers.extract import EXTRACTIONS, find_answer, gold_answer

DATA = Path(__file__).resolve().parents[1] / "data"
WILD = [json.loads(line) for line in (DATA / "wild_cases.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
BY_CLASS: dict[str, list[dict]] = defaultdict(list)
for _case in WILD:
    BY_CLASS[_case["class"]].append(_case)


def test_corpus_covers_every_class_of_the_issue():
    assert {"minerva", "answer_line", "display_math", "chat_residue", "reasoning", "box_group", "worked_gold",
            "named_relation", "inequality", "currency_decimal", "false_positive", "choice", "gsm8k", "llama",
            "conclusion", "escaped"} <= set(BY_CLASS)
    assert all(len(cases) >= 15 for cases in BY_CLASS.values()), {k: len(v) for k, v in BY_CLASS.items()}
    for case in WILD:  # near misses and could-not-judge cases are labelled too
        assert case["expected"] in ("correct", "incorrect", "no_answer")
        assert case.get("expected_strict", case["expected"]) in ("correct", "incorrect", "no_answer")
    assert sum(c["expected"] == "incorrect" for c in WILD) >= 50


@pytest.mark.parametrize("name", sorted(BY_CLASS))
@pytest.mark.parametrize("extraction", EXTRACTIONS)
def test_each_class_agrees_with_its_labels(name, extraction):
    key = "expected" if extraction == "lenient" else "expected_strict"
    wrong = []
    for case in BY_CLASS[name]:
        verdict = verify_math(case["gold"], case["completion"], extraction=extraction)
        want = case.get(key, case["expected"])
        if verdict.status != want:
            wrong.append((case["completion"][-80:], want, verdict))
    assert not wrong, wrong


def test_the_reason_names_where_the_answer_was_found():
    said = "Working.\nFinal Answer: The final answer is $7.78$. I hope it is correct."
    assert verify_math("7.78", said).reason == "same answer (final answer sentence)"
    assert verify_math("2/3", "So P = 2/3.", extraction="lenient").reason == "equivalent (concluding sentence)"
    assert verify_math("5", "x = \\boxed{5}").reason == "same answer (boxed)"
    assert verify_math("5", "<think>\\boxed{5}</think>", extraction="lenient").reason == "same answer (boxed in the thinking)"
    assert verify_math("5", "5", extract=False).reason == "same answer"


def test_strict_never_takes_the_last_number_of_a_ramble():
    ramble = "We tried 3, then 4, and finally we got 5 and stopped."
    assert verify_math("5", ramble).status == "no_answer"
    assert verify_math("5", ramble, extraction="lenient").correct
    assert find_answer(ramble, "lenient").reason == "concluding sentence"


def test_golds_that_are_worked_solutions_reduce_to_their_answer():
    assert gold_answer("Thus $x = \\boxed{5}$.") == "5"
    assert gold_answer("6 * 3 = <<6*3=18>>18 dollars\n#### 18") == "18"
    assert gold_answer("\\boxed{1} and \\boxed{2}") == "1, 2"
    assert gold_answer("no solution") == "no solution"
    assert gold_answer("$\\frac{1}{2}$") == "$\\frac{1}{2}$"


def test_a_bad_extraction_name_is_an_error_not_a_verdict():
    with pytest.raises(ValueError, match="extraction"):
        verify_math("1", "1", extraction="loose")
    with pytest.raises(ValueError, match="extraction"):
        verify_math_batch([("1", "1")], extraction="loose")


def test_batches_pass_the_extraction_on():
    pairs = [("12", "So there are 12 of them.")] * 3
    assert [v.status for v in verify_math_batch(pairs)] == ["no_answer"] * 3
    assert all(v.correct for v in verify_math_batch(pairs, extraction="lenient"))


# ------------------------------------------------------------------------------------ properties

numbers = st.one_of(st.integers(-10**6, 10**6).map(str),
                    st.fractions(max_denominator=50).map(lambda f: f"\\frac{{{f.numerator}}}{{{f.denominator}}}"),
                    st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False).map(str))
WRAPPERS = [
    "Final Answer: The final answer is ${}$. I hope it is correct.",
    "Some work first.\n\n**Answer:** ${}$",
    "## Step 1: Work\nDone.\n\nThe final answer is: $\\boxed{{{}}}$",
    "<think>\nhmm\n</think>\n\nSo the result is $\\boxed{{{}}}$.",
    "Computing...\n#### {}",
    "The answer is ${}$.",
]
RESIDUE = ["<|im_end|>", "<|eot_id|>", "</s>", "<|endoftext|>", "<|im_start|>user", "<｜end▁of▁sentence｜>"]
junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(answer=numbers, wrapper=st.sampled_from(WRAPPERS), extraction=st.sampled_from(EXTRACTIONS))
def test_an_answer_in_any_wild_format_verifies_and_a_changed_one_does_not(answer, wrapper, extraction):
    completion = wrapper.format(answer)
    assert verify_math(answer, completion, extraction=extraction).correct, completion
    other = str(Fraction(answer.replace("\\frac{", "").replace("}{", "/").rstrip("}")) + 1) \
        if "frac" in answer else str(Fraction(answer) + 1)
    assert not verify_math(other, completion, extraction=extraction).correct, (other, completion)


@settings(max_examples=150, deadline=None)
@given(answer=numbers, wrapper=st.sampled_from(WRAPPERS), residue=st.sampled_from(RESIDUE), tail=junk,
       extraction=st.sampled_from(EXTRACTIONS))
def test_chat_template_residue_never_changes_the_verdict(answer, wrapper, residue, tail, extraction):
    completion = wrapper.format(answer)
    before = verify_math(answer, completion, extraction=extraction)
    after = verify_math(answer, completion + residue + tail, extraction=extraction)
    assert (after.status, after.extracted) == (before.status, before.extracted)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from([
    "We get 5.", "So x = 3", " \\boxed{4}", " and \\boxed{7}", " or \\boxed{8}", "\n#### 9", "The answer is 6.",
    "Final Answer: The final answer is $2$.", "Answer: 11", "$$x^2$$", "<think>1</think>", "Therefore, it is 12.",
    "\n**Final Answer**\n", "<|im_end|>", " so ", "13", "$1,5$", "\\[ 2 + 2 = 4 \\]", "(B)"]), max_size=8))
def test_lenient_finds_whatever_strict_finds(parts):
    text = "".join(parts)
    strict = find_answer(text, "strict")
    if strict.answer is not None:
        assert find_answer(text, "lenient") == strict


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-99, 99), min_size=2, max_size=5, unique=True), data=st.data())
def test_boxes_joined_by_commas_or_and_are_one_answer_in_any_order(values, data):
    shown = data.draw(st.permutations(values))
    joiner = data.draw(st.sampled_from([", ", " and ", ",", " \\quad \\text{and} \\quad "]))
    completion = "The solutions are " + joiner.join(f"\\boxed{{{v}}}" for v in shown) + "."
    gold = "\\{" + ", ".join(map(str, values)) + "\\}"
    assert verify_math(gold, completion).correct
    assert not verify_math(gold, completion.replace(f"\\boxed{{{shown[0]}}}", f"\\boxed{{{shown[0] + 100}}}")).correct
    assert extract_answer(completion.replace(joiner, " or ", 1)) is None  # alternatives are a hedge


@settings(max_examples=100, deadline=None)
@given(whole=st.integers(0, 9999), frac=st.integers(0, 99))
def test_a_decimal_comma_that_cannot_separate_thousands_is_a_decimal(whole, frac):
    written = f"{whole},{frac:02d}"
    assert verify_math(f"{whole}.{frac:02d}", f"The answer is {written}.").correct
    assert not verify_math(f"{whole}.{frac:02d}1", f"The answer is {written}.").correct


@settings(max_examples=60, deadline=None)
@given(a=st.integers(2, 12), b=st.integers(2, 12), shift=st.integers(-5, 5))
def test_step_functions_are_compared_beyond_small_positive_points(a, b, shift):
    gold = f"\\lfloor \\frac{{n + {shift}}}{{{a}}} \\rfloor"
    verdict = verify_math(gold, f"\\boxed{{\\lfloor \\frac{{n + {shift}}}{{{b}}} \\rfloor}}")
    assert verdict.correct == (a == b)
