"""``rlvr serve-rewards``: rlvr's rewards over HTTP, one server for many trainer processes and machines.

    rlvr serve-rewards --host 0.0.0.0 --port 5000 --workers 16 --rewards accuracy,format=0.5

| route | body | reply |
|---|---|---|
| ``POST /score`` | ``{"completions": [...], "problems": [...], "rewards": "accuracy,format=0.5", "think_in_prompt": false}`` | ``{"rewards": [...], "results": [...]}`` |
| ``POST /get_reward`` | OpenRLHF's ``{"query": [...], "prompts": [...], "labels": [...]}`` | OpenRLHF's ``{"rewards", "scores", "extra_logs"}`` (``verifiers.openrlhf``) |
| ``GET /health`` | | ``{"status": "ok", "workers", "rewards", "served", "rejected"}`` |

``/score``: each problem is a Problem row (``answer``, ``verifier``, ``meta``, ``tests``) or a gold answer
(a string, for the ``math`` verifier); ``problem`` instead of ``problems`` gives one for every completion.
``rewards`` (a string or ``{name: weight}``) and ``think_in_prompt`` are optional: the server's
``--rewards`` by default. ``rewards`` in the reply are the weighted totals (null where a part could not
judge) and ``results`` each completion's ``Judged.to_dict()``. Completions of one problem are scored
together (group rewards such as ``length`` see them as a group). OpenRLHF trainers point
``--reward.remote_url`` (``--remote_rm_url``) at ``http://HOST:PORT/get_reward``.

Bounds: a body over 64 MiB, more than ``--max-samples`` completions, or one completion over
``--max-chars`` characters is refused (413); malformed JSON or fields answer 400 with the reason, naming
the field and index; a request not scored within ``--timeout`` seconds answers 504. Each sample is bounded
by its verifier's own time budget (a pathological answer is a ``timeout`` verdict, not a stuck worker).
Concurrent requests are cut into groups that a batcher gathers, a few milliseconds at a time, into
chunks for the worker pool (``verifiers.pool.worker_pool``), so many small requests cost few round trips.

Starlette and uvicorn (the optional extra ``serve``): small, maintained, asyncio throughout, and the same
stack as rlvr's web app; the scoring itself runs in worker processes, never in the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
from collections.abc import Mapping
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from typing import Any

from verifiers import openrlhf
from verifiers.registry import VERIFIERS, verifier_names
from verifiers.rewards import Judged, parsed_rubric

__all__ = ["Batcher", "ServerConfig", "build_app", "main"]


@dataclass
class ServerConfig:
    """What ``rlvr serve-rewards`` runs with; the flags have the same names."""

    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    rewards: str = "accuracy,format"
    max_samples: int = 8192  # completions in one request
    max_chars: int = 1_000_000  # characters in one completion
    timeout: float = 300.0  # seconds to score one request
    max_body: int = 64 << 20  # bytes in one request body


class BadRequest(Exception):
    """A request the server refuses: the HTTP status and the reason sent back."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


# ---------------------------------------------------------------------------------------------
# In the worker processes

Group = tuple[str, bool, list[str], list[dict]]  # rewards spec, think_in_prompt, completions, their problem


def _score_groups(groups: list[Group]) -> list[list[Judged] | str]:
    """Each group's judgements, or the error that its problem raised (it must not sink the others)."""
    out: list[list[Judged] | str] = []
    for spec, think, texts, problems in groups:
        try:
            out.append(parsed_rubric(spec, think).score_group(texts, problems))
        except Exception as exc:  # a malformed problem (meta, tests) that its verifier cannot read
            out.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    return out


# ---------------------------------------------------------------------------------------------
# Batching


