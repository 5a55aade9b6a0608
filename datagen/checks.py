"""Properties every generator must have; tests (ours, and yours for your own generators) call them.

``check_task``: for each difficulty 1..10 and every one of the first ``per_difficulty`` items (1,000
by default): the gold answer scores correct with the problem's own verifier; a perturbed answer does
not; the worked solution ends with the gold answer; the stored ``meta`` is canonical JSON; and, when
the test gives one, a cheap independent computation agrees with the gold answer. The verdicts come
from a pool of worker processes.

``check_sample``: an independent computation that costs milliseconds (SymPy, the sandbox) on items
hypothesis draws from those same first ``items`` of each difficulty. ``check_task(..., sample=...)``
runs it while the pool judges.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Sequence

__all__ = ["check_sample", "check_task", "completion", "difficulty_grows", "perturb", "verdicts"]

from datagen.registry import TASKS, list_tasks, make_problem
from verifiers.problem import encode_meta
from verifiers.rewards import Judged, Rubric


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


_ACCURACY = Rubric(["accuracy"])


def _judge_all(pairs: Sequence[tuple[dict, str]]) -> list[Judged]:
    return [_ACCURACY.score(completion(answer), row) for row, answer in pairs]


@functools.cache
def _pool(workers: int):
    import atexit

    from verifiers.pool import worker_pool

    pool = worker_pool(workers)
    atexit.register(pool.shutdown)
    return pool


def verdicts(pairs: Sequence[tuple[dict, str]], workers: int = 2, chunk: int = 250) -> Iterator[Judged]:
    """Each ``(row, answer)`` judged by the row's own verifier, in order.

    ``workers > 1`` judges chunks in a pool of processes that lives as long as this one; the work
    starts at once, so the caller can do its own while the pool judges.
    """
    if workers <= 1 or len(pairs) <= chunk:
        return iter(_judge_all(pairs))
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    return (j for part in _pool(workers).map(_judge_all, chunks) for j in part)


def check_task(name: str, per_difficulty: int = 1000, independent: Callable[[dict], bool] | None = None,
               perturbed: Callable[[dict], str] | None = None, seed: int = 0, workers: int = 2,
               sample: Callable[[dict], bool] | None = None, sample_size: int = 20) -> None:
    """Assert the properties on the first ``per_difficulty`` items of each difficulty 1..10, and
    ``sample`` (an expensive independent check) on ``sample_size`` of them per difficulty."""
    list_tasks()
    assert name in TASKS, name
    rows = [make_problem(name, seed, d, i).to_row() for d in range(1, 11) for i in range(per_difficulty)]
    wrong = [(row, perturbed(row) if perturbed else perturb(row["answer"])) for row in rows]
    found = verdicts([(row, row["answer"]) for row in rows] + wrong, workers)
    if sample is not None:  # while the pool judges
        check_sample(name, sample, sample_size, items=per_difficulty, seed=seed)
    for row in rows:
        assert row["meta"] == encode_meta(json.loads(row["meta"])), (row["id"], row["meta"])  # canonical JSON
        last = row["solution"].strip().splitlines()[-1]
        assert row["answer"] in last, (row["id"], last, row["answer"])
        if independent is not None:
            assert independent(row), (row["id"], row)
    for row, judged in zip(rows, found):
        assert judged.correct, (row["id"], row["answer"], judged.status, judged.reason)
    for (row, answer), judged in zip(wrong, found):
        assert not judged.correct, (row["id"], row["answer"], answer, judged.reason)


def check_sample(name: str, independent: Callable[[dict], bool], per_difficulty: int, items: int = 1000,
                 seed: int = 0) -> None:
    """Assert ``independent`` on ``per_difficulty`` items of each difficulty, drawn by hypothesis from the
    first ``items`` (the ones ``check_task`` checks)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    list_tasks()
    for difficulty in range(1, 11):

        @settings(max_examples=per_difficulty, deadline=None, suppress_health_check=list(HealthCheck))
        @given(index=st.integers(0, items - 1))
        def agrees(index: int) -> None:
            row = make_problem(name, seed, difficulty, index).to_row()  # noqa: B023 (called in this iteration)
            assert independent(row), (row["id"], row)

        agrees()


def difficulty_grows(name: str, measure: Callable[[dict], float], seed: int = 0, n: int = 40) -> None:
    """The mean of ``measure`` (digits, steps, unknowns...) at difficulty 10 exceeds difficulty 1's."""
    def mean(d: int) -> float:
        return sum(measure(make_problem(name, seed, d, i).to_row()) for i in range(n)) / n

    assert mean(10) > mean(1), (name, mean(1), mean(10))
