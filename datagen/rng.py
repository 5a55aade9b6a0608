"""The random number generator of one item: cheap to seed, the same on every machine and Python.

``random.Random`` spends ~5 µs seeding its Mersenne Twister, as long as a whole simple problem
takes to make, and an item draws only a few dozen numbers. ``ItemRng`` draws its numbers from
BLAKE2b hashes of the item's key (64 bytes, sixteen 32-bit numbers, per block), so seeding is a
hash, and ``random()`` is a C-level step through the block (generators in hot loops bind
``r = rng.random`` and draw ``lo + int(r() * k)``). Floats have 32 random bits: plenty for picking
numbers and templates. It subclasses ``random.Random``, so ``shuffle``, ``sample``, ``choices`` and
``uniform`` work, all drawn from the same stream.

>>> a, b = ItemRng("fractions:0:3:17"), ItemRng("fractions:0:3:17")
>>> [a.randint(1, 6) for _ in range(40)] == [b.randint(1, 6) for _ in range(40)]
True
>>> ItemRng("x").random() != ItemRng("y").random()
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from hashlib import blake2b
from itertools import chain, count
from struct import Struct
from typing import TypeVar

__all__ = ["ItemRng"]

T = TypeVar("T")
_UNPACK = Struct("<16L").unpack  # little-endian everywhere
_SCALE = (2.0**-32).__mul__


def _floats(key: bytes) -> Iterator[map]:
    """Blocks of sixteen floats in [0, 1): block k is the 32-bit words of BLAKE2b(key, salt=k)."""
    yield map(_SCALE, _UNPACK(blake2b(key).digest()))  # salt 0 is the default (and cheaper to pass)
    for block in count(1):
        yield map(_SCALE, _UNPACK(blake2b(key, salt=block.to_bytes(16, "little")).digest()))


class ItemRng(random.Random):
    """A seeded stream of random numbers; every ``random.Random`` method draws from it."""

    def __init__(self, key: str = "") -> None:
        self.seed(key)

    def seed(self, key: str = "", version: int = 2) -> None:
        # an instance attribute: rng.random() is then a C call, not a Python one
        self.random = chain.from_iterable(_floats(str(key).encode())).__next__

    def getstate(self) -> None:
        raise NotImplementedError("an ItemRng is made again from its key, not saved")

    setstate = getstate

    def getrandbits(self, k: int) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        bits, have = 0, 0
        while have < k:
            bits, have = bits << 32 | int(self.random() * 4294967296.0), have + 32
        return bits >> (have - k)

    def _randbelow(self, n: int) -> int:
        """0 <= x < n; the bias is below n / 2**32 (nil for the ranges drawn here)."""
        if n > 1 << 24:
            return self._randbelow_with_getrandbits(n)
        return int(self.random() * n)

    def randint(self, a: int, b: int) -> int:
        if b < a or b - a >= 1 << 24:
            return super().randint(a, b)
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: Sequence[T]) -> T:
        if not seq:
            raise IndexError("cannot choose from an empty sequence")
        return seq[int(self.random() * len(seq))]
