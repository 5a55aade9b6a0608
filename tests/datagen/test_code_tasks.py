"""``code_function`` and ``code_stdio``: gold programs pass their tests, broken ones fail, expected values
agree with independent implementations, and difficulty grows the tests.

The first 1,000 items of each difficulty run here: the gold program (the reference implementation)
on every case, judged as the code verifier judges; a program that returns None or prints nothing
fails some case. The sandbox (the problem's own verifier, through the reward registry) judges the
gold and the broken program on 20 items of each difficulty that hypothesis draws from those 1,000.
"""

import ast
import collections
import contextlib
import functools
import heapq
import io
import itertools
import json
import random
import string
import sys

import pytest

from datagen.checks import check_sample, completion, difficulty_grows
from datagen.registry import list_tasks, make_problem
from datagen.tasks import code
from verifiers.code import _normalise, _same
from verifiers.rewards import judge

TASKS = ("code_function", "code_stdio")


@functools.cache
def _rows(name: str, per_difficulty: int, seed: int = 0) -> tuple[dict, ...]:
    list_tasks()
    return tuple(make_problem(name, seed, d, i).to_row() for d in range(1, 11) for i in range(per_difficulty))


def _perturbed(row: dict) -> str:
    """A program of the right shape that computes nothing: returns None, or prints nothing."""
    tests = json.loads(row["tests"])
    if tests["kind"] == "call":
        return f"```python\ndef {tests['fn']}(*args):\n    return None\n```"
    return "```python\nimport sys\n\nsys.stdin.read()\n```"


def _run_here(source: str, tests: dict) -> list:
    """The program's result on each case, run in this process: return values (as JSON data, as the
    sandbox sends them) for call tests, standard output for stdio tests."""
    program = compile(source, "<gold>", "exec")
    if tests["kind"] == "call":
        namespace = {"__name__": "solution"}
        exec(program, namespace)
        fn = namespace[tests["fn"]]
        return [json.loads(json.dumps(fn(*json.loads(json.dumps(case["args"]))))) for case in tests["cases"]]
    outputs = []
    for case in tests["cases"]:
        stdin, sys.stdin = sys.stdin, io.StringIO(case["stdin"])
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                exec(program, {"__name__": "__main__"})
        finally:
            sys.stdin = stdin
        outputs.append(out.getvalue())
    return outputs


def _passes(tests: dict, outputs: list) -> bool:
    """Every case passes, judged as the code verifier judges (exact JSON types; stdout up to trailing space)."""
    if tests["kind"] == "call":
        return all(_same(c["expected"], got, tests.get("float_tol")) for c, got in zip(tests["cases"], outputs))
    return all(_normalise(c["stdout"]) == _normalise(got) for c, got in zip(tests["cases"], outputs))


@pytest.mark.parametrize("name", TASKS)
def test_gold_passes_and_perturbed_fails_here(name):
    for row in _rows(name, 1000):
        tests = json.loads(row["tests"])
        source = row["answer"].removeprefix("```python\n").removesuffix("\n```")
        assert _passes(tests, _run_here(source, tests)), (row["id"], row["answer"])
        assert not _passes(tests, [None if tests["kind"] == "call" else ""] * len(tests["cases"])), row["id"]
        assert row["solution"].rstrip().endswith(row["answer"]), row["id"]


def _sandbox_agrees(row: dict) -> bool:
    """The problem's own verifier, through the reward registry: the gold passes, a broken program fails."""
    return judge(completion(row["answer"]), row).correct and \
        judge(completion(_perturbed(row)), row).status == "incorrect"


@pytest.mark.parametrize("name", TASKS)
def test_gold_passes_and_perturbed_fails_in_the_sandbox(name):
    check_sample(name, _sandbox_agrees, per_difficulty=20)


@pytest.mark.parametrize("name", TASKS)
def test_rows_are_well_formed(name):
    for row in _rows(name, 1000):
        assert row["verifier"] == "code"
        assert row["solution"].rstrip().endswith(row["answer"]), row["id"]
        assert row["answer"].startswith("```python\n") and row["answer"].endswith("\n```")
        tests, meta = json.loads(row["tests"]), json.loads(row["meta"])
        assert meta["cases"] == len(tests["cases"])
        outputs = {json.dumps(c.get("expected", c.get("stdout")), sort_keys=True) for c in tests["cases"]}
        assert len(outputs) >= 2, (row["id"], "a constant answer would pass")
        if name == "code_function":
            assert f"`{meta['fn']}({', '.join(meta['params'])})`" in row["prompt"]
            assert tests["fn"] == meta["fn"]
        else:
            assert all(c["stdout"].strip() for c in tests["cases"]), row["id"]


