"""Problem files in rlvr's own layout or in a trainer's: writing them (``rlvr gen --format``) and reading
them back as Problem rows (``rlvr check-data``).

| format | files | layout |
|---|---|---|
| ``rlvr`` | ``.parquet``, ``.jsonl`` or a saved-dataset folder | Problem rows (docs/DESIGN.md) |
| ``verl`` | ``.parquet`` (verl reads nothing else) | ``verifiers.verl.to_verl`` |
| ``openrlhf`` | ``.jsonl`` or ``.parquet`` | ``verifiers.openrlhf.to_openrlhf`` |

Every file is written to a temporary sibling and renamed into place when complete.

>>> layout_of({"data_source": "rlvr/arithmetic", "reward_model": {}}), layout_of({"label": "5", "prompt": "?"})
('verl', 'openrlhf')
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from verifiers.openrlhf import from_openrlhf, to_openrlhf
from verifiers.problem import InputError, located_rows
from verifiers.verl import from_verl, to_verl

__all__ = ["FORMATS", "check_target", "layout_of", "read_any", "write_rows"]

FORMATS = ("rlvr", "verl", "openrlhf")
_SUFFIXES = {"verl": (".parquet",), "openrlhf": (".jsonl", ".parquet")}


def _records(rows: Sequence[Mapping[str, Any]], fmt: str) -> list[dict]:
    if fmt == "verl":
        return [to_verl(row, index=k) for k, row in enumerate(rows)]
    return [to_openrlhf(row) for row in rows]


def check_target(out: str | Path, fmt: str) -> None:
    """Raise ValueError unless ``fmt`` is a format that can be written to ``out``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt in _SUFFIXES and Path(out).suffix not in _SUFFIXES[fmt]:
        raise ValueError(f"--format {fmt} writes {' or '.join(_SUFFIXES[fmt])} files, not {Path(out).name!r}")


def write_rows(rows: Sequence[Mapping[str, Any]], out: str | Path, fmt: str = "rlvr") -> None:
    """Write Problem rows to ``out`` in ``fmt``; the file type follows ``out``'s suffix."""
    import datasets

    from datagen.api import features

    out = Path(out)
    check_target(out, fmt)
    datasets.disable_progress_bars()
    data = (datasets.Dataset.from_list(list(rows), features=features()) if fmt == "rlvr"
            else datasets.Dataset.from_list(_records(rows, fmt)))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".parquet":
        data.to_parquet(str(tmp))
    elif out.suffix == ".jsonl":
        data.to_json(str(tmp), lines=True, force_ascii=False)
    else:
        data.save_to_disk(str(tmp))
        if out.exists():
            shutil.rmtree(out)
    os.replace(tmp, out)


def layout_of(record: Mapping[str, Any]) -> str:
    """Which layout a record is in: ``verl`` (``reward_model``), ``openrlhf`` (``label``) or ``rlvr``."""
    if "reward_model" in record and "data_source" in record:
        return "verl"
    if "label" in record and "answer" not in record:
        return "openrlhf"
    return "rlvr"


def read_any(path: str | Path) -> list[tuple[str, dict]]:
    """``(where, Problem row)`` for each record of a file in any of the layouts (JSONL, Parquet or a saved
    dataset); records in a trainer's layout are converted back to Problem rows."""
    located = located_rows(Path(path))
    if not located:
        raise InputError(f"{path}: no rows")
    convert = {"verl": from_verl, "openrlhf": from_openrlhf}
    return [(where, convert[layout_of(row)](row) if layout_of(row) in convert else row) for where, row in located]
