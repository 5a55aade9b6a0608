"""Named reward functions, and ``score``/``Rubric`` to combine them with weights.

Each reward is a pure function of a completion and its problem record (a ``Problem`` row: ``answer``,
``verifier``, ``meta``, ...). Group rewards (``length``) compare the completions sampled for one
prompt. A reward that cannot judge returns ``None`` and so does the weighted total, so a trainer can
skip the sample instead of punishing a parser failure.

| name | range | what it rewards |
|---|---|---|
| ``accuracy`` | {0, 1} | the answer is right, by the problem's ``verifier`` (math, equation, exact, countdown, factor, simplest, code) |
| ``format`` | {0, 1} | strict R1 template: one think block, then one answer block, nothing else |
| ``tag_count`` | [0, 1] | 0.25 per template tag present exactly once (partial credit early in training) |
| ``length`` | [-0.5, 0.5] | Kimi 1.5: shorter than the group's others, only when correct (group reward) |
| ``cosine_scaled`` | [-1, 1] | correct: shorter is better (1 to 0.5); wrong: longer is less bad (-1 to -0.5) |
| ``repetition_penalty`` | [-1, 0] | minus the share of repeated word n-grams |
| ``overlong`` | [-1, 0] | DAPO soft punishment over ``max_length - cache`` length, -1 beyond ``max_length`` |
| ``reasoning_steps`` | [0, 1] | step markers ("Step 1:", "1.", "First,", bullets), 3 or more score 1 |

Lengths are in characters unless the caller passes token counts (``lengths=``) or a ``length_fn``.

>>> problem = {"answer": "4", "verifier": "math"}
>>> score("<think>2+2</think>\\n<answer>4</answer>", problem).total
2.0
>>> score("<think>2+2</think>\\n<answer>4</answer> done", problem, weights={"accuracy": 1, "format": 0.5}).parts
{'accuracy': 1.0, 'format': 0.0}
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verifiers.format import check_format, tag_count
from verifiers.registry import VERIFIERS, judge, register_verifier
from verifiers.verdict import Verdict

__all__ = ["REWARDS", "VERIFIERS", "Judged", "Reward", "Rubric", "Score", "judge", "parsed_rubric", "register_verifier",
           "score"]

Problem = Mapping[str, Any]  # a row of the record (verifiers.problem.Problem.to_row()), or any mapping like it


# ---------------------------------------------------------------------------------------------
# The rewards. Pointwise: f(completion, problem, ctx) -> float | None. Group: lists in, list out.
# ``ctx`` holds what the rubric computed once: ``verdict``, ``correct`` (True/False/None),
# ``well_formed`` and ``length``.


@dataclass(frozen=True)
class Reward:
    """A registered reward: its function, range and whether it needs the whole group."""

    name: str
    fn: Callable[..., Any]
    low: float
    high: float
    group: bool = False
    doc: str = ""


REWARDS: dict[str, Reward] = {}


def _register(name: str, low: float, high: float, group: bool = False):
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        REWARDS[name] = Reward(name, fn, low, high, group, (fn.__doc__ or "").strip())
        return fn

    return wrap


@_register("accuracy", 0.0, 1.0)
def accuracy(completion: str, problem: Problem, ctx: dict) -> float | None:
    """1 when the problem's verifier says correct, 0 when incorrect, None when it cannot judge."""
    correct = ctx["correct"]
    return None if correct is None else float(correct)


@_register("format", 0.0, 1.0)
def follows_format(completion: str, problem: Problem, ctx: dict, strict: bool = True,
                   think_in_prompt: bool = False) -> float:
    """1 when the completion follows the think/answer template (strict by default)."""
    think_in_prompt = think_in_prompt or ctx["think_in_prompt"]
    if strict and think_in_prompt == ctx["think_in_prompt"]:
        return float(ctx["well_formed"])  # the rubric's own check, made once
    return float(check_format(completion, strict, think_in_prompt=think_in_prompt).ok)


@_register("tag_count", 0.0, 1.0)
def tag_count_reward(completion: str, problem: Problem, ctx: dict, think_in_prompt: bool = False) -> float:
    """0.25 for each of the four template tags present exactly once."""
    return tag_count(completion, think_in_prompt=think_in_prompt or ctx["think_in_prompt"])


@_register("length", -0.5, 0.5, group=True)
def length(completions: Sequence[str], problems: Sequence[Problem], ctxs: Sequence[dict]) -> list[float | None]:
    """Kimi 1.5: lambda = 0.5 - (len - min) / (max - min) within the group; wrong answers get min(0, lambda)."""
    lengths = [c["length"] for c in ctxs]
    shortest, longest = min(lengths), max(lengths)
    out: list[float | None] = []
    for n, ctx in zip(lengths, ctxs):
        if ctx["correct"] is None:
            out.append(None)
            continue
        lam = 0.0 if longest == shortest else 0.5 - (n - shortest) / (longest - shortest)
        out.append(lam if ctx["correct"] else min(0.0, lam))
    return out


