"""``rlvr gen`` / ``python -m datagen``: generate problems to Parquet, JSONL or a saved dataset.

    rlvr gen arithmetic --n 1000 --seed 0 --out data/arith.parquet
    rlvr gen arithmetic=2,fractions=1,countdown=1 --n 100000 --difficulty 1-5 --out data/mix.jsonl
    rlvr gen math --n 10000 --out data/math            # every math task, equal weights; a saved dataset
    rlvr gen number_theory --kinds gcd,lcm --n 1000 --out data/gcd.jsonl   # some of a task's kinds
    rlvr gen --list                                    # the tasks (and the kinds of those that have several)
    rlvr gen math --n 10000 --format verl --out train.parquet      # verl's RL data layout
    rlvr gen math --n 10000 --format openrlhf --out train.jsonl    # OpenRLHF's prompt/label layout

The file type follows ``--out``: ``.parquet``, ``.jsonl``, or a folder (``Dataset.save_to_disk``);
``--format`` picks the layout (rlvr's Problem rows by default; see datagen/formats.py).
Items are made in parallel (``--workers``) and are the same whatever the number of workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from datagen.api import mix_rows
    from datagen.formats import FORMATS, check_target, write_rows
    from datagen.registry import list_tasks
    from datagen.spec import parse_difficulty, parse_mix

    parser = argparse.ArgumentParser(prog="rlvr gen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="?", metavar="TASKS",
                        help="TASK, math, code, all, or TASK=WEIGHT,... (a mixture)")
    parser.add_argument("--n", type=int, default=1000, help="how many problems (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--difficulty", default="1-10", help="N, N-M or N,M,... in 1..10 (default 1-10)")
    parser.add_argument("--out", help="output: FILE.parquet, FILE.jsonl or a folder for a saved dataset")
    parser.add_argument("--kinds", help="with one TASK: only these of its kinds of question, e.g. gcd,lcm "
                                         "(see --list)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--format", default="rlvr", choices=FORMATS,
                        help="layout of the rows: rlvr's Problem rows (default), verl's Parquet, OpenRLHF's JSONL")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="make the items on a Ray cluster (ADDRESS, or RAY_ADDRESS / a local one when "
                             "omitted) instead of local processes; same items")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.list:
        from datagen.registry import TASKS

        for name in list_tasks():
            task = TASKS[name]
            kinds = f" (kinds: {', '.join(task.kinds)})" if task.kinds else ""
            print(f"{name:18} {task.verifier:10} {task.description}{kinds}")
        return 0
    if not args.tasks or not args.out:
        parser.error("give a task (or mixture) and --out; see --list")
    start = time.perf_counter()
    try:
        weights = parse_mix(args.tasks)
        levels = parse_difficulty(args.difficulty)
        if args.n < 1 or args.workers < 1:
            raise ValueError("--n and --workers must be at least 1")
        kinds = None if args.kinds is None else [k.strip() for k in args.kinds.split(",")]
        if kinds is not None and len(weights) != 1:
            raise ValueError(f"--kinds needs a single task, not the mixture {args.tasks!r}")
        check_target(args.out, args.format)  # before the work, not after
        rows = mix_rows(weights, args.n, args.seed, levels, kinds, args.workers,
                        progress=not args.no_progress and sys.stderr.isatty(),
                        backend="local" if args.ray is None else "ray", address=args.ray or None)
        made = time.perf_counter() - start
        write_rows(rows, args.out, args.format)
    except ValueError as exc:
        print(f"rlvr gen: {exc}", file=sys.stderr)
        return 2
    print(f"{len(rows):,} problems from {len(weights)} task(s) in {made:.1f} s ({len(rows) / max(made, 1e-9):,.0f}/s); "
          f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
