"""Make datasets of problems: one task, a weighted mixture, splits without leakage, a corpus.

>>> ds = generate("arithmetic", n=3, seed=0, difficulty=2)
>>> ds.column_names == list(FIELDS), ds[0]["id"]
(True, 'arithmetic/s0/000000')
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from datagen.registry import TASKS, list_tasks, make_rows, task_kinds
from verifiers.problem import FIELDS

__all__ = ["allocate", "dedupe", "difficulties", "features", "generate", "generate_mix", "list_kinds", "make_rows",
           "mix_rows", "split", "split_rows", "to_corpus"]


def difficulties(difficulty: int | Sequence[int], n: int) -> list[int]:
    """One difficulty per item: a fixed value, or a deterministic cycle through the given ones.

    >>> difficulties([1, 5], 3)
    [1, 5, 1]
    """
    levels = [difficulty] if isinstance(difficulty, int) else list(difficulty)
    if not levels or any(not isinstance(d, int) or not 1 <= d <= 10 for d in levels):
        raise ValueError(f"difficulty must be an integer 1..10 or a list of them, not {difficulty!r}")
    return [levels[i % len(levels)] for i in range(n)]


def _check_task(name: str) -> None:
    list_tasks()  # registers the generators
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(list_tasks())}")


def generate(task: str, n: int, seed: int = 0, difficulty: int | Sequence[int] = range(1, 11),
             kinds: Iterable[str] | None = None):
    """``n`` problems of one task as a ``datasets.Dataset`` (same arguments, same bytes).

    ``kinds`` keeps to some of a task's question types (``list_kinds(task)``), e.g.
    ``generate("number_theory", 100, kinds=["gcd", "lcm"])``.
    """
    import datasets

    _check_task(task)
    if n < 0:
        raise ValueError("n must be non-negative")
    levels = difficulties(difficulty, n)
    return datasets.Dataset.from_list(make_rows(task, range(n), seed, levels, kinds), features=features())


def list_kinds(task: str) -> list[str]:
    """The question types of a task that has several (``[]`` when it has one).

    >>> list_kinds("number_theory")[:2], list_kinds("arithmetic")
    (['gcd', 'lcm'], [])
    """
    _check_task(task)
    return list(TASKS[task].kinds)


def features():
    """The ``datasets.Features`` of a Problem row."""
    import datasets

    types = {"difficulty": "int32"}
    return datasets.Features({name: datasets.Value(types.get(name, "string")) for name in FIELDS})


def allocate(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """``n`` items split in proportion to ``weights``, by largest remainder (ties by name).

    >>> allocate({"a": 2, "b": 1}, 10)
    {'a': 7, 'b': 3}
    """
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative and not all zero")
    exact = {name: n * w / total for name, w in weights.items()}
    counts = {name: int(v) for name, v in exact.items()}
    for name in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def _chunk(job: tuple[str, int, int, int, list[int], tuple[str, ...] | None]) -> list[dict]:
    name, start, stop, seed, levels, kinds = job
    return make_rows(name, range(start, stop), seed, levels, kinds)


def mix_rows(weights: Mapping[str, float], n: int, seed: int = 0, difficulty: int | Sequence[int] = range(1, 11),
             kinds: Iterable[str] | None = None, workers: int = 1, progress: bool = False, *,
             backend: str = "local", address: str | None = None) -> list[dict]:
    """The rows of a mixture: ``n`` problems split across tasks in proportion to ``weights``
    (largest remainder), each task's items cycling through the difficulties. The one mixture
    function: ``generate_mix``, ``rlvr gen`` and the trainer's generated problem sets all come from it.

    ``kinds`` (a mixture of one task) keeps to some of its question types. Items are made in chunks
    over ``workers`` processes, or on a Ray cluster (``backend="ray"``, ``address``: see
    ``verifiers.pool.pool_map``), with the same result for any number of workers.

    >>> [r["id"] for r in mix_rows({"arithmetic": 2, "countdown": 1}, n=3, difficulty=1)]
    ['arithmetic/s0/000000', 'arithmetic/s0/000001', 'countdown/s0/000000']
    """
    from tqdm.auto import tqdm

    from verifiers.pool import pool_map

    for name in weights:
        _check_task(name)
    if n < 0:
        raise ValueError("n must be non-negative")
    if kinds is not None:
        if len(weights) != 1:
            raise ValueError(f"kinds need a single task, not the mixture {', '.join(weights)}")
        kinds = task_kinds(next(iter(weights)), kinds)
    size = 2000  # items per job: big enough to hide a worker's overhead, small enough to spread
    jobs = []
    for name, count in allocate(weights, n).items():
        levels = difficulties(difficulty, count)
        jobs += [(name, a, min(a + size, count), seed, levels, kinds) for a in range(0, count, size)]
    rows: list[dict] = []
    with tqdm(total=n, disable=not progress, unit="problem", desc="gen") as bar:
        for part in pool_map(_chunk, jobs, workers, backend=backend, address=address):
            rows += part
            bar.update(len(part))
    return rows


def generate_mix(weights: Mapping[str, float], n: int, seed: int = 0, difficulty: int | Sequence[int] = range(1, 11),
                 kinds: Iterable[str] | None = None, workers: int = 1, progress: bool = False):
    """A mixture as a ``datasets.Dataset``: the rows of :func:`mix_rows` (same arguments)."""
    import datasets

    return datasets.Dataset.from_list(mix_rows(weights, n, seed, difficulty, kinds, workers, progress),
                                      features=features())


def _skeleton(prompt: str) -> str:
    """A prompt with numbers' formatting normalised: ``1,000`` and ``1000`` are the same problem."""
    text = re.sub(r"(?<=\d)[,\s](?=\d{3}\b)", "", prompt.lower())
    return re.sub(r"\s+", " ", text).strip()


