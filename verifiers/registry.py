"""Verifiers by name: a problem's ``verifier`` field picks the checker that judges its completions.

The built-in names (``math``, ``exact``, ``equation``, ``countdown``, ``factor``, ``simplest``, ``code``)
and any a user adds with ``register_verifier`` live in one table, ``VERIFIERS``. Everything that asks
"is this a verifier name?" asks it (the ``Problem`` record, the rubric, ``rlvr check-data``), and the
process pools of ``verifiers.pool`` copy a user's registrations into every worker they start.

>>> from verifiers.verdict import Verdict
>>> register_verifier("yes", lambda completion, problem: Verdict("correct", "always"))
>>> "yes" in verifier_names(), judge("anything", {"verifier": "yes"}).status
(True, 'correct')
>>> _ = VERIFIERS.pop("yes"), _USER.pop("yes")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from verifiers.countdown import verify_countdown
from verifiers.equation import verify_equation
from verifiers.exact import verify_exact
from verifiers.factored import verify_factored
from verifiers.math_answer import verify_math
from verifiers.simplest import verify_simplest
from verifiers.verdict import Verdict

__all__ = ["VERIFIERS", "Checker", "judge", "register_verifier", "user_verifiers", "verifier_names"]

Checker = Callable[[str, Mapping[str, Any]], Verdict]  # (completion, problem row) -> Verdict


def problem_meta(problem: Mapping[str, Any]) -> Any:
    """The row's ``meta`` as an object (rows store it as JSON text)."""
    meta = problem.get("meta")
    return json.loads(meta) if isinstance(meta, str) and meta.strip() else meta or {}


def _code(completion: str, problem: Mapping[str, Any]) -> Verdict:
    from verifiers.code import run_tests  # imported on first use: importing verifiers starts no sandbox

    return run_tests(completion, problem.get("tests")).verdict


VERIFIERS: dict[str, Checker] = {
    "math": lambda c, p: verify_math(p["answer"], c),
    "exact": lambda c, p: verify_exact(p["answer"], c),
    "equation": lambda c, p: verify_equation(c, problem_meta(p), gold=p.get("answer") or None),
    "countdown": lambda c, p: verify_countdown(c, problem_meta(p)),
    "factor": lambda c, p: verify_factored(p["answer"], c),
    "simplest": lambda c, p: verify_simplest(p["answer"], c),
    "code": _code,
}
_USER: dict[str, Checker] = {}  # what register_verifier added: copied into spawned workers


def register_verifier(name: str, fn: Checker) -> None:
    """Make ``fn(completion, problem) -> Verdict`` the checker for problems whose verifier is ``name``.

    Honoured everywhere a verifier name is: ``Problem`` rows, ``score``, ``Rubric``, the TRL adapters,
    ``rlvr score``'s pool and GRPO's reward workers (define ``fn`` at module level so a spawned worker
    can import it).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a verifier name is a non-empty string, not {name!r}")
    if not callable(fn):
        raise TypeError(f"verifier {name!r}: expected a callable (completion, problem) -> Verdict")
    VERIFIERS[name] = _USER[name] = fn


def user_verifiers() -> dict[str, Checker]:
    """The verifiers registered by ``register_verifier`` in this process (built-ins excluded)."""
    return dict(_USER)


def verifier_names() -> list[str]:
    """Every verifier name a problem row may carry, built-in and registered."""
    return sorted(VERIFIERS)


def judge(completion: str, problem: Mapping[str, Any]) -> Verdict:
    """The verdict of the problem's own verifier (``problem["verifier"]``, default ``math``)."""
    name = problem.get("verifier") or "math"
    fn = VERIFIERS.get(name)
    if fn is None:
        raise ValueError(f"unknown verifier {name!r}; known: {', '.join(verifier_names())}")
    return fn(completion, problem)
