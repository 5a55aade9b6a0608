"""The web app at the ASGI level: every endpoint, chats with a real tiny model (batched when concurrent),
verdicts, Compare's pairs in TRL's columns with resume, the Runs API, the token and Host checks, path
traversal, and oversized or malformed requests (always a 4xx with a reason, never a 500)."""

import asyncio
import json
import os

import httpx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from train.prefs import load_preferences
from train.template import PLAIN, render_prompt
from train.web.app import Limits, create_app
from train.web.bridge import EngineBridge
from train.web.serve import ServeConfig, load_generator, trained_template

pytestmark = pytest.mark.usefixtures("one_thread")
LOCAL = "http://127.0.0.1"


def sse(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


@pytest.fixture(scope="module")
def model_dir(web_run):
    return str(web_run / "demo" / "sft")


@pytest.fixture(scope="module")
def tiny(model_dir):
    """The run's tiny random model behind the real bridge, loaded as rlvr serve loads it."""
    bridge = load_generator(model_dir, ServeConfig(model=model_dir, device="cpu", max_new_tokens=64, max_context=256))
    yield bridge
    bridge.close()


@pytest.fixture(scope="module")
def scripted(tokenizer, bigram_model):
    """A model that answers every plain-template prompt with ``<think>2+3</think><answer>5</answer>``."""
    ids = tokenizer.special_ids()
    last = tokenizer.encode(render_prompt("anything", PLAIN))[-1]
    digit = {d: tokenizer.encode(str(d))[0] for d in range(10)}
    script = [ids["<think>"], digit[2], tokenizer.encode("+")[0], digit[3], ids["</think>"], ids["<answer>"], digit[5],
              ids["</answer>"]]
    bridge = EngineBridge(bigram_model(tokenizer, dict(zip([last, *script], script))), tokenizer, name="scripted",
                          max_new_tokens=32, max_context=128)
    yield bridge
    bridge.close()


PROBLEMS = [{"id": f"q{i}", "task": "arithmetic", "prompt": f"What is {i} + 3?", "answer": str(i + 3),
             "verifier": "math"} for i in range(3)]


@pytest.fixture
def client(tiny, web_run, tmp_path):
    app = create_app(generator=tiny, runs=web_run, pairs_out=tmp_path / "prefs.jsonl", problems=PROBLEMS,
                     template="plain")
    return TestClient(app, base_url=LOCAL)


# ---------------------------------------------------------------------------------------------- pages and info

def test_pages_and_static_files_are_served_with_strict_headers(client):
    assert client.get("/", follow_redirects=False).headers["location"] == "/chat"
    for page in ("chat", "compare", "runs"):
        response = client.get(f"/{page}")
        assert response.status_code == 200 and f'data-page="{page}"' in response.text
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
    for name in ("common.js", "chat.js", "compare.js", "runs.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # nothing on the pages comes from elsewhere, and model text is never parsed as HTML
    from train.web.app import STATIC

    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text


def test_info_names_the_model_and_the_limits(client, model_dir):
    info = client.get("/api/info").json()
    assert info["models"] == [model_dir] and info["template"] == "plain" and info["max_new_tokens"] == 64
    assert {"r1_zero", "plain"} <= info["templates"].keys() and "math" in info["verifiers"]
    assert info["problems"] == 3 and info["pairs_out"].endswith("prefs.jsonl")


def test_the_run_records_the_template_the_model_was_trained_with(model_dir):
    assert trained_template(model_dir) == "plain"  # from the stage's checkpoint config
    assert trained_template(os.path.join(model_dir, "final")) == "plain"  # the export beside it


def test_a_model_trained_with_a_template_of_its_own_is_offered_it(tiny, tmp_path):
    client = TestClient(create_app(generator=tiny, pairs_out=tmp_path / "p.jsonl", template="Q: {prompt}\nA:"),
                        base_url=LOCAL)
    info = client.get("/api/info").json()
    assert info["template"] == "custom" and info["templates"]["custom"] == "Q: {prompt}\nA:"
    pair, _ = sample_pair(client, message="2 + 3?", template="custom")
    client.post("/api/compare/pick", json={"pair": pair, "pick": "tie"})
    row = json.loads((tmp_path / "p.ties.jsonl").read_text())
    assert row["prompt"] == "Q: 2 + 3?\nA:" and row["template"] == "custom"


def test_a_hugging_face_folder_chats_like_the_run_it_came_from(tiny, model_dir):
    final = os.path.join(model_dir, "final")
    hf = load_generator(final, ServeConfig(model=final, device="cpu", max_new_tokens=64, max_context=256))
    try:
        replies = []
        for generator in (tiny, hf):
            client = TestClient(create_app(generator=generator, template="plain"), base_url=LOCAL)
            replies.append(sse(client.post("/api/chat", json={"message": "2 + 3?", "temperature": 0,
                                                              "max_tokens": 10}))[-1]["text"])
        assert replies[0] == replies[1]
    finally:
        hf.close()


# ---------------------------------------------------------------------------------------------- chat

def test_a_chat_streams_tokens_of_the_real_tiny_model(client, tiny):
    events = sse(client.post("/api/chat", json={"message": "What is 2 + 3?", "temperature": 0, "max_tokens": 12}))
    assert events[0]["type"] == "start"
    tokens = [e for e in events if e["type"] == "token"]
    done = events[-1]
    assert done["type"] == "done" and 1 <= done["n"] <= 12 and len(tokens) == done["n"]
    assert "".join(e["text"] for e in tokens) == done["text"]
    # what the engine alone writes for the templated prompt
    from train.engine import Engine

    alone = Engine(tiny.model, tiny.tokenizer, stop_ids=sorted(tiny.stop_ids)).generate(
        [render_prompt("What is 2 + 3?", PLAIN)], max_new_tokens=12, temperature=0)[0]
    assert done["text"] == alone.text


def test_a_gold_answer_brings_the_verdict_with_its_reason(scripted, tmp_path):
    client = TestClient(create_app(generator=scripted, template="plain"), base_url=LOCAL)
    right = sse(client.post("/api/chat", json={"message": "What is 2 + 3?", "temperature": 0, "gold": "5"}))
    assert right[-2]["text"] == "<think>2+3</think><answer>5</answer>" and right[-2]["thought"] == 3
    assert right[-1] == {"type": "verdict", "status": "correct", "reason": right[-1]["reason"], "extracted": "5"}
    wrong = sse(client.post("/api/chat", json={"message": "2 + 3?", "temperature": 0, "gold": "6"}))
    assert wrong[-1]["type"] == "verdict" and wrong[-1]["status"] == "incorrect" and wrong[-1]["reason"]
    plain = sse(client.post("/api/chat", json={"message": "2 + 3?", "temperature": 0}))
    assert plain[-1]["type"] == "done"  # no gold: no verdict
    # a verifier that cannot judge from a gold alone says so
    odd = sse(client.post("/api/chat", json={"message": "2 + 3?", "temperature": 0, "gold": "5",
                                             "verifier": "countdown"}))
    assert odd[-1]["type"] == "verdict" and odd[-1]["status"] not in ("correct", "incorrect") and odd[-1]["reason"]


def test_concurrent_chats_are_decoded_in_one_batch(tokenizer, bigram_model):
    x = tokenizer.encode("x")[0]
    last = tokenizer.encode(render_prompt("x", PLAIN))[-1]
    bridge = EngineBridge(bigram_model(tokenizer, {last: x, x: x}), tokenizer, rows=8, max_context=128)
    app = create_app(generator=bridge, template="plain")

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL, timeout=60) as http:
            return await asyncio.gather(*[http.post("/api/chat", json={"message": "x", "temperature": 0,
                                                                       "max_tokens": 80}) for _ in range(8)])

    responses = asyncio.run(main())
    bridge.close()
    assert [sse(r)[-1]["text"] for r in responses] == ["x" * 80] * 8
    # one at a time would take 8 x 79 steps
    assert bridge.stats["max_rows"] > 1 and bridge.stats["steps"] < 3 * 80


# ---------------------------------------------------------------------------------------------- compare

def sample_pair(client, **body) -> tuple[str, list[dict]]:
    events = sse(client.post("/api/compare/sample", json={"temperature": 1.0, "max_tokens": 8, **body}))
    assert events[0]["type"] == "pair" and events[-1] == {"type": "ready"}
    assert {e["side"] for e in events[1:-1]} == {"A", "B"}
    return events[0]["id"], events


def test_a_pick_is_appended_in_trls_columns_and_read_back_by_dpo(client, tmp_path):
    texts = {}
    while not all(text.strip() for text in texts.values()) or not texts:  # a random model may say nothing
        pair, events = sample_pair(client, message="What is 2 + 3?", gold="5")
        texts = {e["side"]: e["text"] for e in events if e["type"] == "done"}
    verdicts = {e["side"]: e for e in events if e["type"] == "verdict"}
    assert verdicts.keys() == {"A", "B"}
    result = client.post("/api/compare/pick", json={"pair": pair, "pick": "B", "who": "ana"}).json()
    assert result["pairs"] == 1 and result["by_who"] == {"ana": 1}
    [row] = [json.loads(line) for line in (tmp_path / "prefs.jsonl").read_text().splitlines()]
    assert row["prompt"] == render_prompt("What is 2 + 3?", PLAIN) and row["templated"]  # as the model saw it
    assert (row["chosen"], row["rejected"]) == (texts["B"], texts["A"]) and row["who"] == "ana"
    assert row["chosen_verdict"]["status"] == verdicts["B"]["status"] and row["rejected_verdict"]["reason"]
    assert row["model"] == row["rejected_model"] and row["when"].endswith("+00:00")
    assert load_preferences(tmp_path / "prefs.jsonl")[0]["chosen"] == texts["B"]
    # the same pair cannot be labelled twice; an unknown one is refused
    again = client.post("/api/compare/pick", json={"pair": pair, "pick": "A"})
    assert again.status_code == 404 and "sample again" in again.json()["error"]


def test_ties_and_both_bad_go_beside_the_pairs(client, tmp_path):
    for pick in ("tie", "both_bad"):
        pair, _ = sample_pair(client, message="2 + 2?")
        assert client.post("/api/compare/pick", json={"pair": pair, "pick": pick}).status_code == 200
    assert not (tmp_path / "prefs.jsonl").exists()
    rows = [json.loads(line) for line in (tmp_path / "prefs.ties.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["tie", "both_bad"] and all(r["who"] == "anonymous" for r in rows)
    assert {"prompt", "response_a", "response_b", "model_a", "verdict_b"} <= rows[0].keys()
    assert client.get("/api/compare/state").json()["no_preference"] == 2


def test_problems_come_in_order_and_a_session_resumes_where_it_stopped(tiny, tmp_path):
    def app():
        return TestClient(create_app(generator=tiny, pairs_out=tmp_path / "prefs.jsonl", problems=PROBLEMS,
                                     template="plain"),
                          base_url=LOCAL)

    client = app()
    first = client.get("/api/compare/next").json()
    assert first["problem"]["id"] == "q0" and first["remaining"] == 3
    pair, events = sample_pair(client, problem=0)
    assert any(e["type"] == "verdict" for e in events)  # judged by the problem's own verifier
    client.post("/api/compare/pick", json={"pair": pair, "pick": "A", "who": "bo"})
    # skipping q1 moves on to q2; then it wraps round to the one skipped
    assert client.get("/api/compare/next?after=1").json()["problem"]["id"] == "q2"
    resumed = app()  # a new server over the same file
    assert resumed.get("/api/compare/state").json()["pairs"] == 1
    nxt = resumed.get("/api/compare/next").json()
    assert nxt["problem"]["id"] == "q1" and nxt["remaining"] == 2
    row = json.loads((tmp_path / "prefs.jsonl").read_text())
    assert row["problem_id"] == "q0" and row["question"] == "What is 0 + 3?"


def test_an_empty_response_cannot_be_half_of_a_pair(tiny, tokenizer, bigram_model, tmp_path):
    last = tokenizer.encode(render_prompt("2 + 3?", PLAIN))[-1]
    silent = EngineBridge(bigram_model(tokenizer, {last: tokenizer.eos_id}), tokenizer, name="silent")
    client = TestClient(create_app(generator=silent, pairs_out=tmp_path / "p.jsonl", template="plain"),
                        base_url=LOCAL)
    pair, events = sample_pair(client, message="2 + 3?", temperature=0)
    assert [e["text"] for e in events if e["type"] == "done"] == ["", ""]
    refused = client.post("/api/compare/pick", json={"pair": pair, "pick": "A"})
    assert refused.status_code == 409 and "response A is empty" in refused.json()["error"]
    assert client.post("/api/compare/pick", json={"pair": pair, "pick": "both_bad"}).status_code == 200
    assert not (tmp_path / "p.jsonl").exists() and (tmp_path / "p.ties.jsonl").exists()
    silent.close()


def test_two_models_are_compared_blind(tiny, scripted, tmp_path):
    client = TestClient(create_app(generator=tiny, generator_b=scripted, pairs_out=tmp_path / "p.jsonl",
                                   template="plain"),
                        base_url=LOCAL)
    sides = set()
    for _ in range(12):
        pair, events = sample_pair(client, message="2 + 3?")
        texts = {e["side"]: e["text"] for e in events if e["type"] == "done"}
        scripted_side = next(side for side, text in texts.items() if text.startswith("<think>2+3"))
        sides.add(scripted_side)
        result = client.post("/api/compare/pick", json={"pair": pair, "pick": scripted_side}).json()
        assert result["models"][scripted_side] == "scripted"
    assert sides == {"A", "B"}  # the scripted model was on either side
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert all(r["model"] == "scripted" and r["rejected_model"] == tiny.name for r in rows)


# ---------------------------------------------------------------------------------------------- runs

def test_runs_are_listed_with_their_report_plots_and_stages(client):
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["demo"] and runs[0]["stages"] == ["sft", "grpo"]
    run = client.get("/api/run?run=demo").json()
    assert "| stage | accuracy |" in run["report"] and run["plots"] == ["loss.png"]
    assert [(s["name"], s["label"], s["metrics"], s["completions"]) for s in run["stages"]] == [
        ("sft", "SFT", True, True), ("grpo", "SFT + GRPO", True, True)]
    image = client.get("/api/file?run=demo&name=loss.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_metrics_come_from_an_offset_in_whole_lines(client, web_run):
    first = client.get("/api/metrics?run=demo&stage=sft").json()
    assert len(first["rows"]) == 20 and first["rows"][0] == {"step": 1, "loss": 2.0, "lr": 0.001}
    again = client.get(f"/api/metrics?run=demo&stage=sft&offset={first['offset']}").json()
    assert again["rows"] == [] and again["offset"] == first["offset"]
    path = web_run / "demo" / "sft" / "metrics.jsonl"
    original = path.read_bytes()
    try:
        with open(path, "ab") as f:
            f.write(b'{"step": 21, "loss": 0.1}\n{"step": 22, "lo')  # the run is writing line 22
        more = client.get(f"/api/metrics?run=demo&stage=sft&offset={first['offset']}").json()
        assert more["rows"] == [{"step": 21, "loss": 0.1}]
        path.write_bytes(original[:40] + b"\n")  # a resumed run cut the file back
        assert client.get(f"/api/metrics?run=demo&stage=sft&offset={more['offset']}").json()["reset"]
    finally:
        path.write_bytes(original)


def test_completions_filter_by_stage_task_and_verdict(client):
    def get(**params):
        return client.get("/api/completions", params={"run": "demo", **params}).json()

    everything = get()
    assert everything["total"] == 9 and everything["stages"] == ["sft", "grpo"]
    assert everything["tasks"] == ["arithmetic", "fractions"]
    assert everything["counts"] == {"correct": 7, "incorrect": 1, "unjudged": 1}
    wrong = get(verdict="incorrect")
    assert [(r["stage"], r["id"], r["status"]) for r in wrong["rows"]] == [("sft", "p1", "incorrect")]
    unjudged = get(verdict="unjudged", stage="sft")["rows"]
    assert [(r["id"], r["status"]) for r in unjudged] == [("p2", "no_answer")] and unjudged[0]["reason"]
    assert get(stage="grpo", task="fractions", verdict="correct")["total"] == 2
    page = get(offset=8, limit=5)
    assert len(page["rows"]) == 1 and page["total"] == 9


# ---------------------------------------------------------------------------------------------- safety

def test_every_request_needs_the_token_when_one_is_set(tiny, web_run, tmp_path):
    app = create_app(generator=tiny, runs=web_run, pairs_out=tmp_path / "p.jsonl", token="s3cret-token",
                     loopback=False)
    client = TestClient(app, base_url="http://10.0.0.5:8000")
    for path in ("/chat", "/static/chat.js", "/api/info", "/api/runs", "/api/file?run=demo&name=loss.png"):
        response = client.get(path)
        assert response.status_code == 401 and "token" in response.json()["error"], path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/chat", json={"message": "hi"}).status_code == 401
    assert client.get("/api/info", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/api/info", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/api/info?token=s3cret-token").status_code == 200
    # a page opened with ?token= sets a cookie and drops the token from the address
    opened = client.get("/runs?token=s3cret-token&x=1", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/runs?x=1"
    assert "HttpOnly" in opened.headers["set-cookie"] and "SameSite=Strict" in opened.headers["set-cookie"]
    assert client.get("/api/runs").status_code == 200  # the cookie now goes along
    client.cookies.clear()
    assert client.get("/api/runs").status_code == 401


def test_a_loopback_server_answers_only_to_a_loopback_host(client):
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "LOCALHOST:1"):
        assert client.get("/api/info", headers={"host": host}).status_code == 200, host
    for host in ("evil.example:8000", "127.0.0.1.evil.example", "[::2]:80", ""):
        response = client.get("/api/info", headers={"host": host})
        assert response.status_code == 400 and "localhost" in response.json()["error"], host


def test_nothing_outside_the_runs_folder_is_served(client, web_run, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.png").write_bytes(b"\x89PNG secret")
    (outside / "metrics.jsonl").write_text('{"step": 1, "secret": 1}\n')
    run = web_run / "demo"
    os.symlink(outside / "secret.png", run / "leak.png")
    os.symlink(outside, web_run / "linked-run")
    os.symlink(outside, run / "linked-stage")
    try:
        attempts = [
            "/api/file?run=demo&name=../../../../etc/passwd", "/api/file?run=demo&name=%2Fetc%2Fpasswd",
            "/api/file?run=../..&name=passwd", "/api/file?run=demo/..&name=loss.png",
            "/api/file?run=demo&name=leak.png", "/api/file?run=demo&name=report.md",
            "/api/file?run=demo&stage=../..&name=loss.png", "/api/file?run=linked-run&name=secret.png",
            "/api/metrics?run=demo&stage=linked-stage", "/api/metrics?run=demo&stage=..",
            "/api/metrics?run=linked-run&stage=.", "/api/run?run=..", "/api/run?run=/etc",
            "/api/completions?run=demo&stage=../../..",
            "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
        ]
        for path in attempts:
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert b"secret" not in response.content and b"root:" not in response.content, path
        assert "linked-run" not in [r["name"] for r in client.get("/api/runs").json()["runs"]]
        assert "linked-stage" not in [s["name"] for s in client.get("/api/run?run=demo").json()["stages"]]
    finally:
        for link in (run / "leak.png", web_run / "linked-run", run / "linked-stage"):
            link.unlink()


def test_oversized_requests_are_refused(client):
    big = client.post("/api/chat", content=json.dumps({"message": "x" * 70_000}),
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "at most 65536 bytes" in big.json()["error"]
    long = client.post("/api/chat", json={"message": "x" * 16_001})
    assert long.status_code == 400 and "message: at most 16000 characters" in long.json()["error"]
    tokens = client.post("/api/chat", json={"message": "hi", "max_tokens": 65})
    assert tokens.status_code == 400 and "max_tokens" in tokens.json()["error"]
    context = client.post("/api/chat", json={"message": "cat " * 400, "max_tokens": 64})
    assert context.status_code == 400 and "exceeds the context" in context.json()["error"]
    assert client.get("/api/completions?run=demo&limit=501").status_code == 400


@pytest.mark.parametrize(("body", "headers", "status", "says"), [
    (b"{not json", {"content-type": "application/json"}, 400, "malformed JSON"),
    (b"[1, 2]", {"content-type": "application/json"}, 400, "expected a JSON object"),
    (b'{"message": "hi"}', {"content-type": "text/plain"}, 415, "application/json"),
    (b'{"message": "hi"}', {}, 415, "application/json"),
    (b"\xff\xfe", {"content-type": "application/json"}, 400, "malformed JSON"),
    (b'{"message": 3}', {"content-type": "application/json"}, 400, "message: expected a string"),
    (b'{"message": "  "}', {"content-type": "application/json"}, 400, "message: empty"),
    (b'{}', {"content-type": "application/json"}, 400, "message: required"),
    (b'{"message": "hi", "temperature": NaN}', {"content-type": "application/json"}, 400, "temperature"),
    (b'{"message": "hi", "temperature": -1}', {"content-type": "application/json"}, 400, "temperature: must lie"),
    (b'{"message": "hi", "top_p": 0}', {"content-type": "application/json"}, 400, "top_p: must lie in (0"),
    (b'{"message": "hi", "top_k": 1.5}', {"content-type": "application/json"}, 400, "top_k: expected an integer"),
    (b'{"message": "hi", "max_tokens": true}', {"content-type": "application/json"}, 400, "max_tokens"),
    (b'{"message": "hi", "template": "nope"}', {"content-type": "application/json"}, 400, "template"),
    (b'{"message": "hi", "gold": "1", "verifier": "x"}', {"content-type": "application/json"}, 400, "verifier"),
])
def test_malformed_chats_get_a_4xx_with_the_reason(client, body, headers, status, says):
    response = client.post("/api/chat", content=body, headers=headers)
    assert response.status_code == status and says in response.json()["error"]


def test_malformed_queries_and_picks_get_a_4xx_with_the_reason(client):
    cases = [
        (client.get("/api/metrics?run=demo"), 400, "stage: required"),
        (client.get("/api/metrics?run=demo&stage=sft&offset=-1"), 400, "offset"),
        (client.get("/api/metrics?run=demo&stage=sft&offset=abc"), 400, "offset: expected an integer"),
        (client.get("/api/completions?run=demo&verdict=maybe"), 400, "verdict"),
        (client.get("/api/completions?run=nope"), 404, "no run 'nope'"),
        (client.get("/api/run"), 400, "run: required"),
        (client.get("/api/compare/next?after=7"), 400, "after"),
        (client.post("/api/compare/pick", json={"pair": "x", "pick": "C"}), 400, "pick: one of"),
        (client.post("/api/compare/pick", json={"pick": "A"}), 400, "pair: required"),
        (client.post("/api/compare/pick", json={"pair": "x", "pick": "A", "who": "w" * 65}), 400, "who"),
        (client.post("/api/compare/sample", json={"problem": 3}), 400, "problem: must lie"),
        (client.get("/api/chat"), 405, ""),
        (client.get("/api/nothing"), 404, ""),
    ]
    for response, status, says in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert says in response.json()["error"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/chat", "/api/compare/sample", "/api/compare/pick"]),
       body=st.dictionaries(st.sampled_from(["message", "temperature", "top_p", "top_k", "max_tokens", "gold",
                                             "verifier", "template", "pair", "pick", "who", "problem"]),
                            st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
                            | st.text(max_size=30) | st.lists(st.integers(), max_size=2), max_size=6))
def test_no_request_body_makes_a_server_error(client, path, body):
    body = {**body, "max_tokens": 2} if "max_tokens" not in body else body  # keep generation short
    response = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]


def test_without_a_model_or_runs_the_pages_say_what_to_pass(tmp_path):
    client = TestClient(create_app(), base_url=LOCAL)
    assert "--model" in client.post("/api/chat", json={"message": "hi"}).json()["error"]
    assert "--runs" in client.get("/api/runs").json()["error"]
    assert "--pairs-out" in client.get("/api/compare/state").json()["error"]
    empty = TestClient(create_app(runs=tmp_path / "no-such-folder"), base_url=LOCAL)
    assert empty.get("/api/runs").json()["runs"] == []


def test_the_app_stops_its_bridge_when_it_shuts_down(tokenizer):
    torch.manual_seed(0)
    from train.model import ModelConfig, Transformer

    model = Transformer(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=1, intermediate_size=16,
                                    max_position_embeddings=64))
    bridge = EngineBridge(model, tokenizer, rows=1)
    with TestClient(create_app(generator=bridge, limits=Limits(max_body=1024)), base_url=LOCAL) as client:
        assert client.post("/api/chat", content=b"x" * 2000, headers={"content-type": "application/json"}
                           ).status_code == 413
    assert not bridge._thread.is_alive()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/run", "/api/metrics", "/api/completions", "/api/file", "/api/compare/next"]),
       params=st.dictionaries(st.sampled_from(["run", "stage", "name", "offset", "limit", "verdict", "task", "after"]),
                              st.sampled_from(["demo", "sft", "grpo", ".", "..", "loss.png", "-1", "0", "1e3",
                                               "99999999999999999999", "correct", "%00", "a/b"]) | st.text(max_size=12),
                              max_size=5))
def test_no_query_makes_a_server_error(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code < 500, (params, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]
