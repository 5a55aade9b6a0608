"""``rlvr score`` / ``python -m verifiers score``: verify a JSONL file of completions.

    rlvr score --math outputs.jsonl                 # verdicts to outputs.scored.jsonl
    rlvr score --math outputs.jsonl -o - --workers 2

Each input line is a JSON object with a gold answer and a completion (field names set by
``--gold-field`` and ``--completion-field``). Each output line is the input row with a ``verdict``
object added. A summary goes to stderr. The input is checked before any work starts, and the output
is written to a temporary file and renamed at the end, so a bad row or a crash loses nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from verifiers.math_answer import verify_math_batch
from verifiers.verdict import STATUSES

__all__ = ["main"]


class InputError(ValueError):
    """A row of the input file cannot be scored; the message names the file and line."""


def read_rows(path: Path, gold_field: str, completion_field: str) -> list[dict]:
    """Read and check every row; raise InputError naming the first bad line."""
    rows = []
    try:
        handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            for field in (gold_field, completion_field):
                if field not in row:
                    raise InputError(f"{path}:{number}: missing field {field!r}")
            if not isinstance(row[completion_field], str):
                raise InputError(f"{path}:{number}: field {completion_field!r} must be a string")
            if not isinstance(row[gold_field], (str, int, float)) or isinstance(row[gold_field], bool):
                raise InputError(f"{path}:{number}: field {gold_field!r} must be a string or number")
            rows.append(row)
    return rows


def write_rows(rows: list[dict], out: str) -> None:
    """Write JSONL atomically: a temporary file in the same folder, renamed when complete."""
    if out == "-":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summarize(verdicts: list, seconds: float) -> str:
    counts = Counter(v.status for v in verdicts)
    n = len(verdicts)
    judged = counts["correct"] + counts["incorrect"]
    lines = [f"{n} completions in {seconds:.2f} s ({n / max(seconds, 1e-9):,.0f}/s)"]
    lines += [f"  {status:<12} {counts[status]:>7}  {100 * counts[status] / max(n, 1):5.1f}%" for status in STATUSES]
    lines.append(f"  accuracy     {100 * counts['correct'] / max(n, 1):5.1f}% of all, "
                 f"{100 * counts['correct'] / max(judged, 1):5.1f}% of judged")
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="rlvr score", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--math", metavar="FILE.jsonl", required=True,
                        help="JSONL with a gold answer and a completion per line ('-' reads stdin)")
    parser.add_argument("-o", "--out", metavar="PATH",
                        help="where to write the scored rows ('-' for stdout; default FILE.scored.jsonl)")
    parser.add_argument("--gold-field", default="gold", help="field holding the gold answer (default: gold)")
    parser.add_argument("--completion-field", default="completion",
                        help="field holding the model completion (default: completion)")
    parser.add_argument("--workers", type=int, default=1, help="processes to verify with (default: 1)")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="time budget per verification in seconds (default: 1.0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("rlvr score: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("rlvr score: --timeout must be positive", file=sys.stderr)
        return 2
    try:
        rows = read_rows(Path(args.math), args.gold_field, args.completion_field)
    except InputError as exc:
        print(f"rlvr score: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    pairs = [(row[args.gold_field], row[args.completion_field]) for row in rows]
    verdicts = verify_math_batch(pairs, workers=args.workers, timeout_s=args.timeout,
                                 progress=not args.no_progress and sys.stderr.isatty())
    seconds = time.perf_counter() - start
    for row, verdict in zip(rows, verdicts):
        row["verdict"] = verdict.to_dict()
    out = args.out or (str(Path(args.math).with_suffix("")) + ".scored.jsonl" if args.math != "-" else "-")
    write_rows(rows, out)
    print(summarize(verdicts, seconds), file=sys.stderr)
    if out != "-":
        print(f"verdicts written to {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["score"]:
        argv = argv[1:]
    return run(build_parser().parse_args(argv))
