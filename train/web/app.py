"""The web app: three pages, a JSON API, and server-sent event streams, behind the safety checks.

Pages ``/chat``, ``/compare``, ``/runs`` (static HTML, CSS and JS from ``train/web/static``). API:

| route | what |
|---|---|
| ``GET /api/info`` | models, templates, verifiers, limits, where labels go, batching stats |
| ``POST /api/chat`` | one reply as events: ``start``, ``token``..., ``done``, then ``verdict`` with a gold answer |
| ``GET /api/compare/state`` | labels so far (pairs, ties and both-bad, per person) |
| ``GET /api/compare/next?after=I`` | the next problem of ``--problems`` not labelled yet, after index ``I`` |
| ``POST /api/compare/sample`` | two replies to one prompt as events tagged ``side`` A/B, then ``ready`` |
| ``POST /api/compare/pick`` | ``{"pair", "pick": A/B/tie/both_bad, "who"}``: appended to ``--pairs-out`` |
| ``GET /api/runs`` | the runs under ``--runs`` |
| ``GET /api/run?run=R`` | one run: report, results, plots, stages |
| ``GET /api/metrics?run=R&stage=S&offset=B`` | metrics rows from byte ``B`` on (live charts poll it) |
| ``GET /api/completions?run=R&stage=&task=&verdict=&offset=&limit=`` | judged held-out completions |
| ``GET /api/file?run=R&name=N[&stage=S]`` | a plot of a run |

Safety: with ``token`` set every request needs it (``Authorization: Bearer T``, the cookie the page gets
from ``/?token=T``, or ``?token=T``), else 401. Served on a loopback address, requests must name a
loopback host (no DNS rebinding). POST bodies must be JSON (a page of another site cannot send one
without the browser asking first) and at most ``Limits.max_body`` bytes. Bad requests get a 4xx JSON
``{"error": reason}``. Every response forbids scripts and styles from anywhere but the app itself.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from train.template import TEMPLATES, render_prompt, resolve_template
from train.web.bridge import Busy, RequestError, Sampling
from train.web.labels import LabelStore
from train.web.runs import IMAGE_TYPES, VERDICTS, NotFound, RunsDir

__all__ = ["Limits", "create_app", "judge_text"]

STATIC = Path(__file__).parent / "static"
PAGES = ("chat", "compare", "runs")
PICKS = ("A", "B", "tie", "both_bad")
COOKIE = "rlvr_token"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
HEADERS = {  # on every response
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask."""

    max_body: int = 64 * 1024  # bytes of a POST body
    max_message: int = 16_000  # characters of a message, a gold answer or a template
    max_name: int = 64  # characters of a labeller's name
    max_pairs_kept: int = 512  # sampled pairs waiting for a pick (the oldest are forgotten)


def judge_text(completion: str, problem: dict) -> dict:
    """The verdict of the problem's verifier as a dict (``status``, ``reason``, ``extracted``); a verifier
    that fails counts as could-not-judge with the error as the reason.

    >>> judge_text("<think>2+2</think> <answer>4</answer>", {"answer": "4", "verifier": "math"})["status"]
    'correct'
    """
    from verifiers import judge

    try:
        verdict = judge(completion, problem)
    except Exception as exc:  # a verifier's own failure (e.g. missing metadata) is a verdict, not a crash
        return {"status": "unparseable", "reason": f"the verifier failed: {exc}", "extracted": None}
    return {"status": verdict.status, "reason": verdict.reason, "extracted": verdict.extracted}


# ---------------------------------------------------------------------------------------------- requests

def _bad(reason: str, status: int = 400) -> HTTPException:
    return HTTPException(status, reason)


