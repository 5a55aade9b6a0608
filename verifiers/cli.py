"""``rlvr score`` / ``python -m verifiers score``: score completions.

Two modes:

    rlvr score --problems problems.parquet --completions completions.jsonl --rewards accuracy,format=0.5
        Problems are Problem rows (Parquet, JSONL or a saved Hugging Face dataset folder); completions
        are JSONL lines {"id": ..., "completion": ...}, several per id allowed. Rewards are scored in a
        process pool and appended to --out (default COMPLETIONS.scores.jsonl) as they finish; a rerun
        resumes. The summary gives accuracy, pass@k, format rate, reward means and why any
        completion could not be judged.

    rlvr score --math outputs.jsonl [--extraction lenient|strict]
        Each line holds a gold answer and a completion (--gold-field, --completion-field); each
        output line is the input row with a "verdict" added, written atomically at the end. The
        answer is found the way a reader would find it (--extraction lenient, the default: these are
        usually outputs of models rlvr did not train); --extraction strict finds it as a reward does.

Bad input is reported with its file and line before any work starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from verifiers.extract import EXTRACTIONS
from verifiers.math_answer import verify_math_batch
from verifiers.problem import InputError, read_jsonl, write_jsonl
from verifiers.rewards import REWARDS, Rubric
from verifiers.scoring import score_files
from verifiers.verdict import STATUSES

__all__ = ["main"]


def read_rows(path: Path, gold_field: str, completion_field: str) -> list[dict]:
    """Read and check every row; raise InputError naming the first bad line."""
    rows = []
    for number, row in read_jsonl(path):
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
    write_jsonl(rows, out)


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
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--problems", metavar="PATH", help="problems: .jsonl, .parquet or a saved dataset folder")
    mode.add_argument("--math", metavar="FILE.jsonl",
                      help="JSONL with a gold answer and a completion per line ('-' reads stdin)")
    parser.add_argument("--completions", metavar="FILE.jsonl", help="with --problems: {id, completion} lines")
    parser.add_argument("--rewards", default="accuracy,format",
                        help="with --problems: rewards and weights, e.g. accuracy,format=0.5 (default: "
                             "accuracy,format); known: " + ", ".join(sorted(REWARDS)))
    parser.add_argument("--k", default="1", help="with --problems: pass@k values to report, e.g. 1,4 (default: 1)")
    parser.add_argument("-o", "--out", metavar="PATH",
                        help="where to write results ('-' for stdout in --math mode; default FILE.scored.jsonl "
                             "or COMPLETIONS.scores.jsonl)")
    parser.add_argument("--gold-field", default="gold", help="field holding the gold answer (default: gold)")
    parser.add_argument("--completion-field", default="completion",
                        help="field holding the model completion (default: completion)")
    parser.add_argument("--workers", type=int, default=1, help="processes to verify with (default: 1)")
    parser.add_argument("--extraction", choices=EXTRACTIONS, default=None,
                        help="with --math: where the answer may be found; lenient (default: the final "
                             "sentence, the last display math or value too) or strict (as rewards: answer "
                             "block, box, explicit answer statement)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="with --problems: score on a Ray cluster (ADDRESS, or RAY_ADDRESS / a local one when "
                             "omitted) instead of local processes; same results")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="time budget per verification in seconds (default: 1.0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run_problems(args: argparse.Namespace) -> int:
    """The dataset mode: problems + completions + rewards, resumable."""
    if not args.completions:
        print("rlvr score: --problems needs --completions FILE.jsonl", file=sys.stderr)
        return 2
    try:
        rubric = Rubric.parse(args.rewards)
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
        if not ks or min(ks) < 1:
            raise ValueError("--k needs positive integers, e.g. 1,4")
    except ValueError as exc:
        print(f"rlvr score: {exc}", file=sys.stderr)
        return 2
    out = args.out or str(Path(args.completions).with_suffix("")) + ".scores.jsonl"
    try:
        summary = score_files(args.problems, args.completions, out, rubric, workers=args.workers, ks=ks,
                              progress=not args.no_progress and sys.stderr.isatty(),
                              backend="local" if args.ray is None else "ray", address=args.ray or None)
    except InputError as exc:
        print(f"rlvr score: {exc}", file=sys.stderr)
        return 2
    print(summary, file=sys.stderr)
    print(f"results in {out}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("rlvr score: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("rlvr score: --timeout must be positive", file=sys.stderr)
        return 2
    if args.problems:
        if args.extraction:
            print("rlvr score: --extraction applies to --math; --problems scores with the rewards as training "
                  "does (strict). To score outputs of other models against problems, use rlvr eval --completions",
                  file=sys.stderr)
            return 2
        return run_problems(args)
    if args.ray is not None:
        print("rlvr score: --ray works with --problems", file=sys.stderr)
        return 2
    try:
        rows = read_rows(Path(args.math), args.gold_field, args.completion_field)
    except InputError as exc:
        print(f"rlvr score: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    pairs = [(row[args.gold_field], row[args.completion_field]) for row in rows]
    verdicts = verify_math_batch(pairs, workers=args.workers, timeout_s=args.timeout,
                                 progress=not args.no_progress and sys.stderr.isatty(),
                                 extraction=args.extraction or "lenient")
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