@_register("cosine_scaled", -1.0, 1.0)
def cosine_scaled(completion: str, problem: Problem, ctx: dict, max_len: int = 1000,
                  min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                  min_value_wrong: float = -0.5, max_value_wrong: float = -1.0) -> float | None:
    """Cosine of the length share: correct answers earn more when short, wrong ones lose less when long."""
    if ctx["correct"] is None:
        return None
    progress = min(1.0, ctx["length"] / max_len)
    cosine = math.cos(progress * math.pi)
    if ctx["correct"]:
        lo, hi = min_value_correct, max_value_correct
    else:  # swapped so a short wrong answer is punished hardest
        lo, hi = min_value_wrong, max_value_wrong
    return lo + 0.5 * (hi - lo) * (1.0 + cosine)


@_register("repetition_penalty", -1.0, 0.0)
def repetition_penalty(completion: str, problem: Problem, ctx: dict, ngram: int = 3,
                       max_penalty: float = -1.0) -> float:
    """``max_penalty`` times the share of repeated word n-grams (0 when nothing repeats)."""
    words = completion.lower().split()
    if len(words) < ngram:
        return 0.0
    grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    return (1.0 - len(set(grams)) / len(grams)) * max_penalty


@_register("overlong", -1.0, 0.0)
def overlong(completion: str, problem: Problem, ctx: dict, max_length: int = 4096, cache: int = 1024) -> float:
    """DAPO's soft overlong punishment: 0 up to max_length - cache, linear to -1 at max_length, -1 beyond."""
    n, soft = ctx["length"], max_length - cache
    if n <= soft:
        return 0.0
    if n <= max_length:
        return (soft - n) / cache
    return -1.0


_STEP = re.compile(r"(?:Step \d+:|^\s*\d+\.\s|^\s*[-*]\s|\bFirst,|\bSecond,|\bNext,|\bThen,|\bFinally,)", re.M)


@_register("reasoning_steps", 0.0, 1.0)
def reasoning_steps(completion: str, problem: Problem, ctx: dict, target: int = 3) -> float:
    """Share of ``target`` step markers found (Step 1:, numbered lines, bullets, First/Next/Finally)."""
    return min(1.0, len(_STEP.findall(completion)) / target)


# ---------------------------------------------------------------------------------------------
# Combining rewards


@dataclass(frozen=True)
class Judged:
    """One completion, judged: the weighted total, each reward's value, and the verifier's verdict.

    ``total`` is None when any part could not judge; ``correct`` is None when the verifier could not
    decide (or the rubric did not ask it); ``well_formed`` is the strict think/answer template check.

    >>> j = Rubric({"accuracy": 1.0, "format": 0.5}).score("<think>2+2</think>\\n<answer>4</answer>",
    ...                                                     {"answer": "4", "verifier": "math"})
    >>> j.total, j.correct, j.well_formed, j.status, j.reason
    (1.5, True, True, 'correct', 'same answer (answer block)')
    """

    total: float | None
    parts: dict[str, float | None] = field(default_factory=dict)
    correct: bool | None = None
    well_formed: bool = False
    status: str | None = None
    reason: str | None = None
    extracted: str | None = None

    @property
    def verdict(self) -> Verdict | None:
        """The verdict as the verifier's own type (None when the rubric did not ask the verifier)."""
        return None if self.status is None else Verdict(self.status, self.reason or "", self.extracted)

    def to_dict(self) -> dict:
        """The fields as plain JSON data (what ``rlvr score`` and the trainers write)."""
        return {"total": self.total, "parts": dict(self.parts), "correct": self.correct,
                "well_formed": self.well_formed, "status": self.status, "reason": self.reason,
                "extracted": self.extracted}


Score = Judged  # the name before Judged; kept for callers of ``score(...)``


