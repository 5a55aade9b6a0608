"""``countdown`` and ``diophantine``: gold answers verify, independent checks agree, other answers count."""

import ast
import json
import re
from collections import Counter
from fractions import Fraction
from functools import cache

import sympy
from sympy.parsing import sympy_parser

from datagen.checks import check_task, completion, difficulty_grows, perturb
from datagen.registry import list_tasks, make_problem
from verifiers.rewards import judge

# ---------------------------------------------------------------------------------------------
# countdown

_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b}


def _walk(node, used: list[int]) -> Fraction:
    """Evaluate + - * / over whole-number literals; every intermediate must be a whole number >= 0."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    assert isinstance(node, ast.BinOp) and type(node.op) in _OPS, ast.dump(node)
    value = _OPS[type(node.op)](_walk(node.left, used), _walk(node.right, used))
    assert value >= 0 and value.denominator == 1, (ast.unparse(node), value)  # classic countdown rules
    return value


@cache
def _reachable(numbers: tuple[int, ...], target: int) -> bool:
    """Brute force: can some of the numbers, combined pairwise by + - * / (whole results), make the target?"""
    if target in numbers:
        return True
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            a, b = max(numbers[i], numbers[j]), min(numbers[i], numbers[j])
            rest = numbers[:i] + numbers[i + 1:j] + numbers[j + 1:]
            results = {a + b, a * b} | ({a - b} if a > b else set())
            if b and a % b == 0:
                results.add(a // b)
            if any(_reachable(tuple(sorted((*rest, v))), target) for v in results):
                return True
    return False


def _countdown_holds(row: dict) -> bool:
    meta = json.loads(row["meta"])
    used: list[int] = []
    value = _walk(ast.parse(row["answer"], mode="eval").body, used)
    if value != meta["target"] or Counter(used) - Counter(meta["numbers"]):
        return False
    return row["difficulty"] > 4 or _reachable(tuple(sorted(meta["numbers"])), meta["target"])


def _off_by_one(row: dict) -> str:
    """Provably wrong: the verifier demands value == target exactly, and this is worth target + 1
    whichever numbers it uses (so it fails even when 1 is among the numbers)."""
    return f"({row['answer']}) + 1"


def _countdown_rows(n: int) -> list[dict]:
    list_tasks()
    return [make_problem("countdown", 0, 1 + i % 10, i).to_row() for i in range(n)]


def test_countdown_properties():
    check_task("countdown", independent=_countdown_holds, perturbed=_off_by_one)


def test_countdown_rejects_a_changed_number_or_a_reused_one():
    for row in _countdown_rows(300):
        assert not judge(completion(perturb(row["answer"])), row).correct, row
        meta = json.loads(row["meta"])
        n = meta["numbers"][0]  # value unchanged, but n used more often than it is given
        reused = f"{row['answer']}" + f" + {n} - {n}" * (meta["numbers"].count(n) + 1)
        assert judge(completion(reused), row).reason.startswith(f"uses {n} "), (row, reused)


def test_countdown_numbers_and_targets():
    for row in _countdown_rows(500):
        meta = json.loads(row["meta"])
        assert 3 <= len(meta["numbers"]) <= 6 and meta["target"] not in meta["numbers"]
        assert str(meta["target"]) in row["prompt"] and ", ".join(map(str, meta["numbers"])) in row["prompt"]
        if row["difficulty"] >= 6:
            assert 100 <= meta["target"] <= 999


def test_countdown_difficulty_adds_numbers_and_size():
    difficulty_grows("countdown", lambda r: len(json.loads(r["meta"])["numbers"]))
    difficulty_grows("countdown", lambda r: json.loads(r["meta"])["target"])
    difficulty_grows("countdown", lambda r: max(json.loads(r["meta"])["numbers"]))


# ---------------------------------------------------------------------------------------------
# diophantine

_TRANSFORMS = (*sympy_parser.standard_transformations, sympy_parser.implicit_multiplication_application,
               sympy_parser.convert_xor)
_X, _Y = sympy.symbols("x y")


def _solution(answer: str) -> tuple[int, int]:
    values = dict(part.split(" = ") for part in answer.split(", "))
    return int(values["x"]), int(values["y"])


def _holds(equations: list[str], x: int, y: int) -> bool:
    """Substitute with sympy, reading the equation text on its own (not the verifier's parser)."""
    env = {"x": _X, "y": _Y}
    for text in equations:
        op = ">" if ">" in text else "="
        left, right = (sympy_parser.parse_expr(side, local_dict=env, transformations=_TRANSFORMS)
                       for side in text.split(op))
        diff = sympy.Integer((left - right).subs({_X: x, _Y: y}))
        if (op == "=" and diff != 0) or (op == ">" and diff <= 0):
            return False
    return True


def _diophantine_holds(row: dict) -> bool:
    meta = json.loads(row["meta"])
    return meta["domain"] == "integer" and _holds(meta["equations"], *_solution(row["answer"]))


def _other_solution(meta: dict, x: int, y: int) -> tuple[int, int] | None:
    """Another solution: the next one along the line, or another factor pair."""
    if meta["kind"] == "linear":
        g = sympy.gcd(meta["a"], meta["b"])
        shifts = [(x + meta["b"] // g * t, y - meta["a"] // g * t) for t in (1, -1, 2, -2)]
        candidates = shifts
    else:
        n = meta["n"] if meta["kind"] == "squares" else meta["c"] + meta["a"] * meta["b"]
        pairs = [(u * s, n // u * s) for u in sympy.divisors(abs(n)) for s in (1, -1)]
        if meta["kind"] == "squares":  # x - y = u, x + y = v
            candidates = [((u + v) // 2, (v - u) // 2) for u, v in pairs if (u + v) % 2 == 0]
        else:  # x + b = u, y + a = v
            candidates = [(u - meta["b"], v - meta["a"]) for u, v in pairs]
    positive = "x > 0" in meta["equations"]
    valid = [(cx, cy) for cx, cy in candidates if (cx, cy) != (x, y) and (not positive or min(cx, cy) > 0)]
    return valid[0] if valid else None


def _diophantine_rows(n: int) -> list[dict]:
    list_tasks()
    return [make_problem("diophantine", 0, 1 + i % 10, i).to_row() for i in range(n)]


def test_diophantine_properties():
    check_task("diophantine", sample=_diophantine_holds, sample_size=50)


def test_diophantine_accepts_any_solution():
    found = 0
    rows = _diophantine_rows(400)
    for row in rows:
        meta = json.loads(row["meta"])
        other = _other_solution(meta, *_solution(row["answer"]))
        if other is None:
            continue
        found += 1
        assert _holds(meta["equations"], *other), (row, other)
        assert judge(completion(f"x = {other[0]}, y = {other[1]}"), row).correct, (row, other)
        assert not judge(completion(f"x = {other[0]}, y = {other[1] + 1}"), row).correct, (row, other)
    assert found >= 0.8 * len(rows)


def test_diophantine_kinds_and_positive_solutions():
    rows = _diophantine_rows(1000)
    kinds = Counter(json.loads(row["meta"])["kind"] for row in rows)
    assert set(kinds) == {"linear", "squares", "product"} and min(kinds.values()) >= 100, kinds
    positive = [row for row in rows if "x > 0" in json.loads(row["meta"])["equations"]]
    assert len(positive) >= 100 and all(min(_solution(row["answer"])) > 0 for row in positive)
    assert all("positive" in row["prompt"] for row in positive)
    linear = [row for row in rows if json.loads(row["meta"])["kind"] == "linear"]
    assert all("Extended Euclid" in row["solution"] for row in linear)


def test_diophantine_difficulty_grows_coefficients():
    def largest(row: dict) -> int:
        return max(abs(int(t)) for t in re.findall(r"-?\d+", json.loads(row["meta"])["equations"][0]))

    difficulty_grows("diophantine", largest)
