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