class Rubric:
    """A weighted set of named rewards with their options.

    ``think_in_prompt``: the prompt ends with ``<think>`` (a chat template that prefills it), so the
    template check (``well_formed``, ``format``, ``tag_count``) expects no ``<think>`` in the completion.

    >>> rubric = Rubric({"accuracy": 1.0, "format": 0.5, "length": 0.2})
    >>> group = ["<answer>4</answer>", "<answer>4.0</answer>", "<answer>5</answer>"]
    >>> [s.total for s in rubric.score_group(group, {"answer": "4", "verifier": "math"})]
    [1.1, 0.9, 0.0]
    """

    def __init__(self, weights: Mapping[str, float] | Sequence[str] = ("accuracy", "format"),
                 options: Mapping[str, Mapping[str, Any]] | None = None,
                 length_fn: Callable[[str], int] = len, punish_no_answer: bool = False,
                 think_in_prompt: bool = False):
        if isinstance(weights, str):
            weights = [weights]
        self.weights = dict(weights) if isinstance(weights, Mapping) else {name: 1.0 for name in weights}
        unknown = [n for n in self.weights if n not in REWARDS]
        if unknown:
            raise ValueError(f"unknown reward {', '.join(map(repr, unknown))}; known: {', '.join(sorted(REWARDS))}")
        self.options = {name: dict(opts) for name, opts in (options or {}).items()}
        stray = [n for n in self.options if n not in self.weights]
        if stray:
            raise ValueError(f"options given for reward(s) not in the rubric: {', '.join(stray)}")
        self.length_fn = length_fn
        self.punish_no_answer = punish_no_answer
        self.think_in_prompt = think_in_prompt
        self._needs_verdict = any(n in self.weights for n in ("accuracy", "length", "cosine_scaled"))

    @classmethod
    def parse(cls, text: str, **kwargs: Any) -> Rubric:
        """``"accuracy,format=0.5"`` -> weights {accuracy: 1, format: 0.5}; errors name the bad part."""
        weights: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, weight = part.partition("=")
            try:
                weights[name.strip()] = float(weight) if weight else 1.0
            except ValueError:
                raise ValueError(f"bad weight in {part!r}: expected NAME or NAME=NUMBER") from None
        if not weights:
            raise ValueError("no rewards given")
        return cls(weights, **kwargs)

    @property
    def names(self) -> list[str]:
        return list(self.weights)

    def context(self, completion: str, problem: Problem, length: int | None = None) -> dict:
        """What every reward may read, computed once: the verdict, ``correct``, ``well_formed``, ``length``.

        With ``punish_no_answer``, a completion with no final answer, or one the verifier cannot read
        that is also outside the template, counts as wrong (the model's failure, not the parser's); a
        well-formed answer the verifier cannot read, or a timeout, stays could-not-judge.
        """
        verdict = judge(completion, problem) if self._needs_verdict else None
        well_formed = check_format(completion, think_in_prompt=self.think_in_prompt).ok
        correct = None if verdict is None or not verdict.judged else verdict.correct
        if (self.punish_no_answer and verdict is not None and correct is None
                and (verdict.status == "no_answer" or not well_formed)):
            correct = False
        return {"verdict": verdict, "correct": correct, "well_formed": well_formed,
                "think_in_prompt": self.think_in_prompt,
                "length": self.length_fn(completion) if length is None else length}

    def score_group(self, completions: Sequence[str], problems: Problem | Sequence[Problem],
                    lengths: Sequence[int] | None = None) -> list[Judged]:
        """Scores for completions sampled for one prompt (or one problem per completion)."""
        if isinstance(problems, Mapping):
            problems = [problems] * len(completions)
        if len(problems) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(problems)} problems")
        lengths = lengths if lengths is not None else [None] * len(completions)
        ctxs = [self.context(c, p, n) for c, p, n in zip(completions, problems, lengths)]
        columns: dict[str, list[float | None]] = {}
        for name in self.weights:
            reward, opts = REWARDS[name], self.options.get(name, {})
            if reward.group:
                columns[name] = reward.fn(completions, problems, ctxs, **opts)
            else:
                columns[name] = [reward.fn(c, p, x, **opts) for c, p, x in zip(completions, problems, ctxs)]
        return [self._combine({name: col[k] for name, col in columns.items()}, ctxs[k])
                for k in range(len(completions))]

    def score(self, completion: str, problem: Problem, length: int | None = None) -> Judged:
        """The score of one completion (group rewards see a group of one)."""
        return self.score_group([completion], [problem], None if length is None else [length])[0]

    def _combine(self, parts: dict[str, float | None], ctx: dict) -> Judged:
        verdict = ctx["verdict"]
        total = (None if any(v is None for v in parts.values())
                 else round(sum(self.weights[n] * v for n, v in parts.items()), 12))  # type: ignore[operator]
        return Judged(total, parts, ctx["correct"], ctx["well_formed"],
                      verdict.status if verdict else None, verdict.reason if verdict else None,
                      verdict.extracted if verdict else None)


@functools.lru_cache(maxsize=64)
def parsed_rubric(spec: str, think_in_prompt: bool = False) -> Rubric:
    """``Rubric.parse(spec)``, made once per spec: for adapters that get the rewards as text on every call
    (verl's ``reward_kwargs``, the reward server's requests). Raises ValueError for a bad spec."""
    return Rubric.parse(spec, think_in_prompt=think_in_prompt)


def score(completion: str, problem: Problem, rewards: Sequence[str] | Mapping[str, float] | None = None,
          weights: Mapping[str, float] | None = None, **options: Mapping[str, Any]) -> Judged:
    """Score one completion with named rewards (default accuracy + format, weight 1 each).

    ``weights`` maps names to weights and implies the rewards; ``options`` are per-reward keyword
    arguments, e.g. ``cosine_scaled={"max_len": 2000}``.
    """
    chosen = weights if weights is not None else (rewards if rewards is not None else ("accuracy", "format"))
    return Rubric(chosen, options=options).score(completion, problem)