async def _json_body(request: Request, limits: Limits) -> dict:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise _bad(f"send JSON (Content-Type: application/json), not {media or 'nothing'}", 415)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limits.max_body):
        raise _bad(f"the body may hold at most {limits.max_body} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body:
            raise _bad(f"the body may hold at most {limits.max_body} bytes", 413)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad(f"expected a JSON object, got {type(data).__name__}")
    return data


def _text(body: dict, name: str, limit: int, *, required: bool = False, default: str = "") -> str:
    value = body.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise _bad(f"{name}: required")
        return default
    if not isinstance(value, str):
        raise _bad(f"{name}: expected a string, got {type(value).__name__}")
    if required and not value.strip():
        raise _bad(f"{name}: empty")
    if len(value) > limit:
        raise _bad(f"{name}: at most {limit} characters, got {len(value)}")
    return value


def _number(body: dict, name: str, default, low, high, *, integer: bool = False, open_low: bool = False):
    value = body.get(name, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value != value:
        raise _bad(f"{name}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        raise _bad(f"{name}: must lie in {'(' if open_low else '['}{low}, {high}], got {value}")
    return value


def _sampling(body: dict, cap: int, default_temperature: float) -> Sampling:
    return Sampling(temperature=float(_number(body, "temperature", default_temperature, 0, 5)),
                    top_p=float(_number(body, "top_p", 1.0, 0, 1, open_low=True)),
                    top_k=_number(body, "top_k", 0, 0, 1_000_000, integer=True),
                    max_new_tokens=_number(body, "max_tokens", min(256, cap), 1, cap, integer=True))


def _template(body: dict, templates: dict[str, str], default: str, limits: Limits) -> tuple[str, str]:
    """``(name, text)`` of the request's template: a name the page offers, or a text with ``{prompt}``."""
    value = _text(body, "template", limits.max_message, default=default)
    if value in templates:
        return value, templates[value]
    try:
        return resolve_template(value)
    except ValueError as exc:
        raise _bad(f"template: {exc}") from None


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{name}: expected an integer, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise _bad(f"{name}: must lie in [{low}, {high}], got {value}")
    return value


def _query(request: Request, name: str, *, required: bool = False) -> str | None:
    value = request.query_params.get(name)
    if required and not value:
        raise _bad(f"{name}: required")
    return value or None


def _sse(events: AsyncIterator[dict]) -> StreamingResponse:
    async def body():
        try:
            async for event in events:
                yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        except RequestError as exc:
            yield f"data: {json.dumps({'type': 'error', 'error': str(exc)})}\n\n"
        except Exception as exc:  # a failure mid-stream (the status is sent already): say so, keep serving
            traceback.print_exc()
            yield f"data: {json.dumps({'type': 'error', 'error': f'the server failed: {exc}'})}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _stream_or_4xx(generator, prompt: str, sampling: Sampling) -> AsyncIterator[dict]:
    try:
        return generator.stream(prompt, sampling)
    except Busy as exc:
        raise _bad(str(exc), 429) from None
    except RequestError as exc:
        raise _bad(str(exc)) from None


async def _with_verdict(events: AsyncIterator[dict], problem: dict | None, done: list) -> AsyncIterator[dict]:
    """The events, then the verdict of the finished text when there is a ``problem`` to judge by.
    ``done`` receives ``(text, verdict)``."""
    async for event in events:
        yield event
        if event["type"] == "done":
            verdict = await asyncio.to_thread(judge_text, event["text"], problem) if problem else None
            done.append((event["text"], verdict))
            if verdict is not None:
                yield {"type": "verdict", **verdict}
            return
        if event["type"] == "error":
            return


# ---------------------------------------------------------------------------------------------- the guard

class Guard:
    """ASGI middleware: loopback Host check, the token, and the security headers on every response."""

    def __init__(self, app, *, token: str | None, loopback: bool):
        self.app, self.token, self.loopback = app, token, loopback

    def _token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in HEADERS.items()]
            await send(message)

        request = Request(scope)
        if self.loopback:
            host = request.headers.get("host", "")
            name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
            if name.lower() not in LOOPBACK_HOSTS:
                response = JSONResponse({"error": f"this server answers only to localhost, not {host!r}"}, 400)
                return await response(scope, receive, send_with_headers)
        if self.token is not None:
            header = request.headers.get("authorization", "")
            query = request.query_params.get("token")
            given = [header[7:] if header.lower().startswith("bearer ") else None, request.cookies.get(COOKIE), query]
            if not any(self._token_ok(g) for g in given):
                response = JSONResponse({"error": "a token is required: open the page as /?token=T or send "
                                                  "'Authorization: Bearer T'"}, 401,
                                        headers={"www-authenticate": "Bearer"})
                return await response(scope, receive, send_with_headers)
            if self._token_ok(query) and request.method == "GET" and not request.url.path.startswith("/api/"):
                # a page opened with ?token=: keep it in a cookie and take it out of the address bar
                rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
                cookie = SimpleCookie()
                cookie[COOKIE] = self.token
                cookie[COOKIE].update({"httponly": True, "samesite": "Strict", "path": "/"})
                response.headers["set-cookie"] = cookie[COOKIE].OutputString()
                return await response(scope, receive, send_with_headers)
        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------------------------------------- the app

def create_app(*, generator=None, generator_b=None, runs: str | Path | None = None,
               pairs_out: str | Path | None = None, problems: list[dict] | None = None,
               token: str | None = None, loopback: bool = True, template: str = "r1_zero",
               limits: Limits = Limits()):
    """The ASGI app. ``generator`` (and ``generator_b`` to compare two models) stream completions:
    an :class:`train.web.bridge.EngineBridge` or anything with its ``name``, ``max_new_tokens``,
    ``stream(prompt, sampling)`` and ``close()``. ``problems``: rows Compare draws prompts from.

    >>> from starlette.testclient import TestClient
    >>> client = TestClient(create_app(), base_url="http://127.0.0.1")
    >>> client.get("/api/info").json()["models"]
    []
    >>> client.post("/api/chat", json={"message": "hi"}).json()
    {'error': 'no model is loaded: start rlvr serve with --model PATH'}
    """
    # the templates the pages offer: ours, and the model's own when it trained with a text of its own
    template, template_text = resolve_template(template)
    templates = {**TEMPLATES, template: template_text}
    runs_dir = RunsDir(runs) if runs is not None else None
    labels = LabelStore(pairs_out) if pairs_out is not None else None
    problems = list(problems or [])
    pairs: OrderedDict[str, dict] = OrderedDict()
    models = [g for g in (generator, generator_b) if g is not None]

    def need_model():
        if generator is None:
            raise _bad("no model is loaded: start rlvr serve with --model PATH")
        return generator

    def need_runs() -> RunsDir:
        if runs_dir is None:
            raise _bad("no runs folder: start rlvr serve with --runs DIR")
        return runs_dir

    def need_labels() -> LabelStore:
        if labels is None:
            raise _bad("no labels file: start rlvr serve with --pairs-out FILE")
        return labels

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / f"{request.url.path.strip('/')}.html")

    async def home(request: Request) -> Response:
        return RedirectResponse("/chat", 307)

    async def info(request: Request) -> Response:
        from verifiers.registry import verifier_names

        return JSONResponse({
            "models": [g.name for g in models], "templates": templates, "template": template,
            "verifiers": verifier_names(), "problems": len(problems),
            "max_new_tokens": min((g.max_new_tokens for g in models), default=0),
            "max_message": limits.max_message, "pairs_out": str(labels.path) if labels else None,
            "runs": str(runs_dir.root) if runs_dir else None,
            "stats": {g.name: dict(getattr(g, "stats", {})) for g in models}})

    async def chat(request: Request) -> Response:
        body = await _json_body(request, limits)
        model = need_model()
        message = _text(body, "message", limits.max_message, required=True)
        _, prompt_template = _template(body, templates, template, limits)
        sampling = _sampling(body, model.max_new_tokens, 0.7)
        gold = _text(body, "gold", limits.max_message)
        problem = {"answer": gold, "verifier": _verifier(body)} if gold.strip() else None
        events = _stream_or_4xx(model, render_prompt(message, prompt_template), sampling)
        return _sse(_with_verdict(events, problem, []))

    def _verifier(body: dict) -> str:
        from verifiers.registry import verifier_names

        name = _text(body, "verifier", 40, default="math")
        if name not in verifier_names():
            raise _bad(f"verifier: one of {', '.join(verifier_names())}, got {name!r}")
        return name

    async def compare_state(request: Request) -> Response:
        return JSONResponse({**need_labels().counts(), "pairs_out": str(labels.path), "ties_out": str(labels.ties),
                             "problems": len(problems)})

    async def compare_next(request: Request) -> Response:
        after = _query_int(request, "after", -1, -1, max(len(problems) - 1, -1))
        store = need_labels()
        order = list(range(after + 1, len(problems))) + list(range(0, after + 1))  # on from there, then wrap
        left = [i for i in range(len(problems)) if str(problems[i].get("id")) not in store.labelled_ids]
        index = next((i for i in order if str(problems[i].get("id")) not in store.labelled_ids), None)
        if index is None:
            return JSONResponse({"problem": None, "remaining": 0})
        row = problems[index]
        return JSONResponse({"problem": {"index": index, "id": str(row.get("id")), "prompt": row["prompt"],
                                         "task": row.get("task"), "answer": row.get("answer")},
                             "remaining": len(left)})

    async def compare_sample(request: Request) -> Response:
        body = await _json_body(request, limits)
        model = need_model()
        need_labels()
        if body.get("problem") is not None:
            if not problems:
                raise _bad("problem: no --problems file was given")
            index = _number(body, "problem", 0, 0, len(problems) - 1, integer=True)
            problem = problems[index]
            question = str(problem["prompt"])
        else:
            question = _text(body, "message", limits.max_message, required=True)
            gold = _text(body, "gold", limits.max_message)
            problem = {"answer": gold, "verifier": _verifier(body)} if gold.strip() else None
        name, prompt_template = _template(body, templates, template, limits)
        sampling = _sampling(body, min(g.max_new_tokens for g in models), 1.0)
        prompt = render_prompt(question, prompt_template)
        sides = [model, generator_b or model]
        if generator_b is not None and secrets.randbits(1):
            sides.reverse()  # which model is A is hidden from the person and random
        streams = [_stream_or_4xx(g, prompt, sampling) for g in sides]
        pair_id = secrets.token_urlsafe(12)
        pair = {"prompt": prompt, "question": question, "models": [g.name for g in sides], "texts": [None, None],
                "verdicts": [None, None], "template": name, "sampling": asdict(sampling),
                "problem_id": str(problem["id"]) if problem and problem.get("id") is not None else None,
                "ready": False}
        pairs[pair_id] = pair
        while len(pairs) > limits.max_pairs_kept:
            pairs.popitem(last=False)
        return _sse(_pair_events(pair_id, pair, streams, problem))

    async def _pair_events(pair_id: str, pair: dict, streams: list, problem: dict | None) -> AsyncIterator[dict]:
        queue: asyncio.Queue = asyncio.Queue()
        results: list[list] = [[], []]

        async def pump(side: int) -> None:
            try:
                async for event in _with_verdict(streams[side], problem, results[side]):
                    await queue.put((side, event))
            except RequestError as exc:
                await queue.put((side, {"type": "error", "error": str(exc)}))
            finally:
                await queue.put((side, None))

        yield {"type": "pair", "id": pair_id}
        tasks = [asyncio.create_task(pump(side)) for side in (0, 1)]
        try:
            finished = 0
            while finished < 2:
                side, event = await queue.get()
                if event is None:
                    finished += 1
                    continue
                yield {**event, "side": "AB"[side]}
            if all(results):
                pair["texts"] = [r[0][0] for r in results]
                pair["verdicts"] = [r[0][1] for r in results]
                pair["ready"] = True
                yield {"type": "ready"}
        finally:
            for task in tasks:
                task.cancel()

    async def compare_pick(request: Request) -> Response:
        body = await _json_body(request, limits)
        store = need_labels()
        pick = body.get("pick")
        if pick not in PICKS:
            raise _bad(f"pick: one of {', '.join(PICKS)}, got {pick!r}")
        who = _text(body, "who", limits.max_name, default="anonymous").strip() or "anonymous"
        pair_id = _text(body, "pair", 64, required=True)
        pair = pairs.get(pair_id)
        if pair is None:
            raise _bad("unknown or expired pair (the server restarted or it is too old): sample again", 404)
        if not pair["ready"]:
            raise _bad("this pair is not finished: wait for both responses", 409)
        if pair.get("picked"):
            raise _bad("this pair is labelled already", 409)
        empty = [side for side, text in zip("AB", pair["texts"]) if not text.strip()]
        if pick in ("A", "B") and empty:
            raise _bad(f"response {empty[0]} is empty, and a preference pair needs two texts: pick tie or both bad, "
                       "or sample again", 409)
        pair["picked"] = True  # before the write: a double click must not label it twice
        common = {"who": who, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "problem_id": pair["problem_id"], "question": pair["question"], "template": pair["template"],
                  "templated": True,  # the prompt as the model saw it: rlvr dpo and rlvr rm do not template it again
                  "sampling": pair["sampling"]}
        a, b = pair["texts"], pair["models"]
        if pick in ("A", "B"):
            c, r = (0, 1) if pick == "A" else (1, 0)
            row = {"prompt": pair["prompt"], "chosen": a[c], "rejected": a[r], **common, "model": b[c],
                   "rejected_model": b[r], "chosen_verdict": pair["verdicts"][c],
                   "rejected_verdict": pair["verdicts"][r], "pick": pick}
        else:
            row = {"prompt": pair["prompt"], "response_a": a[0], "response_b": a[1], "label": pick, **common,
                   "model_a": b[0], "model_b": b[1], "verdict_a": pair["verdicts"][0],
                   "verdict_b": pair["verdicts"][1]}
        try:
            await asyncio.to_thread(store.append, row)
        except OSError as exc:
            pair["picked"] = False
            raise _bad(f"could not write {store.path}: {exc}", 507) from None
        pairs.pop(pair_id, None)
        return JSONResponse({"ok": True, **store.counts(), "models": {"A": b[0], "B": b[1]}})

    async def runs_list(request: Request) -> Response:
        return JSONResponse({"root": str(need_runs().root), "runs": need_runs().listing()})

    async def run_detail(request: Request) -> Response:
        return JSONResponse(need_runs().run(_query(request, "run", required=True)))

    async def metrics(request: Request) -> Response:
        return JSONResponse(need_runs().metrics(_query(request, "run", required=True),
                                                _query(request, "stage", required=True),
                                                _query_int(request, "offset", 0, 0, 1 << 50)))

    async def completions(request: Request) -> Response:
        verdict = _query(request, "verdict")
        if verdict is not None and verdict not in VERDICTS:
            raise _bad(f"verdict: one of {', '.join(VERDICTS)}, got {verdict[:40]!r}")
        return JSONResponse(need_runs().completions(
            _query(request, "run", required=True), stage=_query(request, "stage"), task=_query(request, "task"),
            verdict=verdict, offset=_query_int(request, "offset", 0, 0, 1 << 40),
            limit=_query_int(request, "limit", 50, 1, 500)))

    async def run_file(request: Request) -> Response:
        path = need_runs().file(_query(request, "run", required=True), _query(request, "name", required=True),
                                _query(request, "stage"))
        return FileResponse(path, media_type=IMAGE_TYPES[path.suffix.lower()])

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    async def not_found(request: Request, exc: NotFound) -> Response:
        return JSONResponse({"error": str(exc)}, 404)

    @asynccontextmanager
    async def lifespan(app):
        yield
        for g in models:
            g.close()

    routes = [
        Route("/", home), *[Route(f"/{name}", page) for name in PAGES],
        Route("/api/info", info), Route("/api/chat", chat, methods=["POST"]),
        Route("/api/compare/state", compare_state), Route("/api/compare/next", compare_next),
        Route("/api/compare/sample", compare_sample, methods=["POST"]),
        Route("/api/compare/pick", compare_pick, methods=["POST"]),
        Route("/api/runs", runs_list), Route("/api/run", run_detail), Route("/api/metrics", metrics),
        Route("/api/completions", completions), Route("/api/file", run_file),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, NotFound: not_found})
    return Guard(app, token=token, loopback=loopback)
