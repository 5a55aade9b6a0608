"""Problem generation speed: rlvr's generators beside reasoning-gym's of the same kind, in one run.

Each generator makes N problems on one core (worked solutions included for rlvr; reasoning-gym's
entries carry question, answer and metadata); each side's rate is the best of ``--repeat`` runs,
taken in turn, so load from other processes on a shared machine hits both alike. Then 100,000
problems of the whole math mixture with ``rlvr gen math`` on 2 worker processes, written to Parquet.

    python bench/datagen.py              # 5,000 items per generator (fewer for slow peers), best of 3
    python bench/datagen.py --n 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.registry import list_tasks, make_problem  # noqa: E402

# our task -> the reasoning-gym dataset of the same kind
PEERS = {
    "arithmetic": "basic_arithmetic",
    "fractions": "fraction_simplification",
    "number_theory": "gcd",
    "sequence": "number_sequence",
    "word_problem": "gsm_symbolic",
    "linear_equation": "simple_equations",
    "quadratic": "polynomial_equations",
    "polynomial": "polynomial_multiplication",
    "countdown": "countdown",
    "derivative": "simple_integration",
}
SLOW_PEERS = {"polynomial_equations", "countdown", "number_sequence", "simple_integration",
              "polynomial_multiplication"}


def ours(task: str, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        make_problem(task, 0, 1 + i % 10, i).to_row()
    return n / (time.perf_counter() - start)


def peer(name: str, n: int) -> float:
    import reasoning_gym

    start = time.perf_counter()
    data = reasoning_gym.create_dataset(name, size=n, seed=1)
    for i in range(n):
        data[i]
    return n / (time.perf_counter() - start)


def best(runs: int, *rates) -> list[float]:
    """The best rate of each ``(fn, arg, n)`` over ``runs`` rounds, the measurements taken in turn."""
    out = [0.0] * len(rates)
    for _ in range(runs):
        for k, (fn, arg, n) in enumerate(rates):
            out[k] = max(out[k], fn(arg, n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="items per generator (default 5000)")
    parser.add_argument("--mix", type=int, default=100_000, help="items in the mixture run (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per generator; the best counts (default 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "datagen.md"))
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    lines = [
        f"Command: `python bench/datagen.py --n {args.n} --mix {args.mix} --repeat {args.repeat}`; {date.today()}; "
        f"Python {platform.python_version()}; {platform.machine()}, {os.cpu_count()} cores.",
        "",
        "| rlvr task | problems/s (1 core) | reasoning-gym dataset | problems/s (1 core) | ratio |",
        "|---|---|---|---|---|",
    ]
    for task in list_tasks():
        n = args.n if task not in ("code_function", "code_stdio") else max(500, args.n // 5)
        name = PEERS.get(task)
        if name:
            n_peer = max(100, args.n // 25) if name in SLOW_PEERS else args.n
            rate, rate_peer = best(args.repeat, (ours, task, n), (peer, name, n_peer))
            lines.append(f"| {task} | {rate:,.0f} | {name} | {rate_peer:,.0f} | {rate / rate_peer:.1f}x |")
        else:
            rate, = best(args.repeat, (ours, task, n))
            lines.append(f"| {task} | {rate:,.0f} | - | - | - |")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "datagen", "math", "--n", str(args.mix), "--workers", "2",
                        "--out", str(Path(tmp) / "mix.parquet"), "--no-progress"], check=True, cwd=ROOT)
        seconds = time.perf_counter() - start
    lines += ["", f"`rlvr gen math --n {args.mix:,} --workers 2` (every math task, written to Parquet): "
                  f"**{seconds:.1f} s** ({args.mix / seconds:,.0f} problems/s, start-up included)."]
    report = "\n".join(lines)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
