"""``rlvr serve-rewards``: the routes, OpenRLHF's protocol, bad and hostile requests answered 4xx while the
others keep being served, a dead worker replaced, and a load test of 32 clients on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifiers.registry import _USER, VERIFIERS, register_verifier
from verifiers.verdict import Verdict

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402

from verifiers.server import ServerConfig, build_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RIGHT = "<think>2 + 3 = 5</think>\n<answer>5</answer>"
WRONG = "<think>2 + 3 = 6</think>\n<answer>6</answer>"


@pytest.fixture(scope="module")
def client():
    config = ServerConfig(workers=2, max_samples=64, max_chars=5000, timeout=30.0, max_body=1 << 20)
    with TestClient(build_app(config)) as c:
        yield c


def test_score_by_row_and_by_gold(client):
    countdown = {"answer": "12 + 5 + 4", "verifier": "countdown", "meta": {"numbers": [5, 4, 12], "target": 21}}
    reply = client.post("/score", json={
        "completions": [RIGHT, WRONG, "<think>x</think><answer>4 + 12 + 5</answer>", "no answer here, sorry"],
        "problems": ["5", {"answer": "5"}, countdown, "5"]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["rewards"] == [2.0, 1.0, 2.0, None]
    assert [r["status"] for r in body["results"]] == ["correct", "incorrect", "correct", "no_answer"]


def test_rewards_by_name_with_weights_and_groups(client):
    completions = ["<answer>5</answer>", "<think>long " + "x" * 40 + "</think><answer>5</answer>", WRONG]
    reply = client.post("/score", json={"completions": completions, "problem": "5",
                                        "rewards": {"accuracy": 1, "length": 0.5}}).json()
    assert reply["rewards"] == [1.25, 0.75, 0.0]  # length is a group reward: the shortest right one wins
    assert client.post("/score", json={"completions": [RIGHT], "problem": "5", "rewards": "format=0.5"}
                       ).json()["rewards"] == [0.5]
    inside = "2 + 3 = 5</think>\n<answer>5</answer>"
    assert client.post("/score", json={"completions": [inside], "problem": "5", "think_in_prompt": True}
                       ).json()["rewards"] == [2.0]


def test_openrlhf_protocol(client):
    prompt = "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    label = json.dumps({"answer": "5", "verifier": "math"})
    reply = client.post("/get_reward", json={"query": [prompt + RIGHT + "<|im_end|>", prompt + WRONG + "<|im_end|>"],
                                             "prompts": [prompt, prompt], "labels": [label, "5"]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["rewards"] == [2.0, 1.0] and body["scores"] == [1.0, 0.0]
    assert body["extra_logs"]["accuracy"] == [1.0, 0.0] and body["extra_logs"]["unjudged"] == [0.0, 0.0]


BAD = [
    ("/score", b"{not json", 400, "not JSON"),
    ("/score", b"[1, 2]", 400, "JSON object"),
    ("/score", b"[" * 100_000 + b"]" * 100_000, 400, "not JSON"),  # nesting past the parser's depth
    ("/score", json.dumps({"completions": "x", "problem": "5"}).encode(), 400, "list of strings"),
    ("/score", json.dumps({"completions": [1], "problem": "5"}).encode(), 400, "completions[0] must be a string"),
    ("/score", json.dumps({"completions": ["a"]}).encode(), 400, "give 'problems'"),
    ("/score", json.dumps({"completions": ["a", "b"], "problems": ["5"]}).encode(), 400, "one problem per"),
    ("/score", json.dumps({"completions": ["a"], "problems": [{"verifier": "nope"}]}).encode(), 400,
     "problems[0]: verifier 'nope'"),
    ("/score", json.dumps({"completions": ["a"], "problem": "5", "rewards": "acuracy"}).encode(), 400,
     "unknown reward 'acuracy'"),
    ("/score", json.dumps({"completions": ["a"] * 65, "problem": "5"}).encode(), 413, "at most 64"),
    ("/score", json.dumps({"completions": ["x" * 5001], "problem": "5"}).encode(), 413, "completions[0] has 5,001"),
    ("/score", b"{" + b" " * (2 << 20) + b"}", 413, "at most"),
    ("/score", json.dumps({"completions": ["a"], "problem": {"verifier": "countdown", "meta": "{"}}).encode(), 400,
     "cannot be judged"),
    ("/get_reward", json.dumps({"query": ["a", "b"], "prompts": ["a"], "labels": ["1", "2"]}).encode(), 400,
     "2 queries, 1 prompts and 2 labels"),
    ("/get_reward", json.dumps({"query": ["a"]}).encode(), 400, "'labels' must be a list"),
]


@pytest.mark.parametrize("path,body,status,reason", BAD, ids=[b[3] for b in BAD])
def test_bad_requests_get_4xx_with_a_reason(client, path, body, status, reason):
    reply = client.post(path, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == status, reply.text[:300]
    assert reason in reply.json()["error"]
    assert client.post("/score", json={"completions": [RIGHT], "problem": "5"}).json()["rewards"] == [2.0]


def test_a_hostile_completion_within_bounds_is_a_verdict_not_a_failure(client):
    hostile = ["<answer>" + "(" * 3000 + "</answer>", "<answer>" + "\\frac{" * 800 + "</answer>",
               "<answer>9" + "^9" * 500 + "</answer>", "\x00\x01\x02", "<answer>" * 600]
    reply = client.post("/score", json={"completions": hostile, "problem": "5"})
    assert reply.status_code == 200
    assert all(r["correct"] is not True for r in reply.json()["results"])


def crash(completion: str, problem: dict) -> Verdict:
    os._exit(3)  # a worker killed mid-job (out of memory, say)


def test_a_dead_worker_is_replaced():
    register_verifier("crash", crash)
    try:
        with TestClient(build_app(ServerConfig(workers=1, timeout=60.0))) as c:
            assert c.post("/score", json={"completions": ["x"], "problems": [{"verifier": "crash"}]}).status_code == 503
            for _ in range(2):
                assert c.post("/score", json={"completions": [RIGHT], "problem": "5"}).json()["rewards"] == [2.0]
    finally:
        VERIFIERS.pop("crash"), _USER.pop("crash")


def test_cli_does_not_import_torch():
    code = ("import sys\nfrom train.cli import main\n"
            "for command in ('serve-rewards', 'check-data'):\n"
            "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "--max-chars" in done.stdout and "--strict" in done.stdout
    assert done.stdout.strip().endswith("False")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_load_32_clients_on_loopback():
    """32 clients, 8 requests each (OpenRLHF's and rlvr's routes), every third client also sending bad and
    hostile requests: every good request answered 200 with the right rewards, every bad one 4xx."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "train", "serve-rewards", "--port", str(port), "--workers", "2",
                               "--max-chars", "20000"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(server.stderr.read().decode()[-2000:]) from None
                time.sleep(0.2)
        failures: list[str] = []
        lock = threading.Lock()

        def client(k: int) -> int:
            sent = 0
            with httpx.Client(base_url=url, timeout=60) as http:
                for r in range(8):
                    a, b = k + r, k * r % 7
                    gold = str(a + b)
                    if r % 2:
                        prompt = f"User: {a} + {b}?\nAssistant:"
                        reply = http.post("/get_reward", json={
                            "query": [prompt + f" <think>sum</think> <answer>{gold}</answer></s>"] * 8
                            + [prompt + f" <think>sum</think> <answer>{a + b + 1}</answer></s>"] * 8,
                            "prompts": [prompt] * 16, "labels": [gold] * 16})
                        ok = reply.status_code == 200 and reply.json()["scores"] == [1.0] * 8 + [0.0] * 8
                    else:
                        reply = http.post("/score", json={"completions": [f"<think>s</think><answer>{gold}</answer>"] * 16,
                                                          "problem": gold})
                        ok = reply.status_code == 200 and reply.json()["rewards"] == [2.0] * 16
                    sent += 1
                    if not ok:
                        with lock:
                            failures.append(f"client {k} request {r}: {reply.status_code} {reply.text[:200]}")
                    if k % 3 == 0:
                        bad = http.post("/score", content=[b"{oops", b"[" * 50_000][r % 2])
                        hostile = http.post("/score", json={"completions": ["<answer>" + "(" * 30_000], "problem": "1"})
                        if bad.status_code != 400 or hostile.status_code != 413:
                            with lock:
                                failures.append(f"client {k}: bad {bad.status_code}, hostile {hostile.status_code}")
            return sent

        with ThreadPoolExecutor(32) as pool:
            sent = sum(pool.map(client, range(32)))
        assert failures == []
        assert sent == 32 * 8
        health = httpx.get(f"{url}/health").json()
        assert health["served"] == 32 * 8 and health["rejected"] == 2 * 8 * len(range(0, 32, 3))
    finally:
        server.terminate()
        server.wait(timeout=30)