def dedupe(dataset):
    """Drop problems whose normalised prompt was seen before (first one kept)."""
    seen: set[str] = set()
    keep = []
    for k, prompt in enumerate(dataset["prompt"]):
        key = _skeleton(prompt)
        if key not in seen:
            seen.add(key)
            keep.append(k)
    return dataset.select(keep)


def split(dataset, test_size: float = 0.1, seed: int = 0):
    """A ``DatasetDict`` with ``train`` and ``test`` and no normalised prompt in both.

    Problems are assigned by a hash of the normalised prompt, so duplicates land in the same split.
    """
    import datasets

    train, test = _assign(dataset["prompt"], test_size, seed)
    return datasets.DatasetDict({"train": dataset.select(train), "test": dataset.select(test)})


def split_rows(rows: Sequence[dict], test_size: float = 0.1, seed: int = 0,
               by: str = "prompt") -> tuple[list[dict], list[dict]]:
    """:func:`split` for plain rows (no ``datasets`` needed): ``(train, test)``. ``by`` names the column whose
    (normalised) value decides a row's side, so rows that share it land together: ``"answer"`` for generated
    code, whose problems reuse a few thousand reference programs under new wording and examples, so that no
    held-out program is in the training rows.

    >>> rows = [{"prompt": f"{i} + 1"} for i in range(50)] + [{"prompt": "1,000 + 1"}, {"prompt": "1000 + 1"}]
    >>> train, test = split_rows(rows, test_size=0.2)
    >>> len(train) + len(test), {r["prompt"] for r in train} & {r["prompt"] for r in test}
    (52, set())
    >>> rows = [{"prompt": f"Write f{i}", "answer": f"def f{i % 10}(): pass"} for i in range(100)]
    >>> train, test = split_rows(rows, test_size=0.3, by="answer")
    >>> {r["answer"] for r in train} & {r["answer"] for r in test}
    set()
    """
    if rows and by not in rows[0]:
        raise ValueError(f"split_rows: no column {by!r} to split by (the rows have {', '.join(rows[0])})")
    train, test = _assign([r[by] for r in rows], test_size, seed)
    return [rows[k] for k in train], [rows[k] for k in test]


def _assign(prompts: Sequence[str], test_size: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of train and test rows, by a hash of the normalised prompt."""
    import hashlib

    if not 0 < test_size < 1:
        raise ValueError("test_size must be between 0 and 1")
    train, test = [], []
    for k, prompt in enumerate(prompts):
        digest = hashlib.sha256(f"{seed}:{_skeleton(prompt)}".encode()).digest()
        (test if int.from_bytes(digest[:8], "big") / 2**64 < test_size else train).append(k)
    return train, test


def to_corpus(dataset, template: str = "Problem: {prompt}\n\nSolution: {solution}\n\nAnswer: {answer}\n") -> list[str]:
    """Problems with their worked solutions as plain-text documents, for pretraining."""
    return [template.format(**row) for row in dataset]
