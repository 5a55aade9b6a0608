"""Token data for the trainer: packed pretraining rows, SFT examples with completion-only labels, and a
resumable, rank-sharded batch order.

>>> rows = pack_documents([[1, 2, 3], [4, 5]], seq_len=2, bos_id=0, eos_id=9)
>>> rows.tolist()
[[0, 1, 2], [2, 3, 9], [9, 0, 4], [4, 5, 9]]
>>> ids, labels = sft_example([0, 7, 7], [5, 6], eos_id=9)
>>> ids, labels
([0, 7, 7, 5, 6, 9], [-100, -100, -100, 5, 6, 9])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import Tensor

__all__ = ["BatchOrder", "PackedData", "Prefetch", "SFTData", "pack_documents", "sft_example"]

IGNORE = -100  # label of tokens that carry no loss (prompt, padding)
T = TypeVar("T")


def pack_documents(documents: Sequence[Sequence[int]], seq_len: int, *, bos_id: int, eos_id: int) -> Tensor:
    """Concatenate ``BOS doc EOS`` streams and cut rows of ``seq_len + 1`` tokens (inputs and shifted
    targets share the boundary token). The tail that does not fill a row is dropped."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    stream: list[int] = []
    for doc in documents:
        stream.append(bos_id)
        stream.extend(doc)
        stream.append(eos_id)
    rows = (len(stream) - 1) // seq_len
    if rows < 1:
        raise ValueError(f"the corpus has {len(stream)} tokens, too few for one row of {seq_len + 1}")
    data = torch.tensor(stream[: rows * seq_len + 1], dtype=torch.long)
    return data.unfold(0, seq_len + 1, seq_len).contiguous()


def sft_example(prompt_ids: list[int], completion_ids: list[int], *, eos_id: int) -> tuple[list[int], list[int]]:
    """Input ids and labels for one SFT example: loss on the completion (and its EOS) only."""
    ids = prompt_ids + completion_ids + [eos_id]
    return ids, [IGNORE] * len(prompt_ids) + completion_ids + [eos_id]


@dataclass
class PackedData:
    """Fixed-length pretraining rows ``[N, seq_len + 1]``."""

    rows: Tensor

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        rows = self.rows[indices]
        return rows[:, :-1], rows[:, 1:]


@dataclass
class SFTData:
    """Variable-length examples, right-padded per batch (padding carries no loss)."""

    examples: list[tuple[list[int], list[int]]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.examples)

    def batch(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        chosen = [self.examples[i] for i in indices]
        width = max(len(ids) for ids, _ in chosen) - 1
        x = torch.full((len(chosen), width), self.pad_id, dtype=torch.long)
        y = torch.full((len(chosen), width), IGNORE, dtype=torch.long)
        for row, (ids, labels) in enumerate(chosen):
            x[row, : len(ids) - 1] = torch.tensor(ids[:-1])
            y[row, : len(ids) - 1] = torch.tensor(labels[1:])
        return x, y

    def completion_tokens(self) -> int:
        return sum(sum(1 for t in labels if t != IGNORE) for _, labels in self.examples)


class BatchOrder:
    """Which examples each rank trains on, step by step: a fresh permutation per epoch from ``seed``.

    Each global batch of ``batch_size * world_size`` examples is split across ranks; the state
    (epoch, batch within it) is saved in checkpoints, so a resumed run sees the same batches.

    >>> order = BatchOrder(10, batch_size=2, seed=0)
    >>> first = [order.next() for _ in range(6)]
    >>> len({i for batch in first[:5] for i in batch}), order.state()
    (10, {'epoch': 1, 'index': 1})
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        per_step = batch_size * world_size
        if n < per_step:
            raise ValueError(f"{n} examples are fewer than one global batch ({batch_size} x {world_size} ranks)")
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.batches_per_epoch = n // per_step  # the remainder is dropped so every rank takes as many steps
        self.epoch, self.index = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)).tolist()

    def next(self) -> list[int]:
        if self.index == self.batches_per_epoch:
            self.epoch, self.index = self.epoch + 1, 0
            self._perm = self._permutation(self.epoch)
        start = (self.index * self.world_size + self.rank) * self.batch_size
        self.index += 1
        return self._perm[start:start + self.batch_size]

    def peek(self) -> list[int]:
        """The indices the next ``next()`` returns, without moving on (to prepare that batch early).

        >>> order = BatchOrder(4, batch_size=2, seed=0)
        >>> order.peek() == order.next(), order.next() == order.peek()
        (True, False)
        """
        epoch, index, perm = self.epoch, self.index, self._perm
        if index == self.batches_per_epoch:
            epoch, index, perm = epoch + 1, 0, self._permutation(epoch + 1)
        start = (index * self.world_size + self.rank) * self.batch_size
        return perm[start:start + self.batch_size]

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._perm = self._permutation(self.epoch)


class Prefetch(Generic[T]):
    """Makes the next micro-batch on a worker thread while the GPU runs the current one: the host would
    otherwise leave the GPU idle for the collation after every step's closing sync.

    ``make(indices)`` builds a batch (collated, pinned); ``start(indices)`` begins the next one, ``get(indices)``
    returns it (made now if ``start`` asked for other indices).

    >>> batches = Prefetch(lambda indices: sum(indices))
    >>> batches.start([1, 2]); batches.get([1, 2]), batches.get([3])
    (3, 3)
    >>> batches.close()
    """

    def __init__(self, make: Callable[[list[int]], T]):
        self.make = make
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="collate")
        self.pending: tuple[list[int], Future] | None = None

    def start(self, indices: list[int]) -> None:
        self.pending = (indices, self.pool.submit(self.make, indices))

    def get(self, indices: list[int]) -> T:
        if self.pending is not None and self.pending[0] == indices:
            return self.pending[1].result()
        return self.make(indices)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
