"""Generators registered by name. Each makes one problem from a seeded RNG and a difficulty.

A generator is ``fn(rng: random.Random, difficulty: int) -> Item`` where ``Item`` holds the prompt,
the canonical answer, a worked solution ending in that answer, and optionally ``meta`` (generator
parameters; the ``equation`` and ``countdown`` verifiers read theirs from it), ``tests`` (code
tasks) and ``verifier`` (when one item needs another checker than its task's, e.g. ``factor``). The framework adds the id, task, difficulty and verifier, and seeds every item from
``(task, seed, difficulty, index)`` alone, so items can be made in any order or in parallel and a
dataset is byte-identical on any machine.

>>> from datagen.registry import TASKS
>>> sorted(TASKS)[:1] != []
True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datagen.rng import ItemRng, rng_from_key
from verifiers.problem import Problem, make_id, stored_meta
from verifiers.registry import VERIFIERS

__all__ = ["TASKS", "Item", "Task", "item_rng", "list_tasks", "make_problem", "make_rows", "task", "task_kinds"]


@dataclass(slots=True)
class Item:
    """What a generator returns for one problem."""

    prompt: str
    answer: str
    solution: str
    meta: dict[str, Any] | str = field(default_factory=dict)  # or already its canonical JSON (``encode_meta``)
    tests: str = ""
    verifier: str = ""  # the task's own when empty


@dataclass(frozen=True)
class Task:
    name: str
    fn: Callable[..., Item]
    verifier: str
    domain: str  # "math" or "code"
    description: str
    kinds: tuple[str, ...] = ()  # the task's question types, when it has several (``generate(kinds=...)``)


TASKS: dict[str, Task] = {}


def task(name: str, verifier: str = "math", domain: str = "math", kinds: Sequence[str] = ()) -> Callable:
    """Register a generator under ``name``; its docstring's first line is its description.

    A task with several question types lists them in ``kinds``; its generator then takes them as a
    third argument, ``fn(rng, difficulty, kinds)``, and makes only those (all of them by default).
    """

    def wrap(fn: Callable[..., Item]) -> Callable[..., Item]:
        if name in TASKS:
            raise ValueError(f"task {name!r} registered twice")
        TASKS[name] = Task(name, fn, verifier, domain, (fn.__doc__ or name).strip().splitlines()[0], tuple(kinds))
        return fn

    return wrap


def task_kinds(name: str, kinds: Iterable[str] | None) -> tuple[str, ...] | None:
    """``kinds`` checked against the task's and put in its order (None: all of them).

    >>> task_kinds("number_theory", ["lcm", "gcd"])
    ('gcd', 'lcm')
    """
    if kinds is None:
        return None
    if name not in TASKS:
        list_tasks()
    known = TASKS[name].kinds
    wanted = [kinds] if isinstance(kinds, str) else list(kinds)
    if not known:
        raise ValueError(f"task {name!r} has one kind of question; kinds cannot be chosen")
    unknown = [k for k in wanted if k not in known]
    if unknown or not wanted:
        raise ValueError(f"{'unknown kinds ' + ', '.join(map(repr, unknown)) if unknown else 'no kinds'} "
                         f"for {name!r}; its kinds: {', '.join(known)}")
    return tuple(k for k in known if k in wanted)


def _key_prefix(name: str, seed: int, difficulty: int) -> str:
    """An item's RNG key is this and its index."""
    return f"{name}:{seed}:{difficulty}:"


def item_rng(name: str, seed: int, difficulty: int, index: int) -> random.Random:
    """The RNG of one item, seeded by a hash of its key: the same on every machine and Python."""
    return ItemRng(f"{_key_prefix(name, seed, difficulty)}{index}")


def _spec(name: str, kinds: Iterable[str] | None) -> tuple[Task, tuple[str, ...] | None]:
    """The task and its chosen kinds (None: all); ``spec.fn(rng, d)`` or ``spec.fn(rng, d, kinds)``."""
    if name not in TASKS:  # a fresh worker process: register the generators first
        list_tasks()
    return TASKS[name], task_kinds(name, kinds)


def make_problem(name: str, seed: int, difficulty: int, index: int, kinds: Iterable[str] | None = None) -> Problem:
    """The ``index``-th problem of a task at a difficulty: a pure function of its arguments."""
    spec, chosen = _spec(name, kinds)
    rng = item_rng(name, seed, difficulty, index)
    item = spec.fn(rng, difficulty) if chosen is None else spec.fn(rng, difficulty, chosen)
    return Problem(make_id(name, seed, index), name, item.prompt, item.answer, item.solution,
                   item.verifier or spec.verifier, difficulty, item.tests, item.meta)


def make_rows(name: str, indices: Iterable[int], seed: int, difficulties: Sequence[int],
              kinds: Iterable[str] | None = None) -> list[dict]:
    """The stored rows of the given item indices (the unit of parallel work): what
    ``make_problem(...).to_row()`` gives for each, made without the ``Problem`` in between.

    >>> make_rows("arithmetic", [0], 0, [3]) == [make_problem("arithmetic", 0, 3, 0).to_row()]
    True
    """
    spec, chosen = _spec(name, kinds)
    make = spec.fn
    # the per-row work is a few microseconds, so what is the same for every row is made once
    keys = {d: _key_prefix(name, seed, d).encode() for d in range(1, 11)}
    id_prefix, default_verifier = f"{name}/s{seed}/", spec.verifier
    rows = []
    for i in indices:
        difficulty = difficulties[i]
        if (key := keys.get(difficulty)) is None:
            raise ValueError(f"{make_id(name, seed, i)}: difficulty must be 1..10, not {difficulty!r}")
        rng = rng_from_key(key + b"%d" % i)
        item = make(rng, difficulty) if chosen is None else make(rng, difficulty, chosen)
        verifier = item.verifier or default_verifier
        if verifier not in VERIFIERS or not item.prompt or not item.solution:
            Problem(make_id(name, seed, i), name, item.prompt, item.answer, item.solution, verifier, difficulty)
        rows.append({"id": id_prefix + str(i).zfill(6), "task": name, "prompt": item.prompt, "answer": item.answer,
                     "solution": item.solution, "verifier": verifier, "tests": item.tests,
                     "difficulty": difficulty, "meta": stored_meta(item.meta)})
    return rows


def list_tasks(domain: str | None = None) -> list[str]:
    """Registered task names (``domain``: ``math`` or ``code`` to filter)."""
    from datagen import tasks  # noqa: F401  (registers the generators)

    return sorted(n for n, t in TASKS.items() if domain is None or t.domain == domain)
