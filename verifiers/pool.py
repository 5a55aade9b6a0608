"""The one process pool: spawn-started workers that know every verifier the parent registered.

``pool_map`` runs a top-level function over jobs, in this process for one worker, else in a pool of
spawned processes (no inherited locks or CUDA state); results come back in order, or as chunks finish
with ``ordered=False``. ``worker_pool`` is the executor itself, for callers that submit work and go on
(GRPO scores rewards while the GPU computes log-probabilities). Workers carry no state of their own:
what a job needs (a rubric, a timeout) travels with it.

``backend="ray"`` sends the same chunks to a Ray cluster instead (``address``, or ``RAY_ADDRESS``, or a
local cluster started for the run), for work that outgrows one machine: the results are the same, in
the same order. Every node needs rlvr installed; the optional extra ``ray`` installs Ray.

>>> list(pool_map(abs, [-1, 2, -3], workers=1))
[1, 2, 3]
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

from verifiers.registry import Checker, register_verifier, user_verifiers

__all__ = ["pool_map", "worker_pool"]

T = TypeVar("T")
R = TypeVar("R")


class _Unimportable:
    """Stands in a worker for a registered verifier that cannot travel there (a lambda, a local function)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, completion: str, problem: object) -> None:
        raise ValueError(f"verifier {self.name!r} was registered with a function a worker process cannot import "
                         "(a lambda or a local function): define it at module level, or use one worker")


def _travelling(verifiers: dict[str, Checker]) -> dict[str, Checker]:
    out: dict[str, Checker] = {}
    for name, fn in verifiers.items():
        try:
            pickle.dumps(fn)
            out[name] = fn
        except (pickle.PicklingError, AttributeError, TypeError):
            out[name] = _Unimportable(name)
    return out


def _start(verifiers: dict[str, Checker]) -> None:
    for name, fn in verifiers.items():
        register_verifier(name, fn)


def worker_pool(workers: int) -> Executor:
    """A spawn-started pool of ``workers`` processes with the parent's registered verifiers."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start,
                               initargs=(_travelling(user_verifiers()),))


def _apply(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(job) for job in chunk]


def pool_map(fn: Callable[[T], R], jobs: Iterable[T], workers: int, *, ordered: bool = True,
             chunksize: int = 1, pool: Executor | None = None, backend: str = "local",
             address: str | None = None) -> Iterator[R]:
    """``fn`` over ``jobs``: in this process when ``workers <= 1``, else in a (given or new) pool; with
    ``backend="ray"``, as Ray tasks on the cluster at ``address`` (whatever ``workers`` says).

    ``chunksize`` jobs travel to a worker together; with ``ordered=False`` each chunk's results are
    yielded as soon as it is done (a caller that appends them to a file loses nothing on a crash).
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', not {backend!r}")
    jobs = list(jobs)
    chunks = [jobs[i:i + chunksize] for i in range(0, len(jobs), max(1, chunksize))]
    if backend == "ray":
        yield from _ray_map(fn, chunks, ordered, address)
        return
    if workers <= 1 or len(jobs) < 2:
        yield from map(fn, jobs)
        return
    own = pool is None
    executor = worker_pool(min(workers, len(chunks))) if own else pool
    try:
        futures: Any = [executor.submit(_apply, fn, chunk) for chunk in chunks]
        if ordered:
            for future in futures:
                yield from future.result()
            return
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from future.result()
    finally:
        if own:
            executor.shutdown(cancel_futures=True)


def _ray_chunk(fn: Callable[[T], R], chunk: list[T], verifiers: dict[str, Checker]) -> list[R]:
    _start(verifiers)  # a Ray worker may be new, or may have served another driver
    return _apply(fn, chunk)


def _ray_map(fn: Callable[[T], R], chunks: list[list[T]], ordered: bool, address: str | None) -> Iterator[R]:
    try:
        import ray
    except ImportError:
        raise ValueError("the Ray backend needs Ray: pip install 'rlvr[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    task = ray.remote(_ray_chunk)
    verifiers = ray.put(_travelling(user_verifiers()))
    refs = [task.remote(fn, chunk, verifiers) for chunk in chunks]
    try:
        if ordered:
            for ref in refs:
                yield from ray.get(ref)
        else:
            pending = refs
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(done[0])
    except BaseException:  # GeneratorExit too: the caller stopped early, so the rest is not wanted
        for ref in refs:
            ray.cancel(ref)
        raise
