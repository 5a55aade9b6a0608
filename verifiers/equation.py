"""The ``equation`` verifier: an answer is correct when substituting it satisfies the problem.

R1's example of a verifiable reward: does this x make both sides equal? The problem carries its
equations or constraints in ``meta``; any valid solution counts where several exist, and for
"find all" problems the answer must be the complete set of solutions and nothing else.

``meta`` keys:

- ``equations``: equations and inequalities, LaTeX or plain (``["x^2 - 5x + 6 = 0"]``);
- ``variables``: the unknowns, in the order a tuple answer lists them (default: their names, sorted);
- ``domain``: ``integer``, ``rational``, ``real`` (default) or ``complex``;
- ``find_all``: the answer must list every solution (default False: exactly one solution);
- ``n_solutions``: how many solutions there are (for ``find_all``; else the gold answer's count).

Substitution is exact in rational arithmetic; irrational values are checked at 60+ significant
digits. Everything runs under the same cooperative time budget as ``verify_math``.

>>> meta = {"equations": ["x^2 - 5x + 6 = 0"]}
>>> verify_equation("<answer>x = 3</answer>", meta).status
'correct'
>>> verify_equation("<answer>\\\\{2, 3\\\\}</answer>", {**meta, "find_all": True}, gold="2, 3").status
'correct'
>>> verify_equation("<answer>3</answer>", {**meta, "find_all": True}, gold="2, 3").reason
'1 solutions where there are 2'
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from typing import Any

from verifiers.budget import Budget, OutOfTime
from verifiers.equivalence import canon
from verifiers.extract import answer_of
from verifiers.latex import ParseError, parse
from verifiers.numeric import Evaluator, NotANumber, TooLarge, free_symbols
from verifiers.verdict import Verdict

__all__ = ["EquationSpec", "verify_equation"]

log = logging.getLogger(__name__)
DOMAINS = ("integer", "rational", "real", "complex")
DPS = 60


class EquationSpec:
    """The parsed ``meta`` of an equation problem; raises ValueError naming what is wrong."""

    def __init__(self, meta: dict | str, gold: str | None = None):
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError as exc:
                raise ValueError(f"meta is not JSON: {exc.msg}") from exc
        if not isinstance(meta, dict):
            raise ValueError(f"meta must be a JSON object, not {type(meta).__name__}")
        equations = meta.get("equations")
        if isinstance(equations, str):
            equations = [equations]
        if not equations or not all(isinstance(e, str) for e in equations):
            raise ValueError("meta['equations'] must be a non-empty list of strings")
        self.relations = []
        for text in equations:
            try:
                tree = parse(text)
            except ParseError as exc:
                raise ValueError(f"cannot read equation {text!r}: {exc}") from exc
            if tree[0] != "rel":
                raise ValueError(f"{text!r} is not an equation or inequality")
            self.relations.append(tree)
        names = sorted(free_symbols(self.relations))
        self.variables: list[str] = list(meta.get("variables") or names)
        if not self.variables:
            raise ValueError("the equations have no unknowns")
        self.domain = meta.get("domain", "real")
        if self.domain not in DOMAINS:
            raise ValueError(f"meta['domain'] must be one of {DOMAINS}, not {self.domain!r}")
        self.find_all = bool(meta.get("find_all", False))
        self.n_solutions = meta.get("n_solutions")
        if self.find_all and self.n_solutions is None and gold is not None:
            self.n_solutions = len(solutions_in(parse(gold), self.variables))
        if self.find_all and not isinstance(self.n_solutions, int):
            raise ValueError("a find_all problem needs meta['n_solutions'] or a gold answer")


def solutions_in(tree: tuple, variables: list[str]) -> list[dict[str, tuple]]:
    """The candidate solutions an answer lists, as ``{variable: value tree}``."""
    node = canon(tree)
    if node[0] == "assign":
        return [dict(node[1])]
    if node[0] == "rel" and node[1] == ["="] and node[2][0][0] == "sym":
        return [{node[2][0][1]: node[2][1]}]
    if node[0] == "rel" and node[1] == ["="] and node[2][0][0] == "brk":  # (x, y) = (1, 2)
        return solutions_in(node[2][1], variables)
    if len(variables) > 1:
        if node[0] == "brk" and len(node[3]) == len(variables):
            return [dict(zip(variables, node[3]))]
        if node[0] in ("list", "set"):
            return [s for item in node[1] for s in solutions_in(item, variables)]
        raise ValueError(f"expected values for {', '.join(variables)}")
    var = variables[0]
    if node[0] in ("list", "set"):
        return [{var: it[2][1] if it[0] == "rel" else it} for it in node[1]]
    return [{var: node}]


def verify_equation(completion: str, meta: dict | str, *, gold: str | None = None, timeout_s: float = 1.0,
                    extract: bool = True) -> Verdict:
    """Substitute the answer in ``completion`` into the problem's equations (see the module doc)."""
    budget = Budget(timeout_s)
    try:
        spec = EquationSpec(meta, gold)
    except ValueError as exc:
        return Verdict("unparseable", f"bad problem: {exc}")
    answer, where = answer_of(completion, extract)
    if answer is None:
        return Verdict("no_answer", where)
    try:
        return _check(spec, answer, budget)
    except OutOfTime:
        return Verdict("timeout", f"over the {timeout_s:g} s budget", answer)
    except Exception as exc:  # never crash the caller on model text
        log.debug("verify_equation failed on %r", answer, exc_info=True)
        return Verdict("unparseable", f"internal error: {type(exc).__name__}", answer)


