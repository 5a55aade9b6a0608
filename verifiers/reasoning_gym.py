"""rlvr's problems under reasoning-gym's scoring interface: ``score_answer(answer, entry) -> float``.

reasoning-gym scores an answer already taken out of a completion (its ``utils.extract_answer``: the
last ``<answer>`` block, stripped) against a dataset entry, ``{"question", "answer", "metadata"}``,
with 1.0 for right. ``to_entry`` makes such an entry of a Problem row, with what rlvr's verifiers read
(the verifier, its ``meta``, a code problem's tests) in ``metadata``; ``score_answer`` judges with the
problem's own verifier: 1.0 when it says correct, else 0.0 (also when it could not judge, and for no
answer at all, as reasoning-gym's base scorer does; no partial credit). An entry of reasoning-gym's own datasets carries none
of rlvr's fields and is judged by the ``math`` verifier against its ``answer``. A Problem row itself
may stand for the entry.

>>> entry = to_entry({"id": "countdown/s0/000001", "task": "countdown", "prompt": "Make 21 from 5, 4, 12.",
...                   "answer": "12 + 5 + 4", "solution": "...", "verifier": "countdown", "tests": "",
...                   "difficulty": 3, "meta": '{"numbers":[5,4,12],"target":21}'})
>>> score_answer("4 + 12 + 5", entry), score_answer("12 + 5", entry), score_answer(None, entry)
(1.0, 0.0, 0.0)
>>> score_answer("-4", {"question": "Calculate 5 - 3 - 6.", "answer": "-4", "metadata": {}})
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verifiers.problem import stored_meta
from verifiers.registry import judge

__all__ = ["score_answer", "to_entry"]


def to_entry(row: Mapping[str, Any], index: int | None = None) -> dict:
    """A Problem row as a reasoning-gym dataset entry (``source_dataset`` is ``rlvr/TASK``)."""
    return {"question": row["prompt"], "answer": row["answer"],
            "metadata": {"source_dataset": f"rlvr/{row['task']}", "source_index": index, "id": row["id"],
                         "verifier": row["verifier"], "tests": row.get("tests") or "",
                         "meta": stored_meta(row.get("meta") or {}), "difficulty": {"level": int(row["difficulty"])}}}


def _problem(entry: Mapping[str, Any]) -> dict:
    fields = entry if "verifier" in entry else entry.get("metadata") or {}
    return {"answer": str(entry.get("answer", "")), "verifier": fields.get("verifier") or "math",
            "tests": fields.get("tests") or "", "meta": fields.get("meta") or "{}"}


def score_answer(answer: str | None, entry: Mapping[str, Any]) -> float:
    """1.0 when the problem's verifier judges ``answer`` (the extracted final answer) correct, else 0.0."""
    if not isinstance(answer, str) or not answer.strip():
        return 0.0
    return 1.0 if judge(f"<answer>{answer}</answer>", _problem(entry)).correct else 0.0
