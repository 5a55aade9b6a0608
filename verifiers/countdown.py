"""The ``countdown`` verifier: reach the target with the given numbers, each used at most once.

Any valid expression is correct. The answer is parsed by rlvr's own parser and evaluated in exact
rational arithmetic (never ``eval``); only numbers, ``+ - * /`` and parentheses are allowed.

>>> meta = {"numbers": [25, 5, 4, 3], "target": 83}
>>> verify_countdown("<answer>(25 - 5) * 4 + 3</answer>", meta).status
'correct'
>>> verify_countdown("<answer>25 * 3 + 4 + 4</answer>", meta).reason
'uses 4 twice but it is given once'
"""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction

from verifiers.budget import Budget, OutOfTime
from verifiers.extract import answer_of
from verifiers.latex import ParseError, parse
from verifiers.numeric import Evaluator, NotANumber
from verifiers.verdict import Verdict

__all__ = ["verify_countdown"]

_ALLOWED = {"num", "add", "neg", "mul", "div"}
_TIMES = {1: "once", 2: "twice"}


def _spec(meta: dict | str) -> tuple[Counter, Fraction]:
    if isinstance(meta, str):
        meta = json.loads(meta)
    numbers, target = meta.get("numbers"), meta.get("target")
    if not isinstance(numbers, list) or not numbers or not all(isinstance(n, int) for n in numbers):
        raise ValueError("meta['numbers'] must be a non-empty list of integers")
    if not isinstance(target, int):
        raise ValueError("meta['target'] must be an integer")
    return Counter(Fraction(n) for n in numbers), Fraction(target)


def _literals(node: tuple, out: list) -> None:
    kind = node[0]
    if kind not in _ALLOWED:
        raise ValueError(f"{kind} is not allowed (only + - * / and parentheses)")
    if kind == "num":
        if node[2] is not None or node[1].denominator != 1:
            raise ValueError("only the given whole numbers may appear")
        out.append(node[1])
    elif kind == "neg":
        _literals(node[1], out)
    elif kind == "div":
        _literals(node[1], out)
        _literals(node[2], out)
    else:
        for child in node[1]:
            _literals(child, out)


def verify_countdown(completion: str, meta: dict | str, *, timeout_s: float = 1.0,
                     extract: bool = True) -> Verdict:
    """Check that the answer expression uses the given numbers at most once each and hits the target."""
    try:
        available, target = _spec(meta)
    except (ValueError, json.JSONDecodeError, AttributeError) as exc:
        return Verdict("unparseable", f"bad problem: {exc}")
    answer, where = answer_of(completion, extract)
    if answer is None:
        return Verdict("no_answer", where)
    budget = Budget(timeout_s)
    try:
        tree = parse(answer, budget)
        if tree[0] == "rel" and tree[1] == ["="] and len(tree[2]) == 2:  # "(25-5)*4+3 = 83"
            left, right = tree[2]
            tree = left if right == ("num", target, None) else right if left == ("num", target, None) else tree
        used: list[Fraction] = []
        _literals(tree, used)
        value = Evaluator(budget).value(tree, {})
    except OutOfTime:
        return Verdict("timeout", f"over the {timeout_s:g} s budget", answer)
    except NotANumber as exc:
        return Verdict("incorrect", str(exc), answer)
    except (ParseError, ValueError) as exc:
        return Verdict("incorrect", f"not a countdown expression: {exc}", answer)
    for number, count in Counter(used).items():
        if count > available[number]:
            given = _TIMES.get(available[number], f"{available[number]} times") if available[number] else "not given"
            times = _TIMES.get(count, f"{count} times")
            return Verdict("incorrect", f"uses {number} {times} but it is {'given ' if available[number] else ''}{given}",
                           answer)
    if value != target:
        return Verdict("incorrect", f"equals {value}, not {target}", answer)
    return Verdict("correct", f"reaches {target}", answer)
