"""``algebra``: gold answers verify, perturbed ones do not, and SymPy agrees by its own route.

The verifier checks run on the first 1,000 items of each difficulty. The independent checks read the
problem's LaTeX with latex2sympy (math-verify's parser, not ours) and let SymPy solve, expand, factor
or differentiate it; latex2sympy takes tens of milliseconds a formula, so they run on 20 items of each
difficulty that hypothesis draws from those 1,000.
"""

import doctest
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import sympy
from latex2sympy2_extended import latex2sympy

from datagen.checks import check_task, completion, difficulty_grows, verdicts
from datagen.registry import list_tasks, make_problem
from datagen.tasks import algebra
from verifiers import verify_math

X = sympy.Symbol("x")
TASKS = ("linear_equation", "linear_system", "quadratic", "polynomial", "derivative")


def _meta(row: dict) -> dict:
    return json.loads(row["meta"])


def _tex(text: str) -> sympy.Expr:
    return latex2sympy(text).subs(sympy.Symbol("i"), sympy.I)


def _close(a, b) -> bool:
    return abs(sympy.N(a - b, 30)) <= 1e-9 * (1 + abs(sympy.N(b, 30)))


def _linear_equation(row: dict) -> bool:
    meta = _meta(row)
    var = sympy.Symbol(meta["variable"])
    gold = latex2sympy(row["answer"])
    return gold.lhs == var and sympy.solve(latex2sympy(meta["equation"]), var) == [gold.rhs]


def _linear_system(row: dict) -> bool:
    meta = _meta(row)
    names = sympy.symbols(meta["variables"])
    found = sympy.solve([latex2sympy(e) for e in meta["equations"]], names, dict=True)
    gold = dict(part.split(" = ") for part in row["answer"].split(", "))
    return len(found) == 1 and all(found[0][v] == latex2sympy(gold[str(v)]) for v in names)


def _quadratic(row: dict) -> bool:
    roots = sympy.solve(latex2sympy(_meta(row)["equation"]), X)
    gold = [_tex(r) for r in row["answer"].removeprefix("\\{").removesuffix("\\}").split(", ")]
    return len(roots) == len(gold) == 2 and all(any(_close(g, r) for r in roots) for g in gold) \
        and not _close(gold[0], gold[1])


def _polynomial(row: dict) -> bool:
    meta = _meta(row)
    if meta["kind"] == "expand":
        product = sympy.Poly(sympy.expand(latex2sympy(meta["expression"])), X)
        return product.coeff_monomial(X ** meta["power"]) == int(row["answer"])
    if meta["kind"] == "evaluate":
        value = latex2sympy(meta["polynomial"]).subs(X, sympy.Rational(meta["point"]))
        return sympy.simplify(value - latex2sympy(row["answer"])) == 0
    polynomial = latex2sympy(meta["polynomial"])
    if sympy.expand(latex2sympy(row["answer"]) - polynomial) != 0:
        return False
    content, factors = sympy.factor_list(polynomial)  # irreducible over the rationals
    ours = Counter(str(sympy.expand(latex2sympy(f))) for f in meta["factors"])
    return abs(content) == abs(meta["content"]) and ours == Counter(
        {str(sympy.expand(f)): m for f, m in factors})


def _derivative(row: dict) -> bool:
    meta = _meta(row)
    exact = sympy.diff(latex2sympy(meta["function"]), X)
    gold = latex2sympy(row["answer"])
    if meta["point"] is not None:
        return _close(gold, exact.subs(X, meta["point"]))
    return all(_close(gold.subs(X, x0), exact.subs(X, x0)) for x0 in (sympy.Rational(2, 5), sympy.Rational(9, 7), 2))


INDEPENDENT = {"linear_equation": _linear_equation, "linear_system": _linear_system, "quadratic": _quadratic,
               "polynomial": _polynomial, "derivative": _derivative}


@pytest.mark.parametrize("name", TASKS)
def test_properties(name):
    check_task(name, sample=INDEPENDENT[name], sample_size=20)


def test_factor_answers_must_be_factored():
    """The expanded polynomial equals the gold, so the math verifier would take it; a factor row's own
    verifier does not."""
    list_tasks()
    rows = [row for d in range(1, 11) for i in range(300)
            if _meta(row := make_problem("polynomial", 0, d, i).to_row())["kind"] == "factor"]
    assert len(rows) > 500 and {row["verifier"] for row in rows} == {"factor"}
    expanded = [(row, _meta(row)["polynomial"]) for row in rows]
    assert all(j.status == "incorrect" for j in verdicts(expanded)), "an expanded answer passed"
    assert all(verify_math(row["answer"], completion(text)).correct for row, text in expanded[:50])


def test_difficulty_grows():
    kinds = ["integer", "rational", "irrational", "complex"]
    difficulty_grows("linear_equation", lambda r: len(_meta(r)["equation"]))
    difficulty_grows("linear_system", lambda r: len(_meta(r)["variables"]))
    difficulty_grows("quadratic", lambda r: kinds.index(_meta(r)["kind"]))
    difficulty_grows("polynomial", lambda r: len(r["prompt"]))
    difficulty_grows("derivative", lambda r: len(_meta(r)["function"]))


def test_deterministic_across_processes():
    """Same rows in another interpreter with another string-hash seed."""
    code = ("import json; from datagen.registry import make_problem, list_tasks; list_tasks(); "
            f"print(json.dumps([make_problem(t, 3, d, i).to_row() for t in {TASKS!r} "
            "for d in range(1, 11) for i in range(5)]))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    list_tasks()
    here = [make_problem(t, 3, d, i).to_row() for t in TASKS for d in range(1, 11) for i in range(5)]
    assert json.loads(runs[0]) == json.loads(runs[1]) == here


def test_docstring_examples():
    assert doctest.testmod(algebra).failed == 0