class Batcher:
    """Gathers the groups of concurrent requests into chunks for a process pool.

    ``score(groups)`` waits for its groups' results; one task collects what arrives within ``wait_s`` of
    the first and submits it as jobs of at most ``max_groups`` (and of a ``workers``-th of what waits, so
    a flood keeps every worker busy), keeping at most two jobs a worker in the pool so that a flood of
    requests waits here rather than in the pool's queue. A pool whose worker
    died (killed for memory, say) is replaced by a new one from ``make_executor``; the requests it held
    fail with ``BrokenExecutor``.
    """

    def __init__(self, make_executor: Any, workers: int, max_groups: int = 256, wait_s: float = 0.002):
        self.make_executor, self.workers, self.max_groups, self.wait_s = make_executor, workers, max_groups, wait_s
        self.executor = make_executor()
        self.slots = asyncio.Semaphore(2 * workers)
        self.queue: asyncio.Queue[tuple[Group, asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def score(self, groups: list[Group]) -> list[list[Judged]]:
        loop = asyncio.get_running_loop()
        waiting = [loop.create_future() for _ in groups]
        for group, future in zip(groups, waiting):
            self.queue.put_nowait((group, future))
        return list(await asyncio.gather(*waiting))

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(self.wait_s)  # let concurrent requests add theirs
            size = min(self.max_groups, max(1, -(-(self.queue.qsize() + 1) // self.workers)))
            while len(batch) < size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [(group, future) for group, future in batch if not future.cancelled()]  # timed out
            if batch:
                await self.slots.acquire()
                groups = [group for group, _ in batch]
                executor = self.executor
                try:
                    job = asyncio.wrap_future(executor.submit(_score_groups, groups))
                except BrokenExecutor:  # broke since the last job came back
                    executor = self._replace(executor)
                    job = asyncio.wrap_future(executor.submit(_score_groups, groups))
                job.add_done_callback(functools.partial(self._deliver, batch, executor))

    def _replace(self, broken: Any) -> Any:
        if broken is self.executor:
            broken.shutdown(wait=False, cancel_futures=True)
            self.executor = self.make_executor()
        return self.executor

    def _deliver(self, batch: list[tuple[Group, asyncio.Future]], executor: Any, job: asyncio.Future) -> None:
        self.slots.release()
        error = None if job.cancelled() else job.exception()
        if isinstance(error, BrokenExecutor):
            self._replace(executor)
        for k, (_, future) in enumerate(batch):
            if future.done():
                continue
            if job.cancelled():
                future.cancel()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(job.result()[k])


# ---------------------------------------------------------------------------------------------
# Requests


def _spec(value: Any, default: str) -> str:
    """A rewards spec (``"accuracy,format=0.5"`` or ``{name: weight}``), checked, as canonical text."""
    if value is None:
        return default
    if isinstance(value, Mapping):
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in value.values()):
            raise BadRequest(400, "'rewards': weights must be numbers")
        value = ",".join(f"{name}={float(weight)!r}" for name, weight in value.items())
    if not isinstance(value, str):
        raise BadRequest(400, "'rewards' must be a string like 'accuracy,format=0.5' or an object of weights")
    try:
        parsed_rubric(value, False)
    except ValueError as exc:
        raise BadRequest(400, f"'rewards': {exc}") from None
    return value


def _problem(value: Any, where: str) -> dict:
    if isinstance(value, str):
        return {"answer": value, "verifier": "math", "tests": "", "meta": "{}"}
    if not isinstance(value, Mapping):
        raise BadRequest(400, f"{where}: a problem is an object (a Problem row) or a gold answer string")
    verifier = value.get("verifier") or "math"
    if verifier not in VERIFIERS:
        raise BadRequest(400, f"{where}: verifier {verifier!r} is not one of {', '.join(verifier_names())}")
    problem = {"answer": value.get("answer", ""), "verifier": verifier, "tests": value.get("tests") or "",
               "meta": value.get("meta") or "{}"}
    if not isinstance(problem["answer"], (str, int, float)) or isinstance(problem["answer"], bool):
        raise BadRequest(400, f"{where}: 'answer' must be a string")
    problem["answer"] = str(problem["answer"])
    for name in ("tests", "meta"):
        if not isinstance(problem[name], (str, Mapping)):
            raise BadRequest(400, f"{where}: {name!r} must be JSON text or an object")
        if isinstance(problem[name], Mapping):
            problem[name] = json.dumps(problem[name])
    return problem


def _strings(body: Mapping[str, Any], name: str, config: ServerConfig, limit_chars: bool = True) -> list[str]:
    values = body.get(name)
    if not isinstance(values, list):
        raise BadRequest(400, f"{name!r} must be a list of strings")
    if len(values) > config.max_samples:
        raise BadRequest(413, f"{len(values)} items in {name!r}: at most {config.max_samples} per request")
    for k, value in enumerate(values):
        if not isinstance(value, str):
            raise BadRequest(400, f"{name}[{k}] must be a string, not {type(value).__name__}")
        if limit_chars and len(value) > config.max_chars:
            raise BadRequest(413, f"{name}[{k}] has {len(value):,} characters: at most {config.max_chars:,}")
    return values


async def _judge(batcher: Batcher, spec: str, items: list[tuple[str, dict, bool]], timeout: float) -> list[Judged]:
    members = openrlhf.groups(items)
    groups = [(spec, items[m[0]][2], [items[k][0] for k in m], [items[k][1] for k in m]) for m in members]
    try:
        results = await asyncio.wait_for(batcher.score(groups), timeout)
    except asyncio.TimeoutError:
        raise BadRequest(504, f"not scored within {timeout:g} s") from None
    except BrokenExecutor:
        raise BadRequest(503, "a scoring worker died (the pool has been restarted); send the request again") from None
    out: list[Judged] = [None] * len(items)  # type: ignore[list-item]
    for judged, ks in zip(results, members):
        if isinstance(judged, str):
            raise BadRequest(400, f"the problem of item {ks[0]} cannot be judged: {judged}")
        for k, j in zip(ks, judged):
            out[k] = j
    return out


async def _score(body: Mapping[str, Any], batcher: Batcher, config: ServerConfig) -> dict:
    completions = _strings(body, "completions", config)
    if "problems" in body:
        raw = body["problems"]
        if not isinstance(raw, list) or len(raw) != len(completions):
            raise BadRequest(400, f"'problems' must be a list with one problem per completion ({len(completions)})")
        problems = [_problem(p, f"problems[{k}]") for k, p in enumerate(raw)]
    elif "problem" in body:
        problems = [_problem(body["problem"], "problem")] * len(completions)
    else:
        raise BadRequest(400, "give 'problems' (one per completion) or 'problem' (one for all)")
    spec = _spec(body.get("rewards"), config.rewards)
    think = body.get("think_in_prompt", False)
    if not isinstance(think, bool):
        raise BadRequest(400, "'think_in_prompt' must be true or false")
    judged = await _judge(batcher, spec, [(c, p, think) for c, p in zip(completions, problems)], config.timeout)
    return {"rewards": [j.total for j in judged], "results": [j.to_dict() for j in judged]}


async def _get_reward(body: Mapping[str, Any], batcher: Batcher, config: ServerConfig) -> dict:
    queries = _strings(body, "query", config, limit_chars=False)
    prompts = _strings(body, "prompts", config, limit_chars=False) if "prompts" in body else [""] * len(queries)
    labels = body.get("labels")
    if not isinstance(labels, list):
        raise BadRequest(400, "'labels' must be a list: the gold answer (or rlvr's JSON label) of each query")
    try:
        items = openrlhf.samples(queries, prompts, labels)
    except ValueError as exc:
        raise BadRequest(400, str(exc)) from None
    for k, (text, _, _) in enumerate(items):
        if len(text) > config.max_chars:
            raise BadRequest(413, f"query[{k}]'s response has {len(text):,} characters: at most {config.max_chars:,}")
    spec = config.rewards
    judged = await _judge(batcher, spec, items, config.timeout)
    return openrlhf.reply(judged, parsed_rubric(spec, False).weights)


# ---------------------------------------------------------------------------------------------
# The app


async def _body(request: Any, limit: int) -> Any:
    """The request's JSON, read up to ``limit`` bytes; BadRequest for anything else."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"body of {int(declared):,} bytes: at most {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"body over {limit:,} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(400, f"body is not JSON ({str(exc)[:120]})") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"body must be a JSON object, not {type(body).__name__}")
    return body


def build_app(config: ServerConfig, make_executor: Any = None):
    """The Starlette app; its executor comes from ``make_executor`` (a pool of ``config.workers`` processes
    by default)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from verifiers.pool import worker_pool

    _spec(config.rewards, config.rewards)  # a bad --rewards fails at start, not on the first request
    stats = {"served": 0, "rejected": 0}
    state: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app):
        batcher = Batcher(make_executor or functools.partial(worker_pool, config.workers), config.workers)
        state["batcher"] = batcher
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            batcher.executor.shutdown(cancel_futures=True)

    def endpoint(handler):
        async def run(request):
            try:
                reply = await handler(await _body(request, config.max_body), state["batcher"], config)
            except BadRequest as exc:
                stats["rejected"] += 1
                return JSONResponse({"error": exc.reason}, status_code=exc.status)
            stats["served"] += 1
            return JSONResponse(reply)

        return run

    async def health(request):
        return JSONResponse({"status": "ok", "workers": config.workers, "rewards": config.rewards, **stats})

    routes = [Route("/score", endpoint(_score), methods=["POST"]),
              Route("/get_reward", endpoint(_get_reward), methods=["POST"]),
              Route("/health", health, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(prog="rlvr serve-rewards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=defaults.host, help=f"address to listen on (default {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="scoring processes (default: all cores)")
    parser.add_argument("--rewards", default=defaults.rewards,
                        help="default rewards and weights, e.g. accuracy,format=0.5 (default accuracy,format)")
    parser.add_argument("--max-samples", type=int, default=defaults.max_samples,
                        help=f"completions per request (default {defaults.max_samples})")
    parser.add_argument("--max-chars", type=int, default=defaults.max_chars,
                        help=f"characters per completion (default {defaults.max_chars:,})")
    parser.add_argument("--timeout", type=float, default=defaults.timeout,
                        help=f"seconds to score one request before answering 504 (default {defaults.timeout:g})")
    args = parser.parse_args(argv)
    if min(args.workers, args.max_samples, args.max_chars) < 1 or args.timeout <= 0:
        parser.error("--workers, --max-samples, --max-chars and --timeout must be positive")
    try:
        import uvicorn
    except ImportError:
        print("rlvr serve-rewards: needs Starlette and uvicorn: pip install 'rlvr[serve]'", file=sys.stderr)
        return 2
    config = ServerConfig(args.host, args.port, args.workers, args.rewards, args.max_samples, args.max_chars,
                          args.timeout)
    try:
        app = build_app(config)
    except BadRequest as exc:
        print(f"rlvr serve-rewards: --rewards: {exc.reason}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", limit_concurrency=1024)
    return 0
