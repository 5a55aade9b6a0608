"""reasoning-gym's contract: ``score_answer(answer, entry)`` on the peer's own entries (the installed
package), and on rlvr's problems as reasoning-gym entries, with reasoning-gym's own answer extraction."""

from __future__ import annotations

import pytest

from datagen.api import mix_rows
from datagen.audit import wrong_solution
from datagen.checks import perturb
from verifiers.reasoning_gym import score_answer, to_entry

reasoning_gym = pytest.importorskip("reasoning_gym")


@pytest.mark.parametrize("name", ["basic_arithmetic", "chain_sum", "gcd", "lcm", "fraction_simplification"])
def test_agrees_with_reasoning_gyms_own_scorers_on_their_entries(name):
    dataset = reasoning_gym.create_dataset(name, size=30, seed=1)
    for entry in dataset:
        gold = entry["answer"]
        assert dataset.score_answer(gold, entry) == score_answer(gold, entry) == 1.0, entry
        wrong = perturb(gold)
        # theirs may give partial credit (fraction_simplification: 0.05 for an unreduced fraction); ours is binary
        assert dataset.score_answer(wrong, entry) < 1.0 and score_answer(wrong, entry) == 0.0, (entry, wrong)
        assert score_answer(None, entry) == 0.0 and dataset.score_answer(None, entry) < 1.0


def test_our_problems_through_reasoning_gyms_extraction():
    from reasoning_gym.utils import extract_answer

    rows = mix_rows({"arithmetic": 1, "countdown": 1, "linear_system": 1, "code_function": 1, "code_stdio": 1,
                     "polynomial": 1, "word_problem": 1}, 70, seed=2)
    for k, row in enumerate(rows):
        entry = to_entry(row, k)
        assert entry["metadata"]["source_dataset"] == f"rlvr/{row['task']}"
        bad = wrong_solution(row["tests"]) if row["verifier"] == "code" else perturb(row["answer"])
        right = extract_answer(f"<think>worked out</think>\n<answer>{row['answer']}</answer>")
        assert score_answer(right, entry) == 1.0, row["id"]
        assert score_answer(extract_answer(f"<think>x</think><answer>{bad}</answer>"), entry) == 0.0, row["id"]
        assert score_answer(row["answer"], row) == 1.0  # a Problem row stands for its entry
    assert score_answer(extract_answer("no tags at all"), to_entry(rows[0])) == 0.0
