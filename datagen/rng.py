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
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from hashlib import blake2b
from itertools import chain, count
from struct import Struct
from typing import TypeVar

__all__ = ["ItemRng", "rng_from_key"]

T = TypeVar("T")
_UNPACK = Struct("<16L").unpack  # little-endian everywhere
_SCALE = (2.0**-32).__mul__
_new = random.Random.__new__


# The sixteen little-endian 32-bit words of a 64-byte digest: ``array`` copies them without making
# sixteen ints at once, where the machine's order is little-endian (a C call either way)
_words = partial(array, "I") if sys.byteorder == "little" and array("I").itemsize == 4 else _UNPACK


class _LaterBlocks(bytes):
    """The item's key; iterated, blocks 1, 2, ... of sixteen floats in [0, 1) (block k is the 32-bit
    words of BLAKE2b(key, salt=k)).

    ``chain`` calls ``iter`` on it only when block 0 runs out, so an item that draws sixteen numbers
    or fewer never starts the generator (and a ``bytes`` subclass is made without a Python call)."""

    __slots__ = ()

    def __iter__(self) -> Iterator[float]:
        return chain.from_iterable(self._blocks())

    def _blocks(self) -> Iterator[map]:
        for block in count(1):
            yield map(_SCALE, _words(blake2b(self, salt=block.to_bytes(16, "little")).digest()))


def _stream(key: bytes) -> Callable[[], float]:
    """The item's floats, one per call: block 0 (salt 0, the default) hashed now, the rest when drawn."""
    return chain(map(_SCALE, _words(blake2b(key).digest())), _LaterBlocks(key)).__next__


class ItemRng(random.Random):
    """A seeded stream of random numbers; every ``random.Random`` method draws from it."""

    __slots__ = ("random",)  # an instance attribute: rng.random() is then a C call, not a Python one

    def __init__(self, key: str = "") -> None:
        self.seed(key)

    def seed(self, key: str = "", version: int = 2) -> None:
        self.random = _stream(str(key).encode())

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


def rng_from_key(key: bytes, _new=_new, _cls=ItemRng, _stream=_stream) -> ItemRng:
    """``ItemRng(key.decode())`` without the Python-level ``__init__``, for loops over many items
    (the defaults bind globals as locals: this runs once per problem).

    >>> rng_from_key(b"a:0:1:5").random() == ItemRng("a:0:1:5").random()
    True
    """
    rng = _new(_cls)
    rng.random = _stream(key)
    return rng
