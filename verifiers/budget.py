"""A cooperative time budget: long work checks it often and stops cleanly when it runs out.

Signals (``SIGALRM``) only work in the main thread, so rlvr bounds time the other way: every loop
and every node of the evaluator calls :meth:`Budget.check`, and each single step is itself bounded
(size guards on powers, factorials and precision), so no step can run long between two checks.

>>> b = Budget(1.0)
>>> b.check()
>>> Budget(0.0).expired()
True
"""

from __future__ import annotations

import time

__all__ = ["Budget", "OutOfTime"]


class OutOfTime(Exception):
    """The time budget ran out."""


class Budget:
    """A deadline ``seconds`` from now."""

    __slots__ = ("deadline", "seconds")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def check(self) -> None:
        if time.monotonic() >= self.deadline:
            raise OutOfTime(f"over the {self.seconds:g} s budget")
