"""rlvr's verifiers inside verl: ``compute_score`` for ``custom_reward_function``, and verl's data layout.

In verl's trainer config (verl loads ``pkg://`` paths with ``importlib``; rlvr must be installed)::

    custom_reward_function:
      path: pkg://verifiers.verl
      name: compute_score
      reward_kwargs: {rewards: "accuracy,format=0.5"}   # optional; default accuracy,format

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` once per response.
``rlvr gen --format verl`` writes the Parquet rows it reads (verl's ``prompt``/``reward_model``/
``extra_info`` layout, see ``to_verl``): the gold answer is ``reward_model.ground_truth`` and the
verifier, its ``meta`` and a code problem's tests travel in ``extra_info``. A row rlvr did not write
(verl's own GSM8K or MATH data) has none of them and is judged by the ``math`` verifier.

The score is verl's dict form: ``score`` (the weighted rewards, a part that could not judge counting
0) plus what verl logs beside it: ``acc`` and ``pred`` (as verl's own math scorers name them), the
verdict's ``status`` and ``reason``, ``unjudged`` (1 when the verifier could not decide) and each
reward's value.

>>> row = {"id": "arithmetic/s0/000000", "task": "arithmetic", "prompt": "What is 2 + 3?", "answer": "5",
...        "solution": "2 + 3 = 5", "verifier": "math", "tests": "", "difficulty": 1, "meta": "{}"}
>>> verl = to_verl(row, index=0)
>>> verl["reward_model"], verl["prompt"][-1]["content"]
({'style': 'rule', 'ground_truth': '5'}, 'What is 2 + 3?')
>>> s = compute_score(verl["data_source"], "<think>2+3</think>\\n<answer>5</answer>",
...                   verl["reward_model"]["ground_truth"], verl["extra_info"])
>>> s["score"], s["acc"], s["status"]
(2.0, 1.0, 'correct')
>>> compute_score("openai/gsm8k", "so it is\\n#### 72", "72", {"split": "test", "index": 0})["acc"]
1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verifiers.format import SYSTEM_PROMPT
from verifiers.problem import stored_meta
from verifiers.rewards import parsed_rubric

__all__ = ["compute_score", "from_verl", "problem_of", "to_verl"]

# what rlvr keeps in extra_info, besides verl's own index (the rest of a Problem row)
_EXTRA = ("id", "task", "verifier", "tests", "meta", "difficulty", "solution")


def to_verl(row: Mapping[str, Any], index: int) -> dict:
    """A Problem row in verl's RL data layout (``examples/data_preprocess/gsm8k.py``'s fields)."""
    return {
        "data_source": f"rlvr/{row['task']}",
        "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["prompt"]}],
        "ability": "code" if row["verifier"] == "code" else "math",
        "reward_model": {"style": "rule", "ground_truth": row["answer"]},
        "extra_info": {"index": index, "id": row["id"], "task": row["task"], "verifier": row["verifier"],
                       "tests": row.get("tests") or "", "meta": stored_meta(row.get("meta") or {}),
                       "difficulty": int(row["difficulty"]), "solution": row["solution"]},
    }


def problem_of(ground_truth: Any, extra_info: Mapping[str, Any] | None) -> dict:
    """The problem record a verl sample stands for: the gold, and rlvr's fields from ``extra_info``.

    >>> problem_of("72", None)
    {'answer': '72', 'verifier': 'math', 'tests': '', 'meta': '{}'}
    """
    extra = extra_info or {}
    return {"answer": "" if ground_truth is None else str(ground_truth), "verifier": extra.get("verifier") or "math",
            "tests": extra.get("tests") or "", "meta": extra.get("meta") or "{}"}


def from_verl(record: Mapping[str, Any]) -> dict:
    """A verl row back as a Problem row (``rlvr check-data`` reads verl data through it). A row rlvr did
    not write takes its id from ``data_source`` and ``extra_info.index``, and its worked solution from
    ``extra_info.answer`` where verl's GSM8K script keeps the original one."""
    extra = record.get("extra_info") or {}
    messages = record.get("prompt")
    if isinstance(messages, str):
        prompt = messages
    else:
        users = [m.get("content", "") for m in messages or [] if isinstance(m, Mapping) and m.get("role") == "user"]
        prompt = users[-1] if users else ""
    source = str(record.get("data_source", ""))
    reward_model = record.get("reward_model") or {}
    return {"id": extra.get("id") or f"{source}/{extra.get('index', '')}",
            "task": extra.get("task") or source.removeprefix("rlvr/"), "prompt": prompt,
            "solution": extra.get("solution") or extra.get("answer") or "",
            "difficulty": extra.get("difficulty") or 5,
            **problem_of(reward_model.get("ground_truth"), extra)}


def _spec(rewards: str | Mapping[str, float]) -> str:
    """``"accuracy,format=0.5"`` from either form (verl's ``reward_kwargs`` may hold a mapping)."""
    if isinstance(rewards, str):
        return rewards
    return ",".join(f"{name}={float(weight)!r}" for name, weight in rewards.items())


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  rewards: str | Mapping[str, float] = "accuracy,format", think_in_prompt: bool = False,
                  **_verl: Any) -> dict:
    """verl's reward-function contract: one response scored against its sample's gold and ``extra_info``.

    ``rewards`` and ``think_in_prompt`` (the chat template prefills ``<think>``) come from the config's
    ``custom_reward_function.reward_kwargs``. Other keywords verl passes (``reward_router_address``, ...)
    are not needed here.
    """
    rubric = parsed_rubric(_spec(rewards), bool(think_in_prompt))
    judged = rubric.score(solution_str, problem_of(ground_truth, extra_info))
    parts = {name: 0.0 if value is None else value for name, value in judged.parts.items()}
    return {"score": round(sum(rubric.weights[name] * value for name, value in parts.items()), 12),
            "acc": 1.0 if judged.correct else 0.0, "pred": judged.extracted or "",
            "status": judged.status or "", "reason": judged.reason or "",
            "unjudged": 1.0 if judged.status is not None and judged.correct is None else 0.0, **parts}
