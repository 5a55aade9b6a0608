"""The text forms users write for a mixture of tasks and for difficulty levels (flags, configs, presets).

>>> parse_mix("arithmetic=2,fractions")
{'arithmetic': 2.0, 'fractions': 1.0}
>>> parse_difficulty("1-3"), parse_difficulty("2,7")
([1, 2, 3], [2, 7])
"""

from __future__ import annotations

from datagen.registry import list_tasks

__all__ = ["parse_difficulty", "parse_mix"]


def parse_difficulty(text: str) -> list[int]:
    """``3`` -> [3]; ``1-5`` -> [1..5]; ``1,4,9`` -> [1, 4, 9]; errors name the bad text."""
    levels: list[int] = []
    for part in str(text).split(","):
        lo, _, hi = part.partition("-")
        try:
            levels += list(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"bad difficulty {text!r}: use N, N-M or N,M,...") from None
    if not levels or not all(1 <= d <= 10 for d in levels):
        raise ValueError(f"bad difficulty {text!r}: levels are 1..10")
    return levels


def parse_mix(text: str) -> dict[str, float]:
    """``TASK``, ``math``, ``code``, ``all`` or ``TASK=W,TASK=W`` -> weights by task name."""
    groups = {"math": list_tasks("math"), "code": list_tasks("code"), "all": list_tasks()}
    if text in groups:
        return dict.fromkeys(groups[text], 1.0)
    tasks = groups["all"]
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        if name not in tasks:
            raise ValueError(f"unknown task {name!r}; known: {', '.join(tasks)} (or math, code, all)")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ValueError(f"bad weight in {part!r}") from None
    return weights
