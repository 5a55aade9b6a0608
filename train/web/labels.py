"""People's picks between two responses, appended to JSONL files one whole line at a time.

A pick of A or B is a preference pair in TRL's columns (``prompt`` as the model saw it, ``chosen``,
``rejected``) plus who, when, the models and both sides' verdicts: the file ``rlvr dpo --pairs`` and
TRL's trainers read as it is. A tie or "both bad" is no pair; it goes to a file beside it
(``prefs.jsonl`` -> ``prefs.ties.jsonl``) with both responses and the label.

Each line is written by one ``write`` on a file opened for appending, then synced, before the pick is
acknowledged. A line cut short all the same (the machine lost power mid-write) is moved to
``FILE.torn`` when the file is next opened, so the file always reads back whole.

>>> import json, tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "prefs.jsonl"
>>> store = LabelStore(path)
>>> store.append({"prompt": "2+2?", "chosen": "4", "rejected": "5", "who": "ana", "problem_id": "p1"})
>>> store.append({"prompt": "2+3?", "response_a": "5", "response_b": "5", "label": "tie", "who": "bo"})
>>> store.counts(), store.labelled_ids
({'pairs': 1, 'no_preference': 1, 'by_who': {'ana': 1, 'bo': 1}}, {'p1'})
>>> json.loads(path.read_text())["chosen"]
'4'
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

__all__ = ["LabelStore", "append_line", "repair_tail", "ties_path"]


def repair_tail(path: Path) -> int:
    """Move a last line without its newline (a write cut short) to ``PATH.torn``; return its size in bytes.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = path.write_bytes(b'{"a": 1}\\n{"a": 2')
    >>> repair_tail(path), path.read_bytes(), Path(str(path) + ".torn").read_bytes()
    (7, b'{"a": 1}\\n', b'{"a": 2\\n')
    """
    if not path.exists():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        # read backwards in blocks to the last newline
        end, cut = size, 0
        while end > 0:
            start = max(0, end - 65536)
            f.seek(start)
            at = f.read(end - start).rfind(b"\n")
            if at >= 0:
                cut = start + at + 1
                break
            end = start
        f.seek(cut)
        tail = f.read()
        with open(str(path) + ".torn", "ab") as torn:
            torn.write(tail + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return len(tail)


def append_line(path: Path, row: dict) -> None:
    """Append ``row`` as one JSON line: one ``write`` (looped only if the system writes less), then
    ``fsync``. If it fails the file is cut back to its size before, so no partial line stays."""
    data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg}); fix or move the file") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def ties_path(path: Path) -> Path:
    """``prefs.jsonl`` -> ``prefs.ties.jsonl``: where picks without a preference go."""
    return path.with_name(f"{path.stem}.ties{path.suffix or '.jsonl'}")


class LabelStore:
    """The pairs file and its ties file: counts of what is there, and appends (thread-safe).

    A row with ``chosen`` goes to ``path``; any other (a tie or both bad) to :func:`ties_path`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.ties = ties_path(self.path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"--pairs-out {self.path}: the folder {self.path.parent} does not exist")
        self.torn = {str(p): n for p in (self.path, self.ties) if (n := repair_tail(p))}
        self._lock = threading.Lock()
        pairs, ties = _read(self.path), _read(self.ties)
        self._n_pairs, self._n_ties = len(pairs), len(ties)
        self._by_who = Counter(str(r.get("who", "")) for r in pairs + ties)
        self.labelled_ids = {str(r["problem_id"]) for r in pairs + ties if r.get("problem_id") is not None}

    def counts(self) -> dict:
        with self._lock:
            return {"pairs": self._n_pairs, "no_preference": self._n_ties, "by_who": dict(self._by_who)}

    def append(self, row: dict) -> None:
        with self._lock:
            append_line(self.path if "chosen" in row else self.ties, row)
            if "chosen" in row:
                self._n_pairs += 1
            else:
                self._n_ties += 1
            self._by_who[str(row.get("who", ""))] += 1
            if row.get("problem_id") is not None:
                self.labelled_ids.add(str(row["problem_id"]))
