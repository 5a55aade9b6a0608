"""Is a model's final math answer equal to the gold answer? ``verify_math`` decides.

It never raises on model text and never runs past its time budget: parsing is rlvr's own (no
``eval``), evaluation is size-guarded and checks the budget cooperatively, so it works the same
from threads, async code and worker processes.

>>> verify_math("1/2", "<think>half</think><answer>\\\\frac{2}{4}</answer>").status
'correct'
>>> verify_math("7", "<answer>7 or 8</answer>").status
'no_answer'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

from verifiers.budget import Budget, OutOfTime
from verifiers.equivalence import MAX_DPS, Judge, canon
from verifiers.evaluate import literal_digits
from verifiers.extract import answer_of, boxed_contents, is_hedge
from verifiers.latex import AMBIGUOUS_COMMA, MAX_LENGTH, ParseError, normalize, parse, text_key
from verifiers.verdict import Verdict

__all__ = ["verify_math", "verify_math_batch"]

log = logging.getLogger(__name__)
MAX_ANSWER_CHARS = 20_000
_CHOICE = re.compile(r"^\(?([A-J])\)?$")
_CHOICE_IN_ANSWER = re.compile(r"^(?:option |choice )?(?:\(([A-J])\)(?![+\-*/^=_])|([A-J])(?:[.):]|$)(?:\s|$))", re.I)
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf)\s*\{([^{}]*)\}")


def verify_math(gold: str | int | float, completion: str, *, timeout_s: float = 1.0,
                extract: bool = True) -> Verdict:
    """Check the final answer in ``completion`` against ``gold``.

    ``timeout_s`` bounds the whole call; ``extract=False`` takes ``completion`` as the bare answer.
    Returns a :class:`Verdict` whose status is ``correct``, ``incorrect``, ``no_answer``,
    ``unparseable`` or ``timeout``.

    >>> verify_math("2^{100}", "\\\\boxed{1267650600228229401496703205376}").correct
    True
    >>> verify_math("x<3", "The answer is $3>x$.").correct
    True
    """
    budget = Budget(timeout_s)
    if isinstance(gold, (int, float)) and not isinstance(gold, bool):
        gold = str(gold)
    if not isinstance(gold, str):
        return Verdict("unparseable", f"gold is {type(gold).__name__}, not str")
    answer, where = answer_of(completion, extract)
    if answer is None:
        return Verdict("no_answer", where)
    try:
        return _judge(gold, answer, budget)
    except OutOfTime:
        return Verdict("timeout", f"over the {timeout_s:g} s budget", answer)
    except RecursionError:
        return Verdict("unparseable", "nesting too deep", answer)
    except Exception as exc:  # never crash the caller on model text; leave a trace for us
        log.debug("verify_math failed on gold=%r answer=%r", gold, answer, exc_info=True)
        return Verdict("unparseable", f"internal error: {type(exc).__name__}", answer)


def _judge(gold: str, answer: str, budget: Budget) -> Verdict:
    if len(answer) > MAX_ANSWER_CHARS and answer.strip() != gold.strip():
        return Verdict("incorrect", f"a {len(answer):,}-character answer is not a final answer", answer[:200])
    gold_norm, answer_norm = normalize(_unbox(gold)), normalize(answer)
    budget.check()
    if gold_norm == answer_norm:
        return Verdict("correct", "same answer", answer)
    try:
        g = parse(gold_norm, budget)
    except ParseError:
        g = ("text", text_key(gold_norm))
    if is_hedge(answer) and not _multi_valued(gold, g):
        return Verdict("no_answer", "hedged: the answer lists alternatives", answer)
    choice = _CHOICE.match(_unwrap(gold_norm))
    if choice:  # multiple choice: "(B) 12" and "\\textbf{(B)}" both choose B
        picked = _CHOICE_IN_ANSWER.match(_unwrap(answer_norm))
        if picked:
            letter = (picked.group(1) or picked.group(2)).upper()
            return Verdict("correct" if letter == choice.group(1) else "incorrect", f"chose {letter}", answer)
    try:
        a = parse(answer_norm, budget)
    except ParseError as exc:
        if len(answer_norm) > MAX_LENGTH:
            return Verdict("incorrect", f"answer longer than {MAX_LENGTH} characters", answer)
        if g[0] == "text":  # neither side is math: compare the words
            same = text_key(answer_norm) == text_key(gold_norm)
            return Verdict("correct" if same else "incorrect", "same words" if same else "different text", answer)
        return Verdict("unparseable", f"cannot read the answer: {exc}", answer)
    dps = min(MAX_DPS, max(40, max(literal_digits(g), literal_digits(a)) + 20))
    judge = Judge(budget, dps)
    if judge.same(g, a):
        return Verdict("correct", "equivalent", answer)
    note = judge.note
    # "(158,157)" may be a pair or a number: when either side is spelled that way, try the other reading
    for g2, a2 in _other_readings(gold_norm, answer_norm, g, a, budget):
        if judge.same(g2, a2):
            return Verdict("correct", "equivalent (commas read as separators)", answer)
    return Verdict("incorrect", note or "not equivalent", answer)


def _other_readings(gold: str, answer: str, g: tuple, a: tuple, budget: Budget) -> list[tuple[tuple, tuple]]:
    def alt(text: str, tree: tuple) -> tuple | None:
        if not AMBIGUOUS_COMMA.search(text):
            return None
        try:
            return parse(text, budget, thousands=False)
        except ParseError:
            return None

    g2, a2 = alt(gold, g), alt(answer, a)
    pairs = [(g, a2), (g2, a), (g2, a2)]
    return [(x, y) for x, y in pairs if x is not None and y is not None and (x, y) != (g, a)]


def _unbox(gold: str) -> str:
    """A gold written as ``\\boxed{42}`` (or ``$\\boxed{42}$``) means 42."""
    stripped = gold.strip().strip("$").strip()
    if stripped.startswith(("\\boxed", "\\fbox")):
        boxes = boxed_contents(stripped)
        if len(boxes) == 1:
            return boxes[0]
    return gold


def _unwrap(text: str) -> str:
    """``\\textbf{(B)} 12`` -> ``(B) 12``."""
    return _WRAPPERS.sub(r"\1", text).replace("{", "").replace("}", "").strip()


def _multi_valued(gold: str, tree: tuple) -> bool:
    """A gold with several values (``5, 9``, ``\\{5, 9\\}``, ``5 or 9``, ``\\pm 3``) allows an 'or' list."""
    if is_hedge(gold):
        return True
    shape = canon(tree)
    return shape[0] in ("list", "set", "assign", "union") and len(shape[1]) > 1


# ---------------------------------------------------------------------------------------------
# Batches


def _pair(item: Any) -> tuple[Any, Any]:
    if isinstance(item, dict):
        return item.get("gold"), item.get("completion")
    gold, completion = item
    return gold, completion


def _verify_one(args: tuple[Any, Any, float]) -> Verdict:
    gold, completion, timeout_s = args
    return verify_math(gold, completion, timeout_s=timeout_s)


def verify_math_batch(pairs: Iterable[Any], workers: int = 1, *, timeout_s: float = 1.0,
                      progress: bool = False, chunksize: int = 64) -> list[Verdict]:
    """Verify many ``(gold, completion)`` pairs (or dicts with those keys), results in input order.

    ``workers > 1`` spreads the work over a process pool; ``progress`` shows a progress bar.

    >>> [v.status for v in verify_math_batch([("2", "x = 2"), ("3", "\\\\boxed{4}")])]
    ['correct', 'incorrect']
    """
    jobs = [(*_pair(item), timeout_s) for item in pairs]
    return list(_iterate(jobs, workers, progress, chunksize))


def _iterate(jobs: list, workers: int, progress: bool, chunksize: int) -> Iterator[Verdict]:
    from tqdm.auto import tqdm

    from verifiers.pool import pool_map

    if len(jobs) < 2 * chunksize:  # a pool's start costs more than this much work
        workers = 1
    with tqdm(total=len(jobs), disable=not progress, unit="pair", desc="verify") as bar:
        for verdict in pool_map(_verify_one, jobs, workers, chunksize=chunksize):
            yield verdict
            bar.update()
