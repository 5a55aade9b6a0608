"""Properties every generator must have; tests (ours, and yours for your own generators) call them.

For each difficulty 1..10 and many seeded items: the gold answer scores correct with the problem's
own verifier; a perturbed answer does not; the worked solution ends with the gold answer; an
independent computation (given by the test) agrees with the gold answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["check_task", "completion", "difficulty_grows", "perturb"]

from datagen.registry import TASKS, list_tasks, make_problem
from verifiers.rewards import judge


def perturb(answer: str) -> str:
    """Change the answer's last number by one (or append '+1' when it has none).

    >>> perturb("x = 12"), perturb("3/4"), perturb("abc")
    ('x = 13', '3/5', 'abc+1')
    """
    numbers = list(re.finditer(r"\d+", answer))
    if not numbers:
        return answer + "+1"
    m = numbers[-1]
    return answer[: m.start()] + str(int(m.group(0)) + 1) + answer[m.end() :]


def completion(answer: str) -> str:
    return f"<think>worked out</think>\n<answer>{answer}</answer>"


def check_task(name: str, per_difficulty: int, independent: Callable[[dict], bool] | None = None,
               perturbed: Callable[[dict], str] | None = None, seed: int = 0) -> None:
    """Assert the properties on ``per_difficulty`` items at each difficulty 1..10."""
    list_tasks()
    assert name in TASKS, name
    for difficulty in range(1, 11):
        for index in range(per_difficulty):
            row = make_problem(name, seed, difficulty, index).to_row()
            where = f"{row['id']} (difficulty {difficulty})"
            verdict = judge(completion(row["answer"]), row)
            assert verdict.correct, (where, row["answer"], verdict)
            wrong = perturbed(row) if perturbed else perturb(row["answer"])
            assert not judge(completion(wrong), row).correct, (where, row["answer"], wrong)
            last = row["solution"].strip().splitlines()[-1]
            assert row["answer"] in last, (where, last, row["answer"])
            if independent is not None:
                assert independent(row), (where, row)


def difficulty_grows(name: str, measure: Callable[[dict], float], seed: int = 0, n: int = 40) -> None:
    """The mean of ``measure`` (digits, steps, unknowns...) at difficulty 10 exceeds difficulty 1's."""
    def mean(d: int) -> float:
        return sum(measure(make_problem(name, seed, d, i).to_row()) for i in range(n)) / n

    assert mean(10) > mean(1), (name, mean(1), mean(10))
