"""The ``Problem`` record every generator produces (see docs/DESIGN.md, "The data contract").

>>> p = Problem(id="arithmetic/s0/000001", task="arithmetic", prompt="What is 2 + 3?", answer="5",
...             solution="2 + 3 = 5", verifier="math", difficulty=1)
>>> sorted(p.to_row())[:3]
['answer', 'difficulty', 'id']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring_ascii

__all__ = ["FIELDS", "VERIFIERS", "Problem", "encode_meta", "make_id", "stored_meta"]

FIELDS = ("id", "task", "prompt", "answer", "solution", "verifier", "tests", "difficulty", "meta")
VERIFIERS = ("math", "exact", "equation", "countdown", "factor", "simplest", "code")


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
            raise ValueError(f"{self.id}: verifier must be one of {VERIFIERS}, not {self.verifier!r}")
        if not 1 <= self.difficulty <= 10:
            raise ValueError(f"{self.id}: difficulty must be 1..10, not {self.difficulty}")
        if not self.prompt or not self.solution:
            raise ValueError(f"{self.id}: empty prompt or solution")

    def to_row(self) -> dict:
        return {"id": self.id, "task": self.task, "prompt": self.prompt, "answer": self.answer,
                "solution": self.solution, "verifier": self.verifier, "tests": self.tests,
                "difficulty": self.difficulty, "meta": stored_meta(self.meta)}
