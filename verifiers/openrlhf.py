"""rlvr's verifiers inside OpenRLHF: this file is a ``reward_func`` module, and OpenRLHF's data layout.

OpenRLHF loads a ``.py`` file given as its remote reward URL (``--reward.remote_url``; ``--remote_rm_url``
in older releases) and calls ``reward_func(queries, prompts, labels)`` on each batch; the same
request, sent over HTTP, is what ``rlvr serve-rewards`` answers (``verifiers/server.py``)::

    python -m openrlhf.cli.train_ppo_ray ... \\
        --reward.remote_url "$(python -c 'import verifiers.openrlhf as m; print(m.__file__)')" \\
        --data.prompt_dataset train.jsonl --data.input_key prompt --data.label_key label \\
        --data.apply_chat_template

``queries`` are prompt and response decoded together (special tokens kept), ``prompts`` the rendered
prompts, ``labels`` the dataset's label column. ``rlvr gen --format openrlhf`` writes that column as
JSON text holding the gold answer, the verifier, its ``meta`` and a code problem's tests
(``to_openrlhf``); a plain label (OpenRLHF's own math sets) is a gold answer for the ``math`` verifier.

The reply is OpenRLHF's: ``rewards`` (the weighted rewards, a part that could not judge counting 0),
``scores`` (1 for a correct answer, else 0: what its dynamic filtering reads), ``extra_logs`` (numbers
per sample: each reward, ``unjudged``, ``timeout``), and ``verdicts`` (status and reason per sample;
OpenRLHF ignores keys it does not know).

>>> label = to_openrlhf({"id": "a/s0/000001", "task": "a", "prompt": "2+3?", "answer": "5", "solution": "5",
...                      "verifier": "math", "tests": "", "difficulty": 1, "meta": "{}"})["label"]
>>> out = reward_func(["User: 2+3?\\nAssistant: <think>2+3</think> <answer>5</answer><|im_end|>"],
...                   ["User: 2+3?\\nAssistant:"], [label])
>>> out["rewards"], out["scores"], out["verdicts"][0]["status"]
([2.0], [1.0], 'correct')
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from verifiers.format import SYSTEM_PROMPT, prompt_opens_think
from verifiers.problem import encode_meta, stored_meta
from verifiers.rewards import Judged, parsed_rubric

__all__ = ["from_openrlhf", "groups", "label_problem", "reply", "response_of", "reward_func", "samples",
           "score_samples", "to_openrlhf"]

_JUDGING = ("answer", "verifier", "tests", "meta")  # what the label carries: all a verifier reads
# End-of-sequence and turn markers a decoder keeps with skip_special_tokens=False: <|im_end|>, </s>, ...
_SPECIAL_TAIL = re.compile(r"(?:\s*(?:<\|[^<>|\s]{1,40}\|>|<｜[^<>｜]{1,40}｜>|</s>|<eos>|<end_of_turn>))+\s*\Z")


def to_openrlhf(row: Mapping[str, Any]) -> dict:
    """A Problem row as an OpenRLHF prompt-dataset record (``--data.input_key prompt
    --data.label_key label``); ``datasource`` is the key OpenRLHF groups its logs by."""
    label = {"answer": row["answer"], "verifier": row["verifier"], "tests": row.get("tests") or "",
             "meta": stored_meta(row.get("meta") or {})}
    return {"prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["prompt"]}],
            "label": encode_meta(label), "datasource": f"rlvr/{row['task']}", "id": row["id"], "task": row["task"],
            "solution": row["solution"], "difficulty": int(row["difficulty"])}


@functools.lru_cache(maxsize=4096)
def _parsed_label(label: str) -> dict:
    try:
        value = json.loads(label)
    except (json.JSONDecodeError, RecursionError):
        value = None
    if isinstance(value, dict) and ("answer" in value or "verifier" in value):
        return {"answer": str(value.get("answer", "")), "verifier": value.get("verifier") or "math",
                "tests": value.get("tests") or "", "meta": value.get("meta") or "{}"}
    return {"answer": label, "verifier": "math", "tests": "", "meta": "{}"}


def label_problem(label: Any) -> dict:
    """The problem a label stands for: rlvr's JSON label, a mapping of the same fields, or a gold answer.

    >>> label_problem("34")["answer"], label_problem('{"answer": "x = 2", "verifier": "exact"}')["verifier"]
    ('34', 'exact')
    """
    if isinstance(label, Mapping):
        return _parsed_label(json.dumps({k: label[k] for k in _JUDGING if k in label}))
    return dict(_parsed_label(label if isinstance(label, str) else json.dumps(label)))


def from_openrlhf(record: Mapping[str, Any]) -> dict:
    """An OpenRLHF record (``prompt``/``label``, as ``to_openrlhf`` writes it) back as a Problem row."""
    messages = record.get("prompt")
    if isinstance(messages, str):
        prompt = messages
    else:
        users = [m.get("content", "") for m in messages or [] if isinstance(m, Mapping) and m.get("role") == "user"]
        prompt = users[-1] if users else ""
    return {"id": str(record.get("id", "")), "task": record.get("task") or str(record.get("datasource", "")),
            "prompt": prompt, "solution": record.get("solution") or "", "difficulty": record.get("difficulty") or 5,
            **label_problem(record.get("label", ""))}


def response_of(query: str, prompt: str) -> str:
    """The response in a query: the text after the prompt, less trailing end-of-sequence markers.

    >>> response_of("Q: 1+1?\\nA: <answer>2</answer></s>", "Q: 1+1?\\nA:")
    ' <answer>2</answer>'
    """
    if prompt and query.startswith(prompt):
        query = query[len(prompt):]
    elif prompt and prompt in query:  # a tokenizer's BOS decoded in front of the prompt
        query = query[query.index(prompt) + len(prompt):]
    return _SPECIAL_TAIL.sub("", query)


def samples(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> list[tuple[str, dict, bool]]:
    """``(response, problem, think_in_prompt)`` for each sample of an OpenRLHF request."""
    if not len(queries) == len(prompts) == len(labels):
        raise ValueError(f"{len(queries)} queries, {len(prompts)} prompts and {len(labels)} labels: "
                         "expected one of each per sample")
    return [(response_of(q, p), label_problem(label), prompt_opens_think(p))
            for q, p, label in zip(queries, prompts, labels)]


def reply(judged: Sequence[Judged], weights: Mapping[str, float]) -> dict:
    """OpenRLHF's response for judged samples (see the module's doc)."""
    parts = {name: [0.0 if j.parts.get(name) is None else j.parts[name] for j in judged] for name in weights}
    rewards = [round(sum(weights[name] * parts[name][k] for name in weights), 12) for k in range(len(judged))]
    scores = [(1.0 if j.correct else 0.0) if j.status is not None else r for j, r in zip(judged, rewards)]
    extra = {**parts, "unjudged": [1.0 if j.status is not None and j.correct is None else 0.0 for j in judged],
             "timeout": [1.0 if j.status == "timeout" else 0.0 for j in judged]}
    return {"rewards": rewards, "scores": scores, "extra_logs": extra,
            "verdicts": [{"status": j.status, "reason": j.reason} for j in judged]}


def groups(items: Sequence[tuple[str, dict, bool]]) -> list[list[int]]:
    """Which ``(completion, problem, think_in_prompt)`` items share a problem: each list is one GRPO group
    (the reward server groups a request's samples the same way)."""
    members: dict[tuple[str, bool], list[int]] = {}
    for k, (_, problem, think) in enumerate(items):
        members.setdefault((json.dumps(problem, sort_keys=True), think), []).append(k)
    return list(members.values())


def score_samples(items: Sequence[tuple[str, dict, bool]], rewards: str) -> list[Judged]:
    """Judge ``samples(...)`` here, the samples of one problem together."""
    out: list[Judged] = [None] * len(items)  # type: ignore[list-item]
    for members in groups(items):
        rubric = parsed_rubric(rewards, items[members[0]][2])
        for k, j in zip(members, rubric.score_group([items[k][0] for k in members], [items[k][1] for k in members])):
            out[k] = j
    return out


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any],
                rewards: str = "accuracy,format", **kwargs: Any) -> dict:
    """OpenRLHF's custom reward function: rlvr's rewards (``accuracy,format`` by default) for each sample."""
    return reply(score_samples(samples(queries, prompts, labels), rewards), parsed_rubric(rewards, False).weights)
