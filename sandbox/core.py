"""``Sandbox``: run untrusted programs isolated, bounded and fast, through a pool of zygotes.

>>> with Sandbox(workers=1) as box:
...     result = box.run("print(sum(map(int, input().split())))", stdin="1 2\\n")
>>> result.status, result.stdout
('ok', '3\\n')
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.protocol import DEFAULT_PRELOAD, recv, send

__all__ = ["STATUSES", "ExecResult", "Sandbox", "SandboxError"]

log = logging.getLogger(__name__)
STATUSES = ("ok", "error", "timeout", "memory", "output_limit", "killed", "sandbox_error")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


class SandboxError(RuntimeError):
    """The sandbox itself could not start."""


@dataclass(frozen=True)
class ExecResult:
    """What a program did: ``status`` (see STATUSES), exit code, capped output, wall time."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _Worker:
    """One zygote process and the pipes to it."""

    def __init__(self, index: int, preload: tuple[str, ...]):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8:backslashreplace",
               "PYTHONPATH": _PACKAGE_ROOT,
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.zygote", str(index), ",".join(preload)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/", close_fds=True,
        )
        hello = recv(self.proc.stdout.fileno())
        if not isinstance(hello, dict) or "hello" not in hello:
            self.close()
            raise SandboxError("the sandbox zygote did not start")
        self.isolation: dict = hello["hello"]

    @property
    def stdin(self) -> int:
        return self.proc.stdin.fileno()

    def receive(self) -> dict:
        result = recv(self.proc.stdout.fileno())
        if result is None:
            raise SandboxError("the sandbox zygote died")
        return result  # type: ignore[return-value]

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Sandbox:
    """A pool of ``workers`` zygotes; each program runs in a fresh, isolated, bounded child.

    ``timeout_s`` is wall-clock time per program, ``memory_mb`` its memory beyond the interpreter,
    ``max_output_bytes`` the cap on each of stdout and stderr, ``max_processes`` how many processes
    it may start (0: none; threads are always allowed), ``disk_mb`` the size of its working
    directory and of ``/dev/shm``. ``isolation`` says what the machine allowed: ``level`` is
    ``full`` (namespaces, read-only view, unprivileged uid, seccomp), or less, with a warning.
    """

    def __init__(self, workers: int = 1, timeout_s: float = 5.0, memory_mb: int = 512,
                 max_output_bytes: int = 1 << 20, max_processes: int = 0, disk_mb: int = 64,
                 preload: Iterable[str] = DEFAULT_PRELOAD):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if timeout_s <= 0 or memory_mb <= 0 or max_output_bytes <= 0 or disk_mb <= 0 or max_processes < 0:
            raise ValueError("timeout_s, memory_mb, max_output_bytes and disk_mb must be positive, "
                             "max_processes non-negative")
        self.defaults = {"timeout_s": float(timeout_s), "memory_mb": int(memory_mb),
                         "max_output_bytes": int(max_output_bytes), "max_processes": int(max_processes),
                         "disk_mb": int(disk_mb)}
        self._preload = tuple(preload)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        for index in range(workers):
            self._add(_Worker(index, self._preload))
        self.isolation = _describe(self._all[0].isolation)
        if self.isolation["level"] != "full":
            log.warning("rlvr sandbox: isolation is %s (%s); programs run with limits only where "
                        "namespaces are missing", self.isolation["level"], self.isolation["error"] or "-")

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            self._all.append(worker)
        self._idle.put(worker)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()

    def _request(self, code: str, stdin: str | bytes = "", files: Mapping[str, str | bytes] | None = None,
                 **limits: Any) -> dict:
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        unknown = set(limits) - set(self.defaults)
        if unknown:
            raise TypeError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        return {**self.defaults, **limits, "code": code,
                "stdin": stdin.encode() if isinstance(stdin, str) else bytes(stdin), "files": _check_files(files)}

    def run(self, code: str, stdin: str | bytes = "", files: Mapping[str, str | bytes] | None = None,
            **limits: Any) -> ExecResult:
        """Run one program; ``limits`` override the pool's defaults for this run."""
        req = self._request(code, stdin, files, **limits)
        worker = self._idle.get()
        try:
            send(worker.stdin, req)
            raw = worker.receive()
        except (SandboxError, OSError) as exc:
            self._replace(worker)
            return _failed(exc)
        self._idle.put(worker)
        return _result(raw)

    def _replace(self, dead: _Worker) -> None:
        with self._lock:
            index = self._all.index(dead) if dead in self._all else len(self._all)
            if dead in self._all:
                self._all.remove(dead)
        dead.close()
        self._add(_Worker(index, self._preload))

    def map(self, items: Iterable[str | Mapping[str, Any]], progress: bool = False) -> list[ExecResult]:
        """Run many programs (code strings or dicts with ``code``, ``stdin``, ``files``), in input order.

        Each worker keeps two requests in flight, so its zygote never waits for our round trip.
        """
        from tqdm.auto import tqdm

        reqs = [self._request(**({"code": it} if isinstance(it, str) else dict(it))) for it in items]
        results: list[ExecResult | None] = [None] * len(reqs)
        pending = iter(range(len(reqs)))
        lock = threading.Lock()

        def take() -> int | None:
            with lock:
                return next(pending, None)

        def drive(bar: Any) -> None:
            worker = self._idle.get()
            inflight: deque[int] = deque()
            try:
                while True:
                    while len(inflight) < _WINDOW and (k := take()) is not None:
                        send(worker.stdin, reqs[k])
                        inflight.append(k)
                    if not inflight:
                        break
                    results[inflight.popleft()] = _result(worker.receive())
                    bar.update()
            except (SandboxError, OSError) as exc:
                for k in inflight:  # the zygote died: these runs could not be judged
                    results[k] = _failed(exc)
                self._replace(worker)
                return
            self._idle.put(worker)

        with tqdm(total=len(reqs), disable=not progress, unit="run", desc="sandbox") as bar, \
                ThreadPoolExecutor(max_workers=len(self._all)) as pool:
            for future in [pool.submit(drive, bar) for _ in range(len(self._all))]:
                future.result()
        # a worker that died gave its unsent requests back to nobody: run those one by one
        return [r if r is not None else self.run(**reqs[k]) for k, r in enumerate(results)]


_WINDOW = 2


def _result(raw: dict) -> ExecResult:
    return ExecResult(raw["status"], raw["returncode"], raw["stdout"].decode("utf-8", "replace"),
                      raw["stderr"].decode("utf-8", "replace"), raw["elapsed_s"])


def _failed(exc: Exception) -> ExecResult:
    return ExecResult("sandbox_error", None, "", str(exc), 0.0)


def _check_files(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    out = {}
    for name, content in (files or {}).items():
        norm = os.path.normpath(name)
        if os.path.isabs(norm) or norm.startswith(".."):
            raise ValueError(f"file name {name!r} must stay inside the working directory")
        out[norm] = content.encode() if isinstance(content, str) else bytes(content)
    return out


def _describe(iso: dict) -> dict:
    full = iso["namespaces"] and iso["readonly"] and iso["seccomp"] and iso["uid"] is not None
    level = "full" if full else ("namespaces" if iso["namespaces"] else "limits-only")
    return {**iso, "level": level}
