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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datagen.problem import Problem, make_id
from datagen.rng import ItemRng

__all__ = ["TASKS", "Item", "Task", "item_rng", "list_tasks", "make_problem", "task"]


@dataclass(slots=True)
class Item:
    """What a generator returns for one problem."""

    prompt: str
    answer: str
    solution: str
    meta: dict[str, Any] = field(default_factory=dict)
    tests: str = ""
    verifier: str = ""  # the task's own when empty


@dataclass(frozen=True)
class Task:
    name: str
    fn: Callable[[random.Random, int], Item]
    verifier: str
    kind: str  # "math" or "code"
    description: str


TASKS: dict[str, Task] = {}


def task(name: str, verifier: str = "math", kind: str = "math") -> Callable:
    """Register a generator under ``name``; its docstring's first line is its description."""

    def wrap(fn: Callable[[random.Random, int], Item]) -> Callable[[random.Random, int], Item]:
        if name in TASKS:
            raise ValueError(f"task {name!r} registered twice")
        TASKS[name] = Task(name, fn, verifier, kind, (fn.__doc__ or name).strip().splitlines()[0])
        return fn

    return wrap


def item_rng(name: str, seed: int, difficulty: int, index: int) -> random.Random:
    """The RNG of one item, seeded by a hash of its key: the same on every machine and Python."""
    return ItemRng(f"{name}:{seed}:{difficulty}:{index}")


def make_problem(name: str, seed: int, difficulty: int, index: int) -> Problem:
    """The ``index``-th problem of a task at a difficulty: a pure function of its arguments."""
    if name not in TASKS:  # a fresh worker process: register the generators first
        list_tasks()
    spec = TASKS[name]
    item = spec.fn(item_rng(name, seed, difficulty, index), difficulty)
    return Problem(make_id(name, seed, index), name, item.prompt, item.answer, item.solution,
                   item.verifier or spec.verifier, difficulty, item.tests, item.meta)


def list_tasks(kind: str | None = None) -> list[str]:
    """Registered task names (``kind``: ``math`` or ``code`` to filter)."""
    from datagen import tasks  # noqa: F401  (registers the generators)

    return sorted(n for n, t in TASKS.items() if kind is None or t.kind == kind)