def test_template_coverage():
    function_templates = {json.loads(r["meta"])["template"] for r in _rows("code_function", 200)}
    stdio_templates = {json.loads(r["meta"])["template"] for r in _rows("code_stdio", 200)}
    assert len(function_templates) >= 25, sorted(function_templates)
    assert len(stdio_templates) >= 10, sorted(stdio_templates)
    assert function_templates == {t.name for t in code._FUNCTIONS}
    assert stdio_templates == {t.name for t in code._PROGRAMS}


def test_parameter_names_never_shadow_the_reference_s_own_names():
    """A random parameter name must not collide with a name the reference body uses."""
    for t in code._FUNCTIONS:
        consts = code._literals(t.consts(random.Random(0)))
        source = code._fill(t.source, {**consts, "fn": "F_", "a": "A_", "b": "B_"})
        used = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        used |= {n.arg for n in ast.walk(ast.parse(source)) if isinstance(n, ast.arg)}
        for params in t.params:
            assert not used & set(params), (t.name, params, used & set(params))


def test_deterministic():
    for name in TASKS:
        for d in (1, 6, 10):
            assert make_problem(name, 3, d, 7).to_row() == make_problem(name, 3, d, 7).to_row()
        assert _rows(name, 5, seed=1) == tuple(make_problem(name, 1, d, i).to_row()
                                               for d in range(1, 11) for i in range(5))
        assert _rows(name, 5, seed=1) != _rows(name, 5, seed=2)


@pytest.mark.parametrize("name", TASKS)
def test_difficulty_grows_cases_and_inputs(name):
    difficulty_grows(name, lambda r: json.loads(r["meta"])["cases"])
    difficulty_grows(name, lambda r: len(r["tests"]))


# ---------------------------------------------------------------------------------------------
# Independent implementations of a few templates, checked on every case of every item


def _rotate(args, consts):
    values = collections.deque(args[0])
    values.rotate(consts["shift"])
    return list(values)


def _caesar(args, consts):
    k, low, up = consts["k"], string.ascii_lowercase, string.ascii_uppercase
    return args[0].translate(str.maketrans(low + up, low[k:] + low[:k] + up[k:] + up[:k]))


def _group_anagrams(args, consts):
    groups = itertools.groupby(sorted(args[0], key=sorted), key=sorted)
    return sorted(sorted(g) for _, g in groups)


def _second_largest(args, consts):
    top = heapq.nlargest(2, set(args[0]))
    return top[1] if len(top) == 2 else None


def _top_k(args, consts):
    counts = collections.Counter(args[0])
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][: consts["k"]]


INDEPENDENT_CALLS = {
    "sum_parity": lambda args, c: sum(v for v in args[0] if (v & 1) == c["r"]),
    "dedupe": lambda args, c: list(dict.fromkeys(args[0])),
    "word_count": lambda args, c: dict(collections.Counter(args[0].lower().split())),
    "merge_sorted": lambda args, c: list(heapq.merge(*args)),
    "transpose": lambda args, c: [[row[j] for row in args[0]] for j in range(len(args[0][0]) if args[0] else 0)],
    "rotate": _rotate,
    "caesar": _caesar,
    "group_anagrams": _group_anagrams,
    "second_largest": _second_largest,
    "top_k_words": _top_k,
}


def _column_sums(stdin, consts):
    rows = [list(map(int, line.split())) for line in stdin.splitlines()[1:]]
    return " ".join(str(sum(col)) for col in zip(*rows)) + "\n"


INDEPENDENT_PROGRAMS = {
    "sort_numbers": lambda stdin, c: " ".join(map(str, sorted(map(int, stdin.split()), reverse=c["reverse"])))
    + "\n",
    "word_frequency": lambda stdin, c: "".join(f"{w} {n}\n" for w, n in sorted(collections.Counter(stdin.split())
                                                                              .items())),
    "column_sums": _column_sums,
    "sum_line": lambda stdin, c: f"{sum(map(int, stdin.split()))}\n",
    "digit_sums": lambda stdin, c: "".join(f"{sum(map(int, line))}\n" for line in stdin.split()[1:]),
}


def test_independent_implementations_agree():
    checked = collections.Counter()
    for row in _rows("code_function", 1000):
        meta, tests = json.loads(row["meta"]), json.loads(row["tests"])
        other = INDEPENDENT_CALLS.get(meta["template"])
        if other is None:
            continue
        for case in tests["cases"]:
            assert other(case["args"], meta["consts"]) == case["expected"], (row["id"], case)
        checked[meta["template"]] += 1
    for row in _rows("code_stdio", 1000):
        meta, tests = json.loads(row["meta"]), json.loads(row["tests"])
        other = INDEPENDENT_PROGRAMS.get(meta["template"])
        if other is None:
            continue
        for case in tests["cases"]:
            assert other(case["stdin"], meta["consts"]) == case["stdout"], (row["id"], case)
        checked[meta["template"]] += 1
    assert set(checked) == set(INDEPENDENT_CALLS) | set(INDEPENDENT_PROGRAMS), checked
    assert min(checked.values()) >= 50, checked
