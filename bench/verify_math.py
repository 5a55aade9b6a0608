"""Benchmark rlvr's math answer verifier against math-verify (the peer), in one run.

What is measured, for both checkers on the same inputs:

1. Agreement with the labels of ``tests/data/math_cases.jsonl`` (663 hand-labelled cases), per category.
   A case agrees when ``expected == "correct"`` and the checker says correct, or when
   ``expected != "correct"`` (``incorrect`` / ``no_answer``) and the checker says not correct.
2. Real benchmark answers (``tests/data/real_answers.jsonl``). Each answer, as written, is the gold of
   a *self* pair whose completion is ``<answer>\\boxed{ANSWER}</answer>`` (should verify) and, when the
   answer has a digit, of a *perturbed* pair where one number of the boxed answer is increased by one
   (should not verify). Also: calls over 1 s and over 2 s, and the total time.
3. Time per verification (median, p99, worst) over every call made for tables 1 and 2.
4. Throughput on N mixed pairs (default 10,000: the math_cases pairs and the real self/perturbed pairs,
   shuffled with a fixed seed and cycled): sequential single-process calls for each checker, and
   ``verify_math_batch(pairs, workers=2)`` for ours.
5. Free-form outputs (``tests/data/wild_cases.jsonl``: outputs in the formats real models write, not our
   template, labelled per class): agreement with the labels of ours with ``extraction="strict"`` (against
   the strict labels: what a reward should pay), ours with ``extraction="lenient"`` and math-verify
   (both against the lenient labels: what a reader finds).

How each checker is called:

- ours: ``verifiers.verify_math(gold, completion)`` with its default 1 s budget; correct means
  ``Verdict.correct``.
- math-verify: ``verify(parse(gold), parse(completion))`` with its defaults (SIGALRM timeouts of 5 s,
  in the main thread); the completion is given as is. math-verify reads LaTeX inside ``$...$``,
  ``\\(...\\)``, ``\\[...\\]`` or ``\\boxed``, and on a bare gold ``parse`` often returns a fragment rather
  than nothing (``x \\leq 5`` -> ``5``, ``2\\frac{1}{3}`` -> ``1/3``, ``5, 9`` -> ``9``). So by default a gold
  without such a delimiter is parsed as ``"$" + gold + "$"``; ``--peer-gold if-empty`` wraps it only
  when the bare ``parse(gold)`` is empty. Parsing both sides is part of each timed call. An exception
  counts as "not correct".

One untimed warm-up call per checker runs first (imports, grammar loading).

Run from the repository root::

    python bench/verify_math.py            # full run, ~35 minutes on 2 CPUs (math-verify is the slow part)
    python bench/verify_math.py --quick    # 1,000 throughput pairs and the first 1,000 real answers
    python bench/verify_math.py --pairs 2000 --out /tmp/verify_math.md

The tables are printed as Markdown on stdout and written to ``--out``
(default ``bench/results/verify_math.md``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import random
import re
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from math_verify import parse, verify  # noqa: E402

from verifiers import verify_math, verify_math_batch  # noqa: E402

CASES = ROOT / "tests" / "data" / "math_cases.jsonl"
WILD = ROOT / "tests" / "data" / "wild_cases.jsonl"
REAL = ROOT / "tests" / "data" / "real_answers.jsonl"
SEED = 0
QUICK_PAIRS = 1_000
QUICK_REAL = 1_000

Pair = tuple[str, str]
Checker = Callable[[str, str], bool]


# --------------------------------------------------------------------------------------------- checkers


def ours(gold: str, completion: str) -> bool:
    """rlvr: correct when the verdict is ``correct``."""
    return verify_math(gold, completion).correct


def ours_lenient(gold: str, completion: str) -> bool:
    """rlvr with ``extraction="lenient"`` (outputs rlvr did not shape)."""
    return verify_math(gold, completion, extraction="lenient").correct


DELIMITED = re.compile(r"\$|\\\(|\\\[|\\boxed|\\fbox")


def make_peer(gold_mode: str = "delimit") -> Checker:
    """math-verify with its defaults: ``verify(parse(gold), parse(completion))``.

    math-verify reads LaTeX inside ``$...$`` (or ``\\(``, ``\\[``, ``\\boxed``), and a bare ``parse(gold)``
    often returns a fragment rather than nothing (``x \\leq 5`` -> ``5``, ``2\\frac{1}{3}`` -> ``1/3``).
    ``gold_mode="delimit"``: a gold with none of those delimiters is parsed as ``"$" + gold + "$"``.
    ``gold_mode="if-empty"``: the gold is wrapped only when the bare ``parse(gold)`` is empty.
    Either way the other form is the fallback when the first parses to nothing.
    """

    def peer(gold: str, completion: str) -> bool:
        if gold_mode == "delimit" and not DELIMITED.search(gold):
            parsed_gold = parse("$" + gold + "$") or parse(gold)
        else:
            parsed_gold = parse(gold) or parse("$" + gold + "$")
        return verify(parsed_gold, parse(completion)) is True

    return peer


@dataclass
class Calls:
    """Outcomes and wall times of the calls one checker made."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, checker: Checker, gold: str, completion: str) -> bool:
        start = time.perf_counter()
        try:
            ok = checker(gold, completion)
        except Exception as exc:  # counted as "not correct", and reported
            ok = False
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        self.seconds.append(time.perf_counter() - start)
        return ok


def quiet_math_verify() -> None:
    """math-verify logs a warning for every expression it fails to parse or compare: silence it."""
    logging.getLogger("math_verify").setLevel(logging.CRITICAL + 1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- data


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def boxed(answer: str) -> str:
    return "<answer>\\boxed{" + answer + "}</answer>"


def perturb(answer: str, index: int) -> str | None:
    """Increase one number of ``answer`` by one (chosen with seed ``index``); None without digits."""
    nums = list(re.finditer(r"\d+", answer))
    if not nums:
        return None
    m = random.Random(index).choice(nums)
    return answer[: m.start()] + str(int(m.group(0)) + 1) + answer[m.end() :]


def real_pairs(answers: Sequence[str]) -> tuple[list[Pair], list[Pair]]:
    """Self pairs (should verify) and perturbed pairs (should not) for the real answers."""
    selfs = [(ans, boxed(ans)) for ans in answers]
    perturbed = []
    for index, ans in enumerate(answers):
        changed = perturb(ans, index)
        if changed is not None:
            perturbed.append((ans, boxed(changed)))
    return selfs, perturbed


def mixed_pairs(pool: Sequence[Pair], n: int) -> list[Pair]:
    """``n`` pairs: the pool shuffled with a fixed seed, then cycled."""
    shuffled = list(pool)
    random.Random(SEED).shuffle(shuffled)
    return [shuffled[i % len(shuffled)] for i in range(n)]


# ------------------------------------------------------------------------------------------- formatting


def pct(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return sorted_values[int(rank) - 1]


# --------------------------------------------------------------------------------------------- measures


def agreement(cases: Sequence[dict], checkers: dict[str, Checker], calls: dict[str, Calls]) -> tuple[str, str]:
    """Table 1: agreement with the labels of math_cases, per category; and our disagreements, listed."""
    agree: dict[str, dict[str, int]] = {name: defaultdict(int) for name in checkers}
    sizes: dict[str, int] = defaultdict(int)
    ours_misses: list[dict] = []
    for i, case in enumerate(cases):
        category = case["category"]
        sizes[category] += 1
        want = case["expected"] == "correct"
        for name, checker in checkers.items():
            said = calls[name].run(checker, case["gold"], case["completion"])
            agree[name][category] += said == want
            if name == "ours" and said != want:
                ours_misses.append(case)
        if (i + 1) % 100 == 0:
            log(f"  math_cases {i + 1}/{len(cases)}")
    rows = []
    for category in sorted(sizes):
        row: list[object] = [category, sizes[category]]
        for name in checkers:
            row += [agree[name][category], pct(agree[name][category], sizes[category])]
        rows.append(row)
    row = ["**total**", len(cases)]
    for name in checkers:
        hits = sum(agree[name].values())
        row += [f"**{hits}**", f"**{pct(hits, len(cases))}**"]
    rows.append(row)
    header = ["category", "cases"]
    for name in checkers:
        header += [f"{name} agree", f"{name} %"]

    misses = []
    for case in ours_misses:  # re-run, untimed, for the verdict's status and reason
        verdict = verify_math(case["gold"], case["completion"])
        gold = case["gold"] if len(case["gold"]) <= 40 else case["gold"][:37] + "..."
        reason = verdict.reason if len(verdict.reason) <= 60 else verdict.reason[:57] + "..."
        misses.append([case["category"], f"`{gold}`", case["expected"], verdict.status,
                       reason.replace("|", "\\|"), case.get("note", "")])
    missed = table(["category", "gold", "expected", "ours", "reason", "note"], misses) if misses else "none"
    return table(header, rows), missed


def real_answers(selfs: Sequence[Pair], perturbed: Sequence[Pair], checkers: dict[str, Checker],
                 calls: dict[str, Calls]) -> str:
    """Table 2: self pairs verified, perturbed pairs rejected, slow calls, total time."""
    rows = []
    for name, checker in checkers.items():
        log(f"  real answers: {name}")
        record = Calls()
        verified = sum(record.run(checker, gold, completion) for gold, completion in selfs)
        rejected = sum(not record.run(checker, gold, completion) for gold, completion in perturbed)
        calls[name].seconds += record.seconds
        calls[name].errors += record.errors
        rows.append([
            name,
            f"{verified}/{len(selfs)}", pct(verified, len(selfs)),
            f"{rejected}/{len(perturbed)}", pct(rejected, len(perturbed)),
            sum(s > 1 for s in record.seconds), sum(s > 2 for s in record.seconds),
            f"{sum(record.seconds):.1f}",
        ])
    header = ["checker", "self verified", "%", "perturbed rejected", "%", "calls > 1 s", "calls > 2 s",
              "total s"]
    return table(header, rows)


def latency(calls: dict[str, Calls]) -> str:
    """Table 3: time per verification over every call of tables 1 and 2."""
    rows = []
    for name, record in calls.items():
        seconds = sorted(record.seconds)
        mean = sum(seconds) / len(seconds)
        rows.append([name, len(seconds), f"{1e3 * percentile(seconds, 50):.2f}", f"{1e3 * mean:.2f}",
                     f"{1e3 * percentile(seconds, 99):.1f}", f"{1e3 * seconds[-1]:.0f}"])
    return table(["checker", "calls", "median ms", "mean ms", "p99 ms", "worst ms"], rows)


def throughput(pairs: Sequence[Pair], checkers: dict[str, Checker], workers: int = 2) -> str:
    """Table 4: pairs per second, sequential for both and ``verify_math_batch`` for ours."""
    results: list[tuple[str, str, float]] = []
    for name, checker in checkers.items():
        log(f"  throughput: {name}, sequential, {len(pairs)} pairs")
        record = Calls()
        start = time.perf_counter()
        for gold, completion in pairs:
            record.run(checker, gold, completion)
        results.append((name, "sequential, 1 process", time.perf_counter() - start))
    log(f"  throughput: ours, verify_math_batch(workers={workers}), {len(pairs)} pairs")
    start = time.perf_counter()
    verify_math_batch(pairs, workers=workers)
    results.append(("ours", f"verify_math_batch(pairs, workers={workers})", time.perf_counter() - start))

    peer_seconds = next(seconds for name, _, seconds in results if name == "math-verify")
    rows = []
    for name, mode, seconds in results:
        rows.append([name, mode, len(pairs), f"{seconds:.1f}", f"{len(pairs) / seconds:,.0f}",
                     f"{peer_seconds / seconds:.1f}×"])
    return table(["checker", "mode", "pairs", "seconds", "pairs/s", "ours / math-verify"], rows)


def free_form(cases: Sequence[dict], peer: Checker) -> tuple[str, str]:
    """Table 5: agreement with the labels of the wild corpus, per class; and our lenient disagreements."""
    checkers = [("ours strict", ours, "expected_strict"), ("ours lenient", ours_lenient, "expected"),
                ("math-verify", peer, "expected")]
    agree: dict[str, dict[str, int]] = {name: defaultdict(int) for name, _, _ in checkers}
    sizes: dict[str, int] = defaultdict(int)
    misses = []
    for case in cases:
        sizes[case["class"]] += 1
        for name, checker, key in checkers:
            want = case.get(key, case["expected"]) == "correct"
            said = Calls().run(checker, case["gold"], case["completion"])
            agree[name][case["class"]] += said == want
            if name == "ours lenient" and said != want:
                verdict = verify_math(case["gold"], case["completion"], extraction="lenient")
                misses.append([case["class"], f"`{case['gold'][:40]}`", case["expected"], verdict.status,
                               verdict.reason[:60].replace("|", "\\|")])
    rows = []
    for klass in sorted(sizes):
        rows.append([klass, sizes[klass], *(f"{agree[name][klass]} ({pct(agree[name][klass], sizes[klass])})"
                                            for name, _, _ in checkers)])
    rows.append(["**total**", len(cases), *(f"**{sum(agree[n].values())}** ({pct(sum(agree[n].values()), len(cases))})"
                                            for n, _, _ in checkers)])
    header = ["class", "cases", *(name for name, _, _ in checkers)]
    missed = table(["class", "gold", "expected", "ours lenient", "reason"], misses) if misses else "none"
    return table(header, rows), missed


# ------------------------------------------------------------------------------------------------- main


def header_line(argv: Sequence[str]) -> str:
    command = shlex.join([sys.executable, *argv])
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    mv_version = importlib.metadata.version("math-verify")
    machine = f"{platform.platform()}, {platform.machine()}, os.cpu_count()={os.cpu_count()}"
    return (f"Command: `{command}` · date: {when} · Python {platform.python_version()} · "
            f"math-verify {mv_version} · machine: {machine}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=None,
                        help="mixed pairs for the throughput table (default 10000; 1000 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_PAIRS} throughput pairs and only the first {QUICK_REAL} real answers")
    parser.add_argument("--peer-gold", choices=["delimit", "if-empty"], default="delimit",
                        help="how math-verify gets a gold without $...$: wrapped in $...$ (default), "
                             "or wrapped only when the bare parse(gold) is empty")
    parser.add_argument("--free-form", action="store_true",
                        help="only table 5 (free-form outputs, a few seconds)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "verify_math.md",
                        help="Markdown file for the tables (default bench/results/verify_math.md)")
    args = parser.parse_args(argv)
    n_pairs = args.pairs if args.pairs is not None else (QUICK_PAIRS if args.quick else 10_000)

    quiet_math_verify()
    checkers: dict[str, Checker] = {"ours": ours, "math-verify": make_peer(args.peer_gold)}
    head = header_line([sys.argv[0], *argv])
    cases = load_jsonl(CASES)
    wild = load_jsonl(WILD)
    if args.free_form:
        t5, missed5 = free_form(wild, checkers["math-verify"])
        report = "\n\n".join(["# Free-form outputs: rlvr strict and lenient vs math-verify", head, t5,
                               "Cases where ours (lenient) disagrees with the label:", missed5]) + "\n"
        print(report)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
        return 0
    answers = [row["answer"] for row in load_jsonl(REAL)]
    if args.quick:
        answers = answers[:QUICK_REAL]
    selfs, perturbed = real_pairs(answers)
    pool = [(case["gold"], case["completion"]) for case in cases] + selfs + perturbed
    pairs = mixed_pairs(pool, n_pairs)
    log(f"{len(cases)} math cases, {len(selfs)} real answers ({len(perturbed)} with digits), "
        f"{len(pairs)} throughput pairs from a pool of {len(pool)}")

    for checker in checkers.values():  # warm-up, untimed
        checker("\\frac{1}{2}", "<answer>\\boxed{0.5}</answer>")

    calls = {name: Calls() for name in checkers}
    run_start = time.perf_counter()
    log("table 1: math_cases agreement")
    t1, missed = agreement(cases, checkers, calls)
    log("table 2: real answers")
    t2 = real_answers(selfs, perturbed, checkers, calls)
    t3 = latency(calls)
    log("table 4: throughput")
    t4 = throughput(pairs, checkers)
    log("table 5: free-form outputs")
    t5, missed5 = free_form(wild, checkers["math-verify"])
    elapsed = time.perf_counter() - run_start

    errors = []
    for name, record in calls.items():
        first = f", first: `{record.errors[0]}`" if record.errors else ""
        errors.append(f"- {name}: {len(record.errors)}{first}")
    gold_rule = ("wrapped in `$...$` when it has no `$`, `\\(`, `\\[`, `\\boxed` or `\\fbox`"
                 if args.peer_gold == "delimit" else "wrapped in `$...$` only when `parse(gold)` is empty")
    report = "\n\n".join([
        "# Math answer verification: rlvr vs math-verify",
        head,
        f"ours: `verify_math(gold, completion)` (1 s budget). math-verify: "
        f"`verify(parse(gold), parse(completion))` with its defaults; gold {gold_rule}.",
        f"## 1. Agreement with the labels of `tests/data/math_cases.jsonl` ({len(cases)} cases)\n\n"
        "Agrees: expected `correct` and the checker says correct, or expected `incorrect`/`no_answer` "
        "and it does not.",
        t1,
        "Cases where ours disagrees with the label:",
        missed,
        f"## 2. Real answers (`tests/data/real_answers.jsonl`, {len(selfs)} answers)\n\n"
        "Self: gold = the answer as written, completion = `<answer>\\boxed{ANSWER}</answer>`. "
        "Perturbed: one number of the boxed answer increased by one (answers with digits only).",
        t2,
        "## 3. Time per verification (all calls of tables 1 and 2)",
        t3,
        f"## 4. Throughput on {len(pairs)} mixed pairs (seeded shuffle of a pool of {len(pool)}, cycled)\n\n"
        "The batch time includes starting the process pool (spawn).",
        t4,
        f"## 5. Free-form outputs (`tests/data/wild_cases.jsonl`, {len(wild)} labelled outputs)\n\n"
        "Outputs in the formats real models write (Minerva's closing sentence, boxed answers after "
        "`</think>`, chat-template residue, `**Answer:**`, GSM8K `####`, ...). Agrees: the checker says correct "
        "exactly when the label is `correct`; ours strict is held to the strict labels (what a reward pays), "
        "ours lenient and math-verify to the lenient labels (what a reader finds).",
        t5,
        "Cases where ours (lenient) disagrees with the label:",
        missed5,
        "Exceptions raised in tables 1-3 (counted as not correct):\n\n" + "\n".join(errors),
        f"Benchmark wall time: {elapsed:.0f} s.",
    ]) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    log(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
