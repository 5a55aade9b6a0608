"""Reward functions for TRL's ``GRPOTrainer``, built from rlvr's reward registry.

    from trl import GRPOConfig, GRPOTrainer
    from verifiers.trl import reward_funcs

    trainer = GRPOTrainer(model=..., train_dataset=problems,
                          reward_funcs=reward_funcs(["accuracy", "format"], weights=[1.0, 0.5]), ...)

Each reward is also a module-level callable, for TRL's command line, which imports dotted paths::

    trl grpo --model_name_or_path Qwen/Qwen2.5-0.5B-Instruct --dataset_name data/ \\
        --reward_funcs verifiers.trl.accuracy verifiers.trl.format

Each callable has the signature TRL calls: ``f(prompts, completions, **columns)``, where the
dataset's columns (``answer``, ``verifier``, ``meta``, ...) arrive as lists and TRL adds its own
keywords (``completion_ids``, ``trainer_state``, ...). Completions may be plain strings or
conversational message lists. A reward that cannot judge returns None for that sample, which TRL
turns into NaN and leaves out. Where TRL passes its logging hooks (``log_extra``, ``log_metric``;
TRL 1.16 does), a reward that asks the verifier logs each sample's ``{name}/status`` and
``{name}/reason`` in the completions table, and ``rewards/{name}/unjudged_ratio`` and
``rewards/{name}/timeout_ratio`` beside TRL's metrics.

A prompt that ends with ``<think>`` (a chat template that prefills it, rendered by the user into a
text prompt, or the last assistant message of a conversational one) makes the template rewards
expect completions that start inside the think block; ``think_in_prompt=True``/``False`` overrides.
This module does not import TRL.

>>> accuracy(prompts=["2+2?"], completions=[[{"role": "assistant", "content": "<answer>4</answer>"}]],
...          answer=["4"], verifier=["math"])
[1.0]
>>> format(prompts=["User: 2+2?\\nAssistant: <think>"], completions=["2+2 is 4</think> <answer>4</answer>"])
[1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from verifiers.format import prompt_opens_think
from verifiers.rewards import REWARDS, Judged, Rubric

__all__ = ["accuracy", "completion_text", "cosine_scaled", "format", "length", "overlong", "reasoning_steps",
           "repetition_penalty", "reward_funcs", "tag_count"]


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


def _opens_think(prompt: Any) -> bool:
    """A text prompt that ends with ``<think>``, or a conversation whose last (assistant) turn does."""
    if isinstance(prompt, str):
        return prompt_opens_think(prompt)
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[-1], Mapping):
        return prompt[-1].get("role") == "assistant" and prompt_opens_think(completion_text(prompt[-1]))
    return False


def reward_funcs(names: str | Sequence[str] = ("accuracy", "format"), weights: Sequence[float] | None = None,
                 think_in_prompt: bool | None = None,
                 **options: Mapping[str, Any]) -> list[Callable[..., list[float | None]]]:
    """One TRL reward callable per name, each scaled by its weight and named after its reward.

    ``options`` are per-reward keyword arguments (``cosine_scaled={"max_len": 512}``). Lengths are
    token counts when TRL passes ``completion_ids``, else characters. ``think_in_prompt`` None decides
    from each prompt (see the module's doc).
    """
    names = [names] if isinstance(names, str) else list(names)
    weights = [1.0] * len(names) if weights is None else list(weights)
    if len(weights) != len(names):
        raise ValueError(f"{len(names)} reward names but {len(weights)} weights")
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward {', '.join(map(repr, unknown))}; known: {', '.join(sorted(REWARDS))}")
    return [_make(name, weight, options.get(name, {}), think_in_prompt) for name, weight in zip(names, weights)]


def _log(name: str, judged: list[Judged], columns: Mapping[str, Any]) -> None:
    """The verdicts through TRL's logging hooks, for a reward that asked the verifier."""
    if not judged or all(j.status is None for j in judged):
        return
    log_extra, log_metric = columns.get("log_extra"), columns.get("log_metric")
    if callable(log_extra):
        log_extra(f"{name}/status", [j.status for j in judged])
        log_extra(f"{name}/reason", [j.reason for j in judged])
    if callable(log_metric):
        n = len(judged)
        log_metric(f"rewards/{name}/unjudged_ratio", sum(j.status is not None and j.correct is None for j in judged) / n)
        log_metric(f"rewards/{name}/timeout_ratio", sum(j.status == "timeout" for j in judged) / n)


def _make(name: str, weight: float, opts: Mapping[str, Any],
          think_in_prompt: bool | None) -> Callable[..., list[float | None]]:
    rubrics = {think: Rubric({name: weight}, options={name: opts} if opts else None, think_in_prompt=think)
               for think in (False, True)}

    def reward(prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any):
        texts = [completion_text(c) for c in completions]
        problems = _rows(len(texts), columns)
        ids = columns.get("completion_ids")
        lengths = [len(x) for x in ids] if isinstance(ids, (list, tuple)) and len(ids) == len(texts) else None
        judged: list[Judged] = [None] * len(texts)  # type: ignore[list-item]
        for group in _groups(prompts, len(texts)):
            think = think_in_prompt if think_in_prompt is not None else (
                prompts is not None and _opens_think(prompts[group[0]]))
            scores = rubrics[think].score_group([texts[i] for i in group], [problems[i] for i in group],
                                                None if lengths is None else [lengths[i] for i in group])
            for i, s in zip(group, scores):
                judged[i] = s
        _log(name, judged, columns)
        return [j.total for j in judged]

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = REWARDS[name].doc
    reward.__module__ = __name__
    return reward


# Every reward at weight 1, by its name: ``--reward_funcs verifiers.trl.accuracy`` on TRL's command line.
(accuracy, format, tag_count, length, cosine_scaled, repetition_penalty, overlong,
 reasoning_steps) = reward_funcs(["accuracy", "format", "tag_count", "length", "cosine_scaled", "repetition_penalty",
                                  "overlong", "reasoning_steps"])
