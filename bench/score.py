"""Scoring throughput: ``rlvr score`` with accuracy + format on 2 workers, against the usual peer.

The work: 20,000 math completions in the R1 template (right answers, near misses, broken formats)
for GSM8K test problems and real benchmark answers, scored with ``accuracy`` and ``format``.

The peer: open-r1's recipe for the same two rewards, i.e. math-verify's ``parse``/``verify`` for
accuracy and a regex for format, run over a multiprocessing pool of the same size. math-verify
needs ~60 ms a pair, so by default the peer scores the first 2,000 completions of the same file
and both are reported in completions per second.

The server path: the same completions sent to ``rlvr serve-rewards`` (the same number of workers) by
32 concurrent clients on loopback, one request per problem's completions (``/score``, every problem
row sent with its completions), with the completions/s it sustains and each request's latency (p50,
p99), beside the in-process pool, in the same run.

    python bench/score.py                 # 20,000 completions; peer on 2,000
    python bench/score.py --n 2000 --peer-n 500
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifiers.rewards import Rubric  # noqa: E402
from verifiers.scoring import score_files  # noqa: E402

DATA = ROOT / "tests" / "data"


def build(n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Problems and n completions: 60% right, 25% wrong, 15% broken format or no answer."""
    rng = random.Random(seed)
    golds = []
    for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines():
        golds.append(json.loads(line)["answer"].rsplit("####", 1)[1].strip())
    for line in (DATA / "real_answers.jsonl").read_text().splitlines():
        answer = json.loads(line)["answer"]
        if answer and len(answer) < 200:
            golds.append(answer)
    problems = [{"id": f"q{k}", "prompt": "", "answer": g, "verifier": "math", "meta": "{}"}
                for k, g in enumerate(golds)]
    completions = []
    for k in range(n):
        p = problems[k % len(problems)]
        gold = p["answer"]
        roll = rng.random()
        if roll < 0.6:
            answer = gold
        elif roll < 0.85:
            answer = re.sub(r"\d+", lambda m: str(int(m.group(0)) + 1), gold, count=1) if re.search(r"\d", gold) else "0"
        else:
            answer = None
        think = "Let me work this out step by step. " * rng.randint(1, 20)
        if answer is None:
            text = f"<think>{think}" if rng.random() < 0.5 else f"{think} so it is {gold}"
        else:
            text = f"<think>{think}</think>\n<answer>\\boxed{{{answer}}}</answer>"
        completions.append({"id": p["id"], "completion": text})
    return problems, completions


# -- the peer: open-r1's accuracy and format rewards on math-verify

_FORMAT = re.compile(r"^<think>\n?.*?\n?</think>\s*<answer>\n?.*?\n?</answer>$", re.S)


def _peer_one(item: tuple[str, str]) -> tuple[float, float]:
    from math_verify import parse, verify

    gold, completion = item
    try:
        g = parse(f"${gold}$")
        a = parse(completion)
        acc = float(verify(g, a)) if g and a else 0.0
    except Exception:
        acc = 0.0
    return acc, float(bool(_FORMAT.match(completion)))


def run_peer(pairs: list[tuple[str, str]], workers: int) -> float:
    import logging

    logging.disable(logging.WARNING)
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        list(pool.imap(_peer_one, pairs, chunksize=16))
    return time.perf_counter() - start


# -- the server path: rlvr serve-rewards under 32 concurrent clients


def run_server(problems: list[dict], completions: list[dict], workers: int, clients: int = 32) -> dict:
    """Completions/s through the server and per-request latencies; the rewards checked against ``expected``."""
    import socket
    import subprocess
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "train", "serve-rewards", "--port", str(port),
                               "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        by_id = {p["id"]: p for p in problems}
        groups: dict[str, list[str]] = {}
        for c in completions:
            groups.setdefault(c["id"], []).append(c["completion"])
        requests = [{"completions": texts, "problem": by_id[key]} for key, texts in groups.items()]
        latencies: list[float] = []
        failed = []
        lock = threading.Lock()
        cursor = iter(range(len(requests)))

        def client(_: int) -> None:
            with httpx.Client(base_url=url, timeout=300) as http:
                for k in cursor:  # the clients share one queue of requests
                    begin = time.perf_counter()
                    reply = http.post("/score", json=requests[k])
                    took = time.perf_counter() - begin
                    with lock:
                        latencies.append(took)
                        if reply.status_code != 200:
                            failed.append(reply.status_code)

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        seconds = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()

    def pct(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"seconds": seconds, "requests": len(requests), "failed": len(failed), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "per_request": len(completions) / len(requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="completions to score (default 20000)")
    parser.add_argument("--peer-n", type=int, default=2_000, help="completions the peer scores (default 2000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-server", dest="server", action="store_false",
                        help="skip the server path (rlvr serve-rewards under 32 clients)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "score.md"))
    args = parser.parse_args()

    problems, completions = build(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        pfile, cfile = Path(tmp) / "problems.jsonl", Path(tmp) / "completions.jsonl"
        pfile.write_text("".join(json.dumps(p) + "\n" for p in problems))
        cfile.write_text("".join(json.dumps(c) + "\n" for c in completions))
        start = time.perf_counter()
        summary = score_files(pfile, cfile, Path(tmp) / "scores.jsonl", Rubric(["accuracy", "format"]),
                              workers=args.workers)
        ours = time.perf_counter() - start
    served = run_server(problems, completions, args.workers) if args.server else None
    by_id = {p["id"]: p["answer"] for p in problems}
    peer_pairs = [(by_id[c["id"]], c["completion"]) for c in completions[: args.peer_n]]
    peer = run_peer(peer_pairs, args.workers) if args.peer_n else float("nan")

    ours_rate, peer_rate = args.n / ours, args.peer_n / peer
    lines = [
        f"Command: `python bench/score.py --n {args.n} --peer-n {args.peer_n} --workers {args.workers}`; "
        f"{date.today()}; Python {platform.python_version()}; {platform.machine()}, {os.cpu_count()} cores.",
        "",
        "| scorer | completions | workers | seconds | completions/s |",
        "|---|---|---|---|---|",
        f"| rlvr `score_files` (accuracy + format, resumable output) | {args.n:,} | {args.workers} | {ours:.1f} "
        f"| {ours_rate:,.0f} |",
        f"| open-r1 style: math-verify accuracy + regex format | {args.peer_n:,} | {args.workers} | {peer:.1f} "
        f"| {peer_rate:,.0f} |",
    ]
    if served is not None:
        lines.append(f"| rlvr `serve-rewards` `/score`, 32 clients on loopback, {served['requests']:,} requests of "
                     f"{served['per_request']:.0f} (p50 {served['p50_ms']:.0f} ms, p99 {served['p99_ms']:.0f} ms, "
                     f"{served['failed']} failed) | {args.n:,} | {args.workers} | {served['seconds']:.1f} "
                     f"| {args.n / served['seconds']:,.0f} |")
    lines += [
        "",
        f"Ratio: rlvr scores **{ours_rate / peer_rate:.0f}x** as many completions per second.",
        "",
        "rlvr's summary of its run:",
        "",
        "```",
        str(summary),
        "```",
    ]
    report = "\n".join(lines)
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
