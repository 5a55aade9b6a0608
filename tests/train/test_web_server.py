"""``rlvr serve`` as a process: Ctrl-C stops it cleanly in the middle of a reply, a server killed while people
label leaves every line of the pairs file whole (and a restart counts them all), a pick before both replies
are finished is refused, and bad flags or files are clear errors."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from train.cli import main as rlvr
from train.prefs import load_preferences
from train.template import PLAIN, render_prompt
from train.web.app import create_app

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def looping_run(tmp_path_factory, tokenizer, bigram_model):
    """A stage run folder whose model answers every plain-template prompt with x, x, x, ... and never stops."""
    from train.checkpoint import save_checkpoint

    x = tokenizer.encode("x")[0]
    last = tokenizer.encode(render_prompt("go", PLAIN))[-1]
    model = bigram_model(tokenizer, {last: x, x: x}, positions=4096)
    folder = tmp_path_factory.mktemp("looping") / "sft"
    tokenizer_file = tokenizer.save(folder.parent / "tokenizer.json")
    save_checkpoint(folder, 1, model=model, tokenizer_file=tokenizer_file,
                    config={"stage": "sft", "model": model.config.to_dict(), "train": {"template": "plain"}})
    return folder


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "train", "serve", "--port", "0", *args], cwd=PROJECT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # printed once it listens
    if not line.startswith("rlvr serve: http://"):
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    return proc, line.split()[2].rstrip("/")


def events_of(response) -> list[dict]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


def test_ctrl_c_stops_the_server_cleanly_mid_reply(looping_run, tmp_path):
    proc, url = start_server("--model", str(looping_run), "--pairs-out", str(tmp_path / "p.jsonl"),
                             "--max-new-tokens", "4000", "--max-context", "4096")
    seen: list[dict] = []
    first_token = threading.Event()

    def chat():
        with httpx.Client(base_url=url, timeout=60) as http, http.stream(
                "POST", "/api/chat", json={"message": "go", "max_tokens": 4000, "temperature": 0}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if seen[-1]["type"] == "token":
                        first_token.set()

    reader = threading.Thread(target=chat)
    reader.start()
    assert first_token.wait(60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    reader.join(timeout=30)
    assert proc.returncode == 0, err
    assert "rlvr serve: stopped" in out and "Traceback" not in err
    # the open reply (4000 tokens asked) ended at once with the reason, not a hang
    assert not reader.is_alive() and seen[-1] == {"type": "error", "error": "the server is shutting down"}
    assert len(seen) < 4000


def test_a_killed_server_leaves_every_label_line_whole(looping_run, tmp_path):
    pairs = tmp_path / "prefs.jsonl"
    proc, url = start_server("--model", str(looping_run), "--pairs-out", str(pairs))
    acknowledged = []
    stop = threading.Event()

    def label(who: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/api/compare/sample", json={"message": "go", "max_tokens": 3})
                    pair = events_of(response)[0]["id"]
                    picked = http.post("/api/compare/pick", json={"pair": pair, "pick": "A", "who": who})
                except httpx.TransportError:
                    return  # the server is gone
                if picked.status_code == 200:
                    acknowledged.append(who)

    people = [threading.Thread(target=label, args=(f"p{i}",)) for i in range(3)]
    for person in people:
        person.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no clean-up of any kind
    proc.communicate(timeout=30)
    stop.set()
    for person in people:
        person.join(timeout=30)
    data = pairs.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.splitlines()]
    assert len(rows) >= len(acknowledged) >= 12  # every acknowledged pick is there
    assert all(r["chosen"] == r["rejected"] == "xxx" and r["prompt"] == render_prompt("go", PLAIN) for r in rows)
    assert len(load_preferences(pairs)) == len(rows)
    # a new server reads the file back and counts every pair
    proc, url = start_server("--pairs-out", str(pairs))
    try:
        assert httpx.get(f"{url}/api/compare/state").json()["pairs"] == len(rows)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_a_pick_before_both_replies_are_finished_is_refused(live_server, scripted_generator, tmp_path):
    slow = scripted_generator([["a"] * 40], delay=0.05)
    url = live_server(create_app(generator=slow, pairs_out=tmp_path / "p.jsonl"))
    with httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", "/api/compare/sample", json={"message": "hi", "max_tokens": 40}) as response:
            lines = (json.loads(line[6:]) for line in response.iter_lines() if line)
            first = next(lines)
            assert first["type"] == "pair"
            early = http.post("/api/compare/pick", json={"pair": first["id"], "pick": "A"})
            assert early.status_code == 409 and "not finished" in early.json()["error"]
            assert [event["type"] for event in lines][-1] == "ready"
        assert http.post("/api/compare/pick", json={"pair": first["id"], "pick": "A"}).status_code == 200


@pytest.mark.parametrize(("args", "says"), [
    (["--host", "0.0.0.0"], "pass --token"),
    (["--token", "short"], "--token: 8 to 256 characters"),
    (["--port", "70000"], "--port must lie in"),
    (["--model", "no/such/folder"], "no such model folder"),
])
def test_bad_flags_are_clear_errors(args, says, capsys):
    assert rlvr(["serve", *args]) == 2
    assert says in capsys.readouterr().err


def test_a_pipeline_folder_names_its_stages(web_run, capsys):
    assert rlvr(["serve", "--model", str(web_run / "demo"), "--runs", str(web_run)]) == 2
    err = capsys.readouterr().err
    assert "is a pipeline run: name one of its stages" in err and "sft" in err


def test_a_labels_file_that_is_not_jsonl_is_named_with_its_line(tmp_path, capsys):
    pairs = tmp_path / "prefs.jsonl"
    pairs.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\nnot json\n')
    assert rlvr(["serve", "--pairs-out", str(pairs), "--runs", str(tmp_path)]) == 2
    assert f"{pairs}:2: not a JSON line" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert rlvr(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
