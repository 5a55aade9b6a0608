"""Problem generation speed: rlvr's generators beside reasoning-gym's of the same kind, in one run.

Each generator makes N problems on one core (worked solutions and stored rows included for rlvr;
reasoning-gym's entries carry question, answer and metadata); each side's rate is the best of
``--repeat`` runs, taken in turn, so load from other processes on a shared machine hits both alike.
Where reasoning-gym's dataset asks one kind of question (gcd, lcm, simplify a fraction), it is set
beside the same kind of ours (``generate(..., kinds=[...])``), over our difficulties 1..10 and over
the difficulties whose problems are the size of the peer's default ones. Then 100,000
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.registry import TASKS, list_tasks, make_rows  # noqa: E402


@dataclass(frozen=True)
class Pair:
    """One of our generators (a task, or some of its kinds) and reasoning-gym's dataset of the same kind.

    ``matched``: our difficulties whose problems are the size of the peer's default ones (reasoning-gym
    runs at its defaults, and our difficulty cycle 1..10 goes well past them: 3 numbers up to 10^10
    with every Euclid step written out, for instance), with how they match."""

    task: str
    peer: str
    kinds: tuple[str, ...] | None = None
    matched: tuple[tuple[int, ...], str] | None = None

    @property
    def name(self) -> str:
        return self.task + (f" ({', '.join(self.kinds)})" if self.kinds else "")


PAIRS = [
    Pair("arithmetic", "basic_arithmetic"),
    Pair("countdown", "countdown"),
    Pair("derivative", "simple_integration"),
    Pair("fractions", "fraction_simplification", ("simplify",),
         ((10,), "reduced numerator and denominator up to 1,000, common factor up to 100")),
    Pair("linear_equation", "simple_equations"),
    Pair("number_theory", "gcd", ("gcd",), ((1, 2), "two numbers up to 1,000")),
    Pair("number_theory", "lcm", ("lcm",), ((1, 2, 3), "two numbers up to about 100")),
    Pair("polynomial", "polynomial_multiplication"),
    Pair("quadratic", "polynomial_equations"),
    Pair("sequence", "number_sequence"),
    Pair("word_problem", "gsm_symbolic"),
]
SLOW_PEERS = {"polynomial_equations", "countdown", "number_sequence", "simple_integration",
              "polynomial_multiplication"}


def ours(job: tuple[str, tuple[str, ...] | None, tuple[int, ...]], n: int) -> float:
    """Problems per second of ``make_rows`` (what ``generate`` and ``rlvr gen`` run), worked solutions and
    stored rows included, difficulties cycling through ``levels``."""
    task, kinds, levels = job
    per_item = [levels[i % len(levels)] for i in range(n)]
    start = time.perf_counter()
    make_rows(task, range(n), 0, per_item, kinds)
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
        "| rlvr generator | difficulties | problems/s (1 core) | reasoning-gym dataset (defaults) | problems/s (1 core) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    all_levels = tuple(range(1, 11))
    for pair in PAIRS:
        n_peer = max(100, args.n // 25) if pair.peer in SLOW_PEERS else args.n
        jobs = [(ours, (pair.task, pair.kinds, all_levels), args.n)]
        if pair.matched:
            jobs.append((ours, (pair.task, pair.kinds, pair.matched[0]), args.n))
        *rates, rate_peer = best(args.repeat, *jobs, (peer, pair.peer, n_peer))
        lines.append(f"| {pair.name} | 1-10 | {rates[0]:,.0f} | {pair.peer} | {rate_peer:,.0f} | "
                     f"{rates[0] / rate_peer:.1f}x |")
        if pair.matched:
            levels, how = pair.matched
            shown = f"{levels[0]}-{levels[-1]}" if len(levels) > 1 else str(levels[0])
            lines.append(f"| {pair.name}, the peer's size ({how}) | {shown} | {rates[1]:,.0f} | {pair.peer} | "
                         f"{rate_peer:,.0f} | **{rates[1] / rate_peer:.2f}x** |")
    paired = {p.task for p in PAIRS if not p.kinds}
    for task in list_tasks():
        if task not in paired:
            n = args.n if task not in ("code_function", "code_stdio") else max(500, args.n // 5)
            rate, = best(args.repeat, (ours, (task, None, all_levels), n))
            kinds = " (all kinds)" if TASKS[task].kinds else ""
            lines.append(f"| {task}{kinds} | 1-10 | {rate:,.0f} | - | - | - |")
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