def _check(spec: EquationSpec, answer: str, budget: Budget) -> Verdict:
    try:
        candidates = solutions_in(parse(answer, budget), spec.variables)
    except (ParseError, ValueError) as exc:
        try:  # "(158,157)": the comma may separate values rather than thousands
            candidates = solutions_in(parse(answer, budget, thousands=False), spec.variables)
        except (ParseError, ValueError):
            return Verdict("unparseable", f"cannot read the answer: {exc}", answer)
    ev = Evaluator(budget, DPS)
    values = []
    for candidate in candidates:
        missing = [v for v in spec.variables if v not in candidate]
        extra = [v for v in candidate if v not in spec.variables]
        if missing or extra:
            return Verdict("incorrect", f"no value for {', '.join(missing)}" if missing
                           else f"unknown variable {', '.join(extra)}", answer)
        try:
            env = {v: ev.value(candidate[v], {}) for v in spec.variables}
        except (NotANumber, TooLarge) as exc:
            return Verdict("incorrect", f"not a number: {exc}", answer)
        bad = next((v for v in spec.variables if not _in_domain(ev, env[v], spec.domain)), None)
        if bad is not None:
            return Verdict("incorrect", f"{bad} is not {_DOMAIN_WORD[spec.domain]}", answer)
        failed = next((k for k, rel in enumerate(spec.relations) if not _holds(ev, rel, env)), None)
        if failed is not None:
            return Verdict("incorrect", f"equation {failed + 1} does not hold", answer)
        values.append(env)
    distinct = []
    for env in values:
        if not any(all(ev.equal(env[v], other[v]) for v in spec.variables) for other in distinct):
            distinct.append(env)
    if spec.find_all:
        if len(distinct) != spec.n_solutions:
            return Verdict("incorrect", f"{len(distinct)} solutions where there are {spec.n_solutions}", answer)
        return Verdict("correct", "the complete set of solutions", answer)
    if len(distinct) > 1:
        return Verdict("no_answer", "hedged: several candidate solutions", answer)
    return Verdict("correct", "satisfies every equation", answer)


_DOMAIN_WORD = {"integer": "an integer", "rational": "rational", "real": "real", "complex": "a number"}


def _in_domain(ev: Evaluator, value: Any, domain: str) -> bool:
    if domain == "complex":
        return True
    if isinstance(value, Fraction):
        return domain != "integer" or value.denominator == 1
    if domain in ("integer", "rational"):
        return False  # irrational (or not exactly known to be rational)
    imag = getattr(value, "imag", 0)
    return not imag or ev.equal(value, getattr(value, "real", value))  # a negligible imaginary part is real


def _holds(ev: Evaluator, rel: tuple, env: dict) -> bool:
    """Every link of a relation chain holds at ``env`` (exactly for rationals)."""
    try:
        sides = [ev.value(side, env) for side in rel[2]]
    except (NotANumber, TooLarge):
        return False
    for op, left, right in zip(rel[1], sides, sides[1:]):
        if op in ("=", "~"):
            if not ev.equal(left, right):
                return False
            continue
        if op == "!=":
            if ev.equal(left, right):
                return False
            continue
        lo, hi = ev.to_mp(left), ev.to_mp(right)
        if getattr(lo, "imag", 0) or getattr(hi, "imag", 0):
            return False
        near = ev.equal(left, right)
        ok = {"<": lo < hi and not near, "<=": lo <= hi or near, ">": lo > hi and not near,
              ">=": lo >= hi or near}.get(op)
        if not ok:
            return False
    return True
