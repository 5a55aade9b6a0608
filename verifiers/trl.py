"""Reward functions for TRL's ``GRPOTrainer``, built from rlvr's reward registry.

    from trl import GRPOConfig, GRPOTrainer
    from verifiers.trl import reward_funcs

    trainer = GRPOTrainer(model=..., train_dataset=problems,
                          reward_funcs=reward_funcs(["accuracy", "format"], weights=[1.0, 0.5]), ...)

Each callable has the signature TRL calls: ``f(prompts, completions, **columns)``, where the
dataset's columns (``answer``, ``verifier``, ``meta``, ...) arrive as lists and TRL adds its own
keywords (``completion_ids``, ``trainer_state``, ...). Completions may be plain strings or
conversational message lists. A reward that cannot judge returns None for that sample, which TRL
turns into NaN and leaves out. This module does not import TRL.

>>> accuracy, = reward_funcs("accuracy")
>>> accuracy(prompts=["2+2?"], completions=[[{"role": "assistant", "content": "<answer>4</answer>"}]],
...          answer=["4"], verifier=["math"])
[1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from verifiers.rewards import REWARDS, Rubric

__all__ = ["completion_text", "reward_funcs"]


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the assistant content of a message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    parts = []
    for message in completion or []:
        if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            content = message.get("content", "")
            if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
                content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
            parts.append(str(content))
    return "".join(parts)


def _rows(n: int, columns: Mapping[str, Any]) -> list[dict]:
    """Problem records from the dataset columns TRL passes as keyword lists."""
    cols = {k: v for k, v in columns.items() if isinstance(v, (list, tuple)) and len(v) == n}
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def _groups(prompts: Sequence[Any] | None, n: int) -> list[list[int]]:
    """Indices of completions that share a prompt (the GRPO group)."""
    if prompts is None:
        return [list(range(n))]
    index: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        index.setdefault(repr(prompt), []).append(i)
    return list(index.values())


def reward_funcs(names: str | Sequence[str] = ("accuracy", "format"), weights: Sequence[float] | None = None,
                 **options: Mapping[str, Any]) -> list[Callable[..., list[float | None]]]:
    """One TRL reward callable per name, each scaled by its weight and named after its reward.

    ``options`` are per-reward keyword arguments (``cosine_scaled={"max_len": 512}``). Lengths are
    token counts when TRL passes ``completion_ids``, else characters.
    """
    names = [names] if isinstance(names, str) else list(names)
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise ValueError(f"{len(names)} reward names but {len(weights)} weights")
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward {', '.join(map(repr, unknown))}; known: {', '.join(sorted(REWARDS))}")
    return [_make(name, weight, options.get(name, {})) for name, weight in zip(names, weights)]


def _make(name: str, weight: float, opts: Mapping[str, Any]) -> Callable[..., list[float | None]]:
    rubric = Rubric({name: weight}, options={name: opts} if opts else None)

    def reward(prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any):
        texts = [completion_text(c) for c in completions]
        problems = _rows(len(texts), columns)
        ids = columns.get("completion_ids")
        lengths = [len(x) for x in ids] if isinstance(ids, (list, tuple)) and len(ids) == len(texts) else None
        out: list[float | None] = [None] * len(texts)
        for group in _groups(prompts, len(texts)):
            scores = rubric.score_group([texts[i] for i in group], [problems[i] for i in group],
                                        None if lengths is None else [lengths[i] for i in group])
            for i, s in zip(group, scores):
                out[i] = s.total
        return out

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = REWARDS[name].doc
    return reward
