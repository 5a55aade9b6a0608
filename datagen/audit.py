"""``rlvr check-data``: audit a problem set before anyone trains on it.

    rlvr check-data data/train.parquet                       # rlvr rows, or verl / OpenRLHF layouts
    rlvr check-data data/train.jsonl --test data/test.jsonl --strict --workers 4

Each row is checked by its own verifier, in a pool of ``--workers`` processes:

| finding | what it means |
|---|---|
| ``bad_row`` | a field is missing or wrong: unknown verifier, difficulty outside 1..10, empty prompt or answer |
| ``gold_rejected`` | the gold answer, as a completion, is not judged correct (code: the reference fails its tests) |
| ``changed_gold_accepted`` | a changed gold is judged correct (the last number moved by one; code: a constant program) |
| ``solution_disagrees`` | the worked solution's final answer is not the gold |
| ``duplicate_prompt`` | the prompt (numbers' formatting aside) is an earlier row's |
| ``duplicate_id`` | the id is an earlier row's |
| ``in_test_split`` | with ``--test FILE``: the prompt is also in the test split |

The report names each bad row (file and line, or row, and id), then counts rows by verifier, task and
difficulty. Exit status 1 with ``--strict`` when anything is found, 2 when the file cannot be read.

>>> row = {"id": "t/1", "task": "t", "prompt": "2+3?", "answer": "5", "solution": "The answer is 5.",
...        "verifier": "math", "difficulty": 1}
>>> audit_row(row)
[]
>>> [f.kind for f in audit_row({**row, "answer": "6"})]
['solution_disagrees']
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datagen.api import _skeleton
from datagen.checks import completion, perturb
from verifiers.problem import InputError
from verifiers.registry import VERIFIERS, judge, verifier_names

__all__ = ["Finding", "audit", "audit_row", "main", "wrong_solution"]

KINDS = ("bad_row", "gold_rejected", "changed_gold_accepted", "solution_disagrees", "duplicate_prompt",
         "duplicate_id", "in_test_split")


@dataclass(frozen=True)
class Finding:
    """One problem with one row: where it is, its id, which check failed and why."""

    where: str
    id: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.id}: {self.kind}: {self.reason}"


def wrong_solution(tests: str | Mapping[str, Any]) -> str:
    """A program that must fail a code problem's tests: it answers every case with the first case's
    expected result (generators add cases until no constant answer passes), or returns None.

    >>> wrong_solution('{"kind": "call", "fn": "add", "cases": [{"args": [1, 2], "expected": 3}]}')
    'def add(*args, **kwargs):\\n    return 3\\n'
    """
    spec = json.loads(tests) if isinstance(tests, str) else dict(tests)
    cases = spec.get("cases") or [{}]
    if spec.get("kind") == "stdio":
        return f"print({str(cases[0].get('stdout', '')).rstrip(chr(10))!r})\n"
    name = spec.get("fn") or spec.get("entry_point") or "solution"
    value = cases[0].get("expected") if spec.get("kind") == "call" else None
    return f"def {name}(*args, **kwargs):\n    return {value!r}\n"


def _field_problems(row: Mapping[str, Any]) -> list[str]:
    out = []
    if row.get("verifier") not in VERIFIERS:
        out.append(f"verifier {row.get('verifier')!r} is not one of {', '.join(verifier_names())}")
    difficulty = row.get("difficulty")
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) or not 1 <= difficulty <= 10:
        out.append(f"difficulty {difficulty!r} is not an integer in 1..10")
    for name in ("prompt", "answer"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            out.append(f"empty or missing {name!r}")
    return out


def audit_row(row: Mapping[str, Any], where: str = "", changed: bool = True) -> list[Finding]:
    """What is wrong with one row on its own (``changed=False`` skips the changed-gold check)."""
    key = str(row.get("id", ""))
    bad = _field_problems(row)
    if bad:
        return [Finding(where, key, "bad_row", "; ".join(bad))]
    found = []
    code = row["verifier"] == "code"
    verdict = judge(completion(row["answer"]), row)
    if not verdict.correct:
        found.append(Finding(where, key, "gold_rejected", f"{verdict.status}: {verdict.reason}"))
    if changed:
        try:
            wrong = wrong_solution(row.get("tests") or "{}") if code else perturb(row["answer"])
        except (ValueError, TypeError):  # tests that are not JSON: the gold check said so already
            wrong = None
        if wrong is not None and judge(completion(wrong), row).correct:
            found.append(Finding(where, key, "changed_gold_accepted", f"{wrong.strip()!r} is accepted too"))
    solution = row.get("solution")
    if isinstance(solution, str) and solution.strip():
        said = judge(solution, row)
        if not said.correct:
            found.append(Finding(where, key, "solution_disagrees", f"{said.status}: {said.reason}"))
    return found


def _audit_job(job: tuple[str, dict]) -> list[Finding]:
    return audit_row(job[1], job[0])


def audit(rows: Sequence[tuple[str, dict]], test_rows: Sequence[tuple[str, dict]] = (), workers: int = 1,
          progress: bool = False) -> list[Finding]:
    """Every finding for ``(where, row)`` pairs, in row order; ``test_rows`` is the other split."""
    from tqdm.auto import tqdm

    from verifiers.pool import pool_map

    found: list[Finding] = []
    seen_prompts: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for where, row in rows:
        key, prompt = str(row.get("id", "")), row.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            first = seen_prompts.setdefault(_skeleton(prompt), f"{where} ({key})")
            if first != f"{where} ({key})":
                found.append(Finding(where, key, "duplicate_prompt", f"same prompt as {first}"))
        if key in seen_ids:
            found.append(Finding(where, key, "duplicate_id", f"same id as {seen_ids[key]}"))
        seen_ids.setdefault(key, where)
    test_prompts = {_skeleton(r["prompt"]): where for where, r in test_rows if isinstance(r.get("prompt"), str)}
    for where, row in rows:
        other = test_prompts.get(_skeleton(row["prompt"])) if isinstance(row.get("prompt"), str) else None
        if other is not None:
            found.append(Finding(where, str(row.get("id", "")), "in_test_split", f"prompt also at {other}"))
    chunksize = max(1, min(64, len(rows) // (8 * max(1, workers))))
    with tqdm(total=len(rows), disable=not progress, unit="row", desc="check") as bar:
        for findings in pool_map(_audit_job, rows, workers, chunksize=chunksize):
            found += findings
            bar.update()
    order = {where: k for k, (where, _) in enumerate(rows)}
    return sorted(found, key=lambda f: (order.get(f.where, 0), KINDS.index(f.kind)))


def report(rows: Sequence[tuple[str, dict]], found: Sequence[Finding]) -> str:
    """The printed report: each finding, then counts of findings and of rows by verifier, task, difficulty."""
    lines = [str(f) for f in found]
    bad = len({f.where for f in found})
    lines.append(f"{len(rows):,} rows, {bad:,} with findings" + (":" if found else "; nothing found"))
    for kind, count in Counter(f.kind for f in found).most_common():
        lines.append(f"  {kind:<22} {count:>7,}")
    for title, field in (("verifier", "verifier"), ("task", "task"), ("difficulty", "difficulty")):
        counts = Counter(row.get(field) for _, row in rows)
        ordered = sorted(counts.items(), key=lambda kv: (not isinstance(kv[0], int), kv[0] if isinstance(kv[0], int) else str(kv[0])))
        lines.append(f"by {title}: " + ", ".join(f"{name} {n:,}" for name, n in ordered))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from datagen.formats import read_any

    parser = argparse.ArgumentParser(prog="rlvr check-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="problems: .jsonl, .parquet or a saved dataset folder "
                                                     "(rlvr rows, or verl / OpenRLHF layouts)")
    parser.add_argument("--test", metavar="FILE", help="the test split: report prompts found in both")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when anything is found")
    parser.add_argument("--workers", type=int, default=1, help="processes to judge with (default: 1)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.workers < 1:
        print("rlvr check-data: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        rows = read_any(args.file)
        test_rows = read_any(args.test) if args.test else []
    except InputError as exc:
        print(f"rlvr check-data: {exc}", file=sys.stderr)
        return 2
    found = audit(rows, test_rows, args.workers, progress=not args.no_progress and sys.stderr.isatty())
    print(report(rows, found))
    return 1 if found and args.strict else 0
