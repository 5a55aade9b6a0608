"""torch.distributed helpers for DDP runs launched by ``torchrun``; the same calls work in one process.

    torchrun --nproc-per-node 8 -m train.pretrain ...      # 8 processes, one GPU each
    python -m train.pretrain ...                           # one process, world_size 1

``init_distributed`` reads ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (set by torchrun), joins the
process group (NCCL on CUDA, Gloo on CPU) and picks this process's device. The reductions are no-ops
in a single process, so a training loop calls them unconditionally.

    >>> info = init_distributed("cpu")        # no torchrun here: one process
    >>> info.rank, info.world_size, info.is_main, info.device
    (0, 1, True, device(type='cpu'))
    >>> all_reduce_mean(torch.tensor([2.0, 4.0]))
    tensor([2., 4.])
    >>> list(shard(10, DistInfo(rank=1, world_size=4)))
    [1, 5, 9]
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "all_gather_objects", "all_reduce_max", "all_reduce_mean", "all_reduce_sum", "barrier",
           "clip_grad_norm", "gradient_sync", "init_distributed", "print0", "shard", "shutdown"]

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run: its rank, its rank on this host, how many in all, its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, evaluates and saves."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not an integer") from None


def _pick_device(device: str | None, local_rank: int) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        picked = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r} (try cpu or cuda)") from None
    if picked.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available (use --device cpu)")
        if picked.index is None:
            picked = torch.device("cuda", local_rank)
        if picked.index >= torch.cuda.device_count():
            raise ValueError(f"device {picked} requested but there are {torch.cuda.device_count()} CUDA devices")
    return picked


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group, if any, and pick this process's device.

    ``device``: ``None`` for CUDA when available else CPU, or e.g. ``"cpu"`` / ``"cuda"``. Under
    torchrun with CUDA, process ``LOCAL_RANK`` takes GPU ``LOCAL_RANK``. Without torchrun
    (``WORLD_SIZE`` unset or 1) nothing is initialised.
    """
    rank, local_rank, world_size = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0), _env_int("WORLD_SIZE", 1)
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(f"bad torchrun environment: RANK={rank}, LOCAL_RANK={local_rank}, WORLD_SIZE={world_size}")
    picked = _pick_device(device, local_rank)
    if picked.type == "cuda":
        torch.cuda.set_device(picked)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if picked.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=picked if picked.type == "cuda" else None)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=picked)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returns it (unchanged in a single process)."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average a floating-point ``tensor`` over all processes, in place; returns it.

    >>> all_reduce_mean(torch.tensor(1.5))
    tensor(1.5000)
    """
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)  # Gloo has no AVG
        tensor.div_(dist.get_world_size())
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """The largest value of ``tensor`` over all processes, in place; returns it.

    >>> all_reduce_max(torch.tensor([3]))
    tensor([3])
    """
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def gradient_sync(forward: torch.nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """The context of one micro-batch's backward: under DDP without ``sync``, gradients only accumulate locally
    (``no_sync``) until the last micro-batch's backward all-reduces them. A sharded model (FSDP) reduce-scatters
    every micro-batch's gradients (they stay sharded: that is its memory saving), and one process has nothing to
    sync.

    >>> with gradient_sync(torch.nn.Linear(2, 2), sync=False):
    ...     pass
    """
    if sync or not isinstance(forward, torch.nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return forward.no_sync()


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale the gradients to a total norm of at most ``max_norm`` (0: no clipping); returns the norm before,
    as a plain tensor also for sharded (DTensor) gradients, whose norm spans every rank's shards.

    >>> layer = torch.nn.Linear(2, 1, bias=False)
    >>> layer.weight.grad = torch.tensor([[3.0, 4.0]])
    >>> clip_grad_norm(layer.parameters(), 1.0), layer.weight.grad
    (tensor(5.), tensor([[0.6000, 0.8000]]))
    """
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm if max_norm > 0 else math.inf)
    return norm.full_tensor() if hasattr(norm, "full_tensor") else norm


def all_gather_objects(obj: T) -> list[T]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` in a single process.

    >>> all_gather_objects({"pairs": 3})
    [{'pairs': 3}]
    """
    if not _active():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a single process)."""
    if _active():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (call at the end of a torchrun script)."""
    if _active():
        dist.destroy_process_group()


def shard(items: int | Sequence[T], info: DistInfo) -> Sequence[T] | range:
    """This process's share, ``items[rank::world_size]``; an int ``n`` stands for ``range(n)``.

    Shares differ in length by at most one; a DDP loop that must take the same number of steps on
    every rank should trim its data to a multiple of ``world_size`` first.

    >>> shard(["a", "b", "c", "d", "e"], DistInfo(rank=0, world_size=2))
    ['a', 'c', 'e']
    >>> shard(5, DistInfo(rank=1, world_size=2))
    range(1, 5, 2)
    """
    if isinstance(items, int):
        items = range(items)
    return items[info.rank :: info.world_size]


def _rank() -> int:
    return dist.get_rank() if _active() else _env_int("RANK", 0)


def print0(*args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only.

    >>> print0("loss", 1.25)
    loss 1.25
    """
    if _rank() == 0:
        print(*args, **kwargs)
