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
from verifiers.extract import EXTRACTIONS, answer_of, gold_answer, is_hedge
from verifiers.latex import AMBIGUOUS_COMMA, MAX_LENGTH, ParseError, normalize, parse, text_key
from verifiers.numeric import literal_digits
from verifiers.verdict import Verdict

__all__ = ["verify_math", "verify_math_batch"]

log = logging.getLogger(__name__)
MAX_ANSWER_CHARS = 20_000
# one number with a decimal comma (2,74; 0,111; 12,5 %): read as a decimal where a comma cannot separate
# thousands (not three digits after it, or a leading 0), as an alternative to a list of two numbers
_DECIMAL_COMMA = re.compile(r"^(-?)(\d+),(\d+)(\s*(?:\\%|%|\\text\{[^{}]*\}|[A-Za-z]+)?)$")
_CHOICE = re.compile(r"^\(?([A-J])\)?$")
_CHOICE_IN_ANSWER = re.compile(r"^(?:option |choice )?(?:\(([A-J])\)(?![+\-*/^=_])|([A-J])(?:[.):]|$)(?:\s|$))", re.I)
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf)\s*\{([^{}]*)\}")


def verify_math(gold: str | int | float, completion: str, *, timeout_s: float = 1.0,
                extract: bool = True, extraction: str = "strict") -> Verdict:
    """Check the final answer in ``completion`` against ``gold``.

    ``extraction`` says where the answer may be found (see ``verifiers.extract``): ``"strict"`` (the
    default, for rewards: the answer block, a box, an explicit answer statement) or ``"lenient"`` (for
    outputs rlvr did not shape: also the concluding sentence, the last display math or value). A gold
    that is a worked solution is reduced to its final answer. ``timeout_s`` bounds the whole call;
    ``extract=False`` takes ``completion`` as the bare answer. Returns a :class:`Verdict` whose status
    is ``correct``, ``incorrect``, ``no_answer``, ``unparseable`` or ``timeout``, and whose reason says
    where the answer was found.

    >>> verify_math("2^{100}", "\\\\boxed{1267650600228229401496703205376}").reason
    'equivalent (boxed)'
    >>> verify_math("x<3", "The answer is $3>x$.").correct
    True
    >>> verify_math("2/3", "Therefore, the probability is 2/3.", extraction="lenient").reason
    'same answer (concluding sentence)'
    """
    budget = Budget(timeout_s)
    if isinstance(gold, (int, float)) and not isinstance(gold, bool):
        gold = str(gold)
    if not isinstance(gold, str):
        return Verdict("unparseable", f"gold is {type(gold).__name__}, not str")
    answer, where = answer_of(completion, extract, extraction)
    if answer is None:
        return Verdict("no_answer", where)
    try:
        verdict = _judge(gold_answer(gold), answer, budget)
        return verdict if not extract else Verdict(verdict.status, f"{verdict.reason} ({where})", answer)
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
    gold_norm, answer_norm = normalize(gold), normalize(answer)
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
            return Verdict("correct", "equivalent (another reading of a comma)", answer)
    return Verdict("incorrect", note or "not equivalent", answer)


def _other_readings(gold: str, answer: str, g: tuple, a: tuple, budget: Budget) -> list[tuple[tuple, tuple]]:
    """Other readings of a comma: ``158,157`` as two numbers, ``2,74`` as a decimal comma."""
    def alts(text: str) -> list[tuple]:
        out = []
        if AMBIGUOUS_COMMA.search(text):
            try:
                out.append(parse(text, budget, thousands=False))
            except ParseError:
                pass
        m = _DECIMAL_COMMA.match(text)
        if m and (len(m.group(3)) != 3 or m.group(2) == "0"):  # never a thousands separator
            try:
                out.append(parse(f"{m.group(1)}{m.group(2)}.{m.group(3)}{m.group(4)}", budget))
            except ParseError:
                pass
        return out

    golds, answers = [g, *alts(gold)], [a, *alts(answer)]
    return [(x, y) for x in golds for y in answers if (x, y) != (g, a)]


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


def _verify_one(args: tuple[Any, Any, float, str]) -> Verdict:
    gold, completion, timeout_s, extraction = args
    return verify_math(gold, completion, timeout_s=timeout_s, extraction=extraction)


def verify_math_batch(pairs: Iterable[Any], workers: int = 1, *, timeout_s: float = 1.0,
                      progress: bool = False, chunksize: int = 64, extraction: str = "strict") -> list[Verdict]:
    """Verify many ``(gold, completion)`` pairs (or dicts with those keys), results in input order.

    ``workers > 1`` spreads the work over a process pool; ``progress`` shows a progress bar;
    ``extraction`` is passed to :func:`verify_math`.

    >>> [v.status for v in verify_math_batch([("2", "x = 2"), ("3", "\\\\boxed{4}")])]
    ['correct', 'incorrect']
    """
    if extraction not in EXTRACTIONS:
        raise ValueError(f"extraction must be one of {EXTRACTIONS}, not {extraction!r}")
    jobs = [(*_pair(item), timeout_s, extraction) for item in pairs]
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
