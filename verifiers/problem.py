"""The ``Problem`` record, and reading and writing files of them: the data contract's one home.

Every generator builds rows through it, every stage and scorer reads problem files through it
(docs/DESIGN.md, "The data contract"). A row's ``verifier`` must name a checker of
``verifiers.registry`` (built-in or added with ``register_verifier``).

>>> p = Problem(id="arithmetic/s0/000001", task="arithmetic", prompt="What is 2 + 3?", answer="5",
...             solution="2 + 3 = 5", verifier="math", difficulty=1)
>>> sorted(p.to_row())[:3]
['answer', 'difficulty', 'id']
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring_ascii
from pathlib import Path

from verifiers.registry import VERIFIERS, verifier_names

__all__ = ["FIELDS", "InputError", "Problem", "encode_meta", "load_problems", "located_rows", "make_id",
           "read_jsonl", "read_problem_rows", "stored_meta", "write_jsonl"]

FIELDS = ("id", "task", "prompt", "answer", "solution", "verifier", "tests", "difficulty", "meta")


class InputError(ValueError):
    """Input that cannot be used; the message names the file and line (or row)."""


def _not_serializable(o: object) -> None:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# json.dumps(meta, sort_keys=True, separators=(",", ":")); the C encoder built once is 3x faster
# than json.dumps, which builds one per call (the fallback is for Pythons without _json)
encode_meta = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
if c_make_encoder is not None:
    _c_encoder = c_make_encoder(None, _not_serializable, encode_basestring_ascii, None, ":", ",", True, False, True)

    def encode_meta(meta: dict) -> str:
        """``meta`` as the stored JSON: sorted keys, no spaces.

        >>> encode_meta({"b": [1, 2], "a": "x"})
        '{"a":"x","b":[1,2]}'
        """
        return "".join(_c_encoder(meta, 0))


def stored_meta(meta: dict | str) -> str:
    """The row's ``meta``: a dict encoded, or a generator's own JSON (already canonical) as it is.

    >>> stored_meta({"n": 1}), stored_meta('{"n":1}')
    ('{"n":1}', '{"n":1}')
    """
    return meta if meta.__class__ is str else encode_meta(meta)


def make_id(task: str, seed: int, index: int) -> str:
    """Stable id from task, seed and index: ``linear_equation/s0/000017``."""
    return f"{task}/s{seed}/{index:06d}"


@dataclass(slots=True)
class Problem:
    """One problem; ``tests`` and ``meta`` are JSON strings in the stored row. (Not frozen: a frozen
    dataclass costs ~1 µs more to build, a tenth of the time some generators need per problem.)"""

    id: str
    task: str
    prompt: str
    answer: str
    solution: str
    verifier: str
    difficulty: int
    tests: str = ""
    meta: dict | str = field(default_factory=dict)  # a str is the JSON already (as ``encode_meta`` writes it)

    def __post_init__(self) -> None:
        if self.verifier not in VERIFIERS:
            raise ValueError(f"{self.id}: verifier must be one of {verifier_names()}, not {self.verifier!r}")
        if not 1 <= self.difficulty <= 10:
            raise ValueError(f"{self.id}: difficulty must be 1..10, not {self.difficulty}")
        if not self.prompt or not self.solution:
            raise ValueError(f"{self.id}: empty prompt or solution")

    def to_row(self) -> dict:
        return {"id": self.id, "task": self.task, "prompt": self.prompt, "answer": self.answer,
                "solution": self.solution, "verifier": self.verifier, "tests": self.tests,
                "difficulty": self.difficulty, "meta": stored_meta(self.meta)}


# ---------------------------------------------------------------------------------------------
# Files


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSONL file (``-``: stdin).

    Raises InputError naming the file and line of the first line that is not a JSON object.
    """
    path = Path(path)
    try:
        handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def write_jsonl(rows: Iterable[dict], path: str | Path) -> None:
    """Write JSONL atomically: a temporary file in the same folder, renamed over ``path`` when complete."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def located_rows(path: Path) -> list[tuple[str, dict]]:
    """``(where, row)`` for every row of a JSONL file, a Parquet file or a saved dataset folder (its ``train``
    split if it has several); ``where`` names the file and line (or row) for messages about it."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        import datasets

        try:
            data = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.Dataset.from_parquet(str(path))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise InputError(f"{path}: not a saved dataset or Parquet file ({exc})") from None
        if isinstance(data, datasets.DatasetDict):
            if "train" not in data:
                raise InputError(f"{path}: a dataset with splits {', '.join(data)} and no 'train' split")
            data = data["train"]
        return [(f"{path}: row {k + 1}", dict(r)) for k, r in enumerate(data)]
    return [(f"{path}:{number}", row) for number, row in read_jsonl(path)]


def load_problems(path: str | Path) -> dict[str, dict]:
    """Problems by id, from JSONL, Parquet or a saved Hugging Face dataset folder.

    Raises InputError naming the row when one has no ``id`` or repeats one, or when there are none.
    """
    path = Path(path)
    problems: dict[str, dict] = {}
    for where, row in located_rows(path):
        if "id" not in row:
            raise InputError(f"{where}: problem has no 'id'")
        key = str(row["id"])
        if key in problems:
            raise InputError(f"{where}: duplicate problem id {key!r}")
        problems[key] = row
    if not problems:
        raise InputError(f"{path}: no problems")
    return problems


def read_problem_rows(path: str | Path) -> list[dict]:
    """The problem rows of a file in file order (ids checked as by ``load_problems``)."""
    return list(load_problems(path).values())
