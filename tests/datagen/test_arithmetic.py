"""``arithmetic``: gold answers verify, perturbed ones do not, and evaluation agrees independently."""

import json
import re
from fractions import Fraction

from datagen.checks import check_task, difficulty_grows


def _evaluate(row: dict) -> bool:
    """An independent evaluation: Python's own parser over the (trusted, generated) expression."""
    expr = json.loads(row["meta"])["expression"].replace("\\times", "*").replace("\\div", "/")
    tokens = re.findall(r"\d+|[-+*/()]", expr)
    value = eval("".join(f"Fraction({t})" if t.isdigit() else t for t in tokens), {"Fraction": Fraction})
    return value == Fraction(row["answer"])


def test_properties():
    check_task("arithmetic", independent=_evaluate)


def test_difficulty_adds_operands_and_digits():
    difficulty_grows("arithmetic", lambda r: len(re.findall(r"\d", r["prompt"])))


def test_difficulty_two_is_two_steps_of_single_digit_facts():
    """Difficulty 1 is one fact (two single-digit operands, + or −); difficulty 2 chains two of them (three
    operands): a question space large enough to hold hundreds of questions out, made of difficulty 1's steps."""
    from datagen.api import generate

    for difficulty, operands in ((1, 2), (2, 3)):
        rows = generate("arithmetic", n=300, seed=0, difficulty=difficulty)
        for row in rows:
            numbers = re.findall(r"\d+", json.loads(row["meta"])["expression"])
            assert len(numbers) == operands and all(len(n) == 1 for n in numbers), row["prompt"]
            assert not re.search(r"\\times|\\div", row["prompt"])
            assert row["solution"].count("Step ") == operands - 1
    assert len(set(generate("arithmetic", n=3000, seed=0, difficulty=2)["prompt"])) > 1000
