"""``rlvr gen`` / ``python -m datagen``: generate problems to Parquet, JSONL or a saved dataset.

    rlvr gen arithmetic --n 1000 --seed 0 --out data/arith.parquet
    rlvr gen arithmetic=2,fractions=1,countdown=1 --n 100000 --difficulty 1-5 --out data/mix.jsonl
    rlvr gen math --n 10000 --out data/math            # every math task, equal weights; a saved dataset
    rlvr gen number_theory --kinds gcd,lcm --n 1000 --out data/gcd.jsonl   # some of a task's kinds
    rlvr gen --list                                    # the tasks (and the kinds of those that have several)

The output format follows ``--out``: ``.parquet``, ``.jsonl``, or a folder (``Dataset.save_to_disk``).
Items are made in parallel (``--workers``) and are the same whatever the number of workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

__all__ = ["main"]


def parse_difficulty(text: str) -> list[int]:
    """``3`` -> [3]; ``1-5`` -> [1..5]; ``1,4,9`` -> [1, 4, 9]."""
    levels: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        try:
            levels += list(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"bad --difficulty {text!r}: use N, N-M or N,M,...") from None
    if not levels or not all(1 <= d <= 10 for d in levels):
        raise ValueError(f"bad --difficulty {text!r}: levels are 1..10")
    return levels


def parse_spec(spec: str, tasks: list[str], math_tasks: list[str], code_tasks: list[str]) -> dict[str, float]:
    """``TASK``, ``math``, ``code``, ``all`` or ``TASK=W,TASK=W`` -> weights."""
    groups = {"math": math_tasks, "code": code_tasks, "all": tasks}
    if spec in groups:
        return dict.fromkeys(groups[spec], 1.0)
    weights: dict[str, float] = {}
    for part in spec.split(","):
        name, _, weight = part.strip().partition("=")
        if name not in tasks:
            raise ValueError(f"unknown task {name!r}; known: {', '.join(tasks)} (or math, code, all)")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"bad weight in {part!r}") from None
    return weights


def _chunk(job: tuple[str, int, int, int, list[int], tuple[str, ...] | None]) -> list[dict]:
    from datagen.api import make_rows

    name, start, stop, seed, levels, kinds = job
    return make_rows(name, range(start, stop), seed, levels, kinds)


def build_rows(counts: dict[str, int], seed: int, levels: list[int], workers: int, progress: bool,
               kinds: tuple[str, ...] | None = None) -> list[dict]:
    """All rows, made in chunks over a process pool; identical for any ``workers``. ``kinds`` (one
    task only) keeps to some of its kinds of question."""
    from tqdm.auto import tqdm

    from datagen.api import difficulties

    n = sum(counts.values())
    jobs = []
    size = 2000
    for name, count in counts.items():
        per_item = difficulties(levels, count)
        jobs += [(name, a, min(a + size, count), seed, per_item, kinds) for a in range(0, count, size)]
    rows: list[dict] = []
    with tqdm(total=n, disable=not progress, unit="problem", desc="gen") as bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                rows += _chunk(job)
                bar.update(job[2] - job[1])
        else:
            import multiprocess

            with multiprocess.get_context("spawn").Pool(workers) as pool:
                for part in pool.imap(_chunk, jobs):
                    rows += part
                    bar.update(len(part))
    return rows


def write(rows: list[dict], out: Path) -> None:
    """Write atomically: to a temporary sibling, renamed into place when complete."""
    import datasets

    from datagen.api import _features

    datasets.disable_progress_bars()
    data = datasets.Dataset.from_list(rows, features=_features())
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


def main(argv: list[str] | None = None) -> int:
    from datagen.api import allocate
    from datagen.registry import list_tasks, task_kinds

    tasks, math_tasks, code_tasks = list_tasks(), list_tasks("math"), list_tasks("code")
    parser = argparse.ArgumentParser(prog="rlvr gen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", help="TASK, math, code, all, or TASK=WEIGHT,... (a mixture)")
    parser.add_argument("--n", type=int, default=1000, help="how many problems (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--difficulty", default="1-10", help="N, N-M or N,M,... in 1..10 (default 1-10)")
    parser.add_argument("--out", help="output: FILE.parquet, FILE.jsonl or a folder for a saved dataset")
    parser.add_argument("--kinds", help="with one TASK: only these of its kinds of question, e.g. gcd,lcm "
                                         "(see --list)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--list", action="store_true", help="list the tasks and exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.list:
        from datagen.registry import TASKS

        for name in tasks:
            spec = TASKS[name]
            kinds = f" (kinds: {', '.join(spec.kinds)})" if spec.kinds else ""
            print(f"{name:18} {spec.verifier:10} {spec.description}{kinds}")
        return 0
    if not args.spec or not args.out:
        parser.error("give a task (or mixture) and --out; see --list")
    try:
        weights = parse_spec(args.spec, tasks, math_tasks, code_tasks)
        levels = parse_difficulty(args.difficulty)
        if args.n < 1 or args.workers < 1:
            raise ValueError("--n and --workers must be at least 1")
        counts = allocate(weights, args.n)
        kinds = None
        if args.kinds is not None:
            if len(weights) != 1:
                raise ValueError(f"--kinds needs a single task, not the mixture {args.spec!r}")
            (name,) = weights
            kinds = task_kinds(name, [k.strip() for k in args.kinds.split(",")])
    except ValueError as exc:
        print(f"rlvr gen: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = build_rows(counts, args.seed, levels, args.workers, progress=not args.no_progress and sys.stderr.isatty(),
                      kinds=kinds)
    made = time.perf_counter() - start
    write(rows, Path(args.out))
    print(f"{len(rows):,} problems from {len(weights)} task(s) in {made:.1f} s ({len(rows) / max(made, 1e-9):,.0f}/s); "
          f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
