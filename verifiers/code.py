r"""The ``code`` verifier: run the program in a completion against a problem's tests, in the sandbox.

>>> tests = {"kind": "call", "fn": "add",
...          "cases": [{"args": [1, 2], "expected": 3}, {"args": [2, 2], "expected": 4}]}
>>> run_tests("<answer>```python\ndef add(a, b):\n    return a + b\n```</answer>", tests)
CodeVerdict(passed=True, n_passed=2, n_total=2, status='correct', reason='all 2 tests passed')
>>> run_tests("def add(a, b):\n    return a * b", tests, extract=False).reason
'1/2 tests passed; case 0: expected 3, got 2'

The ``tests`` field (docs/DESIGN.md) is JSON of one of three kinds:

``call``: ``{"fn": "add", "cases": [{"args": [1, 2], "expected": 3}], "float_tol": 1e-9}``. A harness
loads the solution as a module (``__name__ == "solution"``, so a ``__main__`` block does not run),
calls ``fn(*args)`` for each case and writes each result, serialised with ``json.dumps`` inside the
sandbox, on a line that starts with a random marker. The arguments reach the sandbox in a file; the
expected values never do. The parent reads only marked lines, as plain JSON, and compares them with
exact JSON types: an int must be an int (``True`` is not ``1``), a float may be any number, equal
within ``float_tol`` (relative and absolute) if given, else exactly; NaN equals nothing; a tuple
compares as a list, as JSON has only lists. An object that is not JSON data (one whose ``__eq__``
is always true) fails its case, and an ``int`` subclass is written as its true value. A solution
that prints marked lines before it could know the marker forges nothing; one that digs the marker
out of the harness's memory can only claim values, and still cannot know the expected ones.

``stdio``: ``{"cases": [{"stdin": "1 2\n", "stdout": "3\n"}]}``. One run of the program per case;
stdout must equal the expected text up to trailing spaces on each line and trailing blank lines.

``assert``: ``{"code": "def check(candidate): ...", "entry_point": "add"}``, HumanEval/MBPP style
(``code`` may also be bare ``assert`` lines). One program: the solution, the test code, then
``check(entry_point)`` when the code defines ``check``, then a completion record (a random token
on its own line). It passes when the program exits cleanly and the record is the last line of its
output, so ``sys.exit(0)`` or ``os._exit(0)`` before the asserts fails. What this kind cannot
prevent: the solution runs in the same process as the asserts, so it can monkeypatch builtins,
return objects whose ``__eq__`` is always true, or find the token in memory and print it. Prefer
``call`` tests, which are judged in the parent.

Verdicts: ``correct`` when every test passes; ``incorrect`` when the program ran and a test failed,
including the program's own timeouts, memory errors and crashes (the reason says which);
``no_answer`` when the completion holds no code; ``unparseable`` when the tests are malformed or
the sandbox itself failed (could not judge). A program that ran out of time is the model's fault,
so it is ``incorrect``, never ``timeout``.
"""

from __future__ import annotations

import ast
import atexit
import json
import math
import os
import re
import secrets
import textwrap
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sandbox import ExecResult, Sandbox
from verifiers.extract import Extraction, find_answer
from verifiers.verdict import Verdict

__all__ = ["CodeVerdict", "extract_code", "run_tests", "run_tests_batch"]

STATUSES = ("correct", "incorrect", "no_answer", "unparseable")
_FENCE = re.compile(r"^[ \t]*```[^\n`]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)


@dataclass(frozen=True)
class CodeVerdict:
    """How a program did on its tests: ``status`` is one of STATUSES, ``reason`` says why."""

    passed: bool
    n_passed: int
    n_total: int
    status: str
    reason: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if self.passed != (self.status == "correct"):
            raise ValueError("passed must be True exactly when status is 'correct'")

    @property
    def verdict(self) -> Verdict:
        """The same result as the :class:`Verdict` that rewards and scoring use."""
        return Verdict(self.status, self.reason)


def _not_judged(status: str, reason: str) -> CodeVerdict:
    return CodeVerdict(False, 0, 0, status, reason)


# ---------------------------------------------------------------------------------------------
# Finding the program in a completion


def extract_code(completion: str) -> Extraction:
    r"""The program in a completion: the last fenced code block of its answer, or the answer itself.

    With no answer block, the last fenced block outside ``<think>`` counts.

    >>> extract_code("<think>try ```x = 1```</think><answer>\n```python\nprint(2)\n```\n</answer>")
    ('print(2)\n', 'code block in answer block')
    >>> extract_code("<answer>answer = int(input())\nprint(answer)</answer>").answer
    'answer = int(input())\nprint(answer)'
    """
    answer, where = find_answer(completion)
    if where.endswith("answer block"):
        block = _answer_block(completion)
        text, where = (block if block is not None else answer), "answer block"
    elif answer is None and where != "no answer found":
        return Extraction(None, where)  # two answer blocks and the like: no single answer
    else:
        text, where = _after_think(completion), "completion"
    fenced = _FENCE.findall(text or "")
    if fenced:
        return Extraction(textwrap.dedent(fenced[-1]), f"code block in {where}")
    if where == "completion" or not text or not text.strip():
        return Extraction(None, "no code found")
    return Extraction(text, where)


def _after_think(text: str) -> str:
    low = text.lower()
    if "</think>" in low:
        return text[low.rindex("</think>") + len("</think>") :]
    return "" if "<think>" in low else text  # an unclosed think block runs to the end


def _answer_block(completion: str) -> str | None:
    """The raw answer block: ``find_answer`` reads an answer as a sentence (``answer = 5`` -> ``5``)."""
    visible = _after_think(completion)
    low = visible.lower()
    if low.count("<answer>") != 1:
        return None
    start = low.index("<answer>") + len("<answer>")
    end = low.find("</answer>", start)
    return visible[start : end if end >= 0 else None]


# ---------------------------------------------------------------------------------------------
# Reading the tests (trusted, but checked: a malformed problem is "could not judge")


class _BadTests(ValueError):
    pass


def _parse_tests(tests: str | dict) -> dict:
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError as exc:
            raise _BadTests(f"tests are not JSON: {exc}") from None
    if not isinstance(tests, dict):
        raise _BadTests(f"tests must be a JSON object, not {type(tests).__name__}")
    kind = tests.get("kind")
    if kind == "assert":
        code, entry = tests.get("code"), tests.get("entry_point")
        if not isinstance(code, str) or not code.strip():
            raise _BadTests("assert tests need 'code', a non-empty string")
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise _BadTests(f"the test code does not parse: {exc}") from None
        has_check = any(isinstance(node, ast.FunctionDef) and node.name == "check" for node in tree.body)
        if has_check and not (isinstance(entry, str) and entry.isidentifier()):
            raise _BadTests("assert tests that define check() need 'entry_point', a function name")
        return {"kind": kind, "code": code, "call": f"check({entry})" if has_check else ""}
    if kind not in ("call", "stdio"):
        raise _BadTests(f"unknown tests kind {kind!r}: expected call, stdio or assert")
    cases = tests.get("cases")
    if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
        raise _BadTests(f"{kind} tests need 'cases', a non-empty list of objects")
    if kind == "stdio":
        for k, case in enumerate(cases):
            if not isinstance(case.get("stdin", ""), str) or not isinstance(case.get("stdout"), str):
                raise _BadTests(f"case {k}: stdio cases need 'stdout' (and optional 'stdin') strings")
        return {"kind": kind, "cases": cases}
    fn, tol = tests.get("fn"), tests.get("float_tol")
    if not isinstance(fn, str) or not fn.isidentifier():
        raise _BadTests("call tests need 'fn', a function name")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0):
        raise _BadTests("'float_tol' must be a non-negative number")
    for k, case in enumerate(cases):
        if not isinstance(case.get("args"), list) or "expected" not in case:
            raise _BadTests(f"case {k}: call cases need 'args' (a list) and 'expected'")
    return {"kind": kind, "fn": fn, "cases": cases, "float_tol": tol}


# ---------------------------------------------------------------------------------------------
# The programs that run in the sandbox. MARK/TOKEN and FN are prepended as literals.

_CALL_HARNESS = r'''
import json
import os

_write, _dumps = os.write, json.dumps


def _describe(exc):
    try:
        return (type(exc).__name__ + ": " + str(exc))[:300]
    except BaseException:
        return type(exc).__name__


def _emit(i, record):
    try:
        line = _dumps({"i": i, **record})
    except BaseException as exc:  # objects never leave the sandbox: only JSON data does
        line = _dumps({"i": i, "error": "the result is not JSON data: " + _describe(exc)})
    data = ("\n" + MARK + line + "\n").encode()
    while data:
        data = data[_write(1, data):]


with open("args.json") as f:
    _cases = json.load(f)
_solution = {"__name__": "solution", "__builtins__": __builtins__}
try:
    with open("solution.py") as f:
        exec(compile(f.read(), "solution.py", "exec"), _solution)
    _fn = _solution.get(FN)
    _ready = callable(_fn)
    if not _ready:
        _emit(-1, {"error": "no function named " + FN})
except BaseException as exc:  # SystemExit included: the tests have not run
    _ready = False
    _emit(-1, {"error": "the solution did not load: " + _describe(exc)})
if _ready:
    for _i, _args in enumerate(_cases):
        try:
            _record = {"value": _fn(*_args)}
        except BaseException as exc:
            _record = {"error": _describe(exc)}
        _emit(_i, _record)
os._exit(0)
'''

_ASSERT_HARNESS = r'''
import os
import sys

_write, _exit = os.write, os._exit
with open("solution.py") as f:
    exec(compile(f.read(), "solution.py", "exec"), {"__name__": "solution", "__builtins__": __builtins__})
for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.flush()
    except BaseException:
        pass
_write(1, ("\n" + TOKEN + "\n").encode())
_exit(0)
'''


class _Plan(NamedTuple):
    """The sandbox jobs for one solution, and how to judge their results."""

    jobs: list[dict]
    judge: Callable[[list[ExecResult]], CodeVerdict]


def _plan(solution: str, tests: str | dict, timeout_s: float, isolate_tests: bool,
          extract: bool) -> CodeVerdict | _Plan:
    try:
        spec = _parse_tests(tests)
    except _BadTests as exc:
        return _not_judged("unparseable", str(exc))
    if extract:
        code, where = extract_code(solution)
        if code is None:
            return _not_judged("no_answer", where)
    elif isinstance(solution, str) and solution.strip():
        code = solution
    else:
        return _not_judged("no_answer", "empty program")
    kind = spec["kind"]
    if kind == "stdio":
        cases = spec["cases"]
        jobs = [{"code": code, "stdin": case.get("stdin", ""), "timeout_s": timeout_s} for case in cases]
        return _Plan(jobs, lambda results: _judge_stdio(cases, results, timeout_s))
    if kind == "assert":
        token = secrets.token_hex(16)
        program = f"{code}\n\n{spec['code']}\n\n{spec['call']}\n"
        job = {"code": f"TOKEN = {token!r}\n{_ASSERT_HARNESS}", "files": {"solution.py": program},
               "timeout_s": timeout_s}
        return _Plan([job], lambda results: _judge_assert(results[0], token, timeout_s))
    mark = f"#rlvr-{secrets.token_hex(16)}#"
    harness = f"MARK, FN = {mark!r}, {spec['fn']!r}\n{_CALL_HARNESS}"
    cases = spec["cases"]
    runs = [[k] for k in range(len(cases))] if isolate_tests else [list(range(len(cases)))]
    jobs = [{"code": harness, "timeout_s": timeout_s,
             "files": {"solution.py": code, "args.json": json.dumps([cases[k]["args"] for k in run])}}
            for run in runs]
    return _Plan(jobs, lambda results: _judge_call(cases, spec["float_tol"], mark, runs, results, timeout_s))


# ---------------------------------------------------------------------------------------------
# Judging, in the trusted parent, from plain data


def _judge_call(cases: list[dict], tol: float | None, mark: str, runs: list[list[int]],
                results: list[ExecResult], timeout_s: float) -> CodeVerdict:
    failures: dict[int, str] = {}
    for run, result in zip(runs, results):
        records = _records(result.stdout, mark)
        for m, k in enumerate(run):
            record = records.get(-1) or records.get(m)
            if record is None:
                failures[k] = _trouble(result, timeout_s) or "no result: the program stopped before this case"
            elif "error" in record or "value" not in record:
                failures[k] = str(record.get("error", "malformed result"))[:300]
            elif not _same(cases[k]["expected"], record["value"], tol):
                failures[k] = f"expected {_short(cases[k]['expected'])}, got {_short(record['value'])}"
    return _tally(len(cases), failures)


def _records(stdout: str, mark: str) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for line in stdout.split("\n"):
        if not line.startswith(mark):
            continue
        try:
            record = json.loads(line[len(mark) :])
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and type(record.get("i")) is int:
            i = record["i"]  # the harness writes each index once: a second one is forged
            found[i] = {"error": "more than one result"} if i in found else record
    return found


def _same(expected: Any, got: Any, tol: float | None) -> bool:
    """Equal as JSON data, with exact types (bool is not int); floats within ``tol`` if given."""
    if isinstance(expected, float):
        if type(got) not in (int, float):
            return False
        if tol is None:
            return got == expected
        try:
            return math.isclose(float(got), expected, rel_tol=tol, abs_tol=tol)
        except OverflowError:
            return False
    if isinstance(expected, list):
        return (type(got) is list and len(got) == len(expected)
                and all(_same(e, g, tol) for e, g in zip(expected, got)))
    if isinstance(expected, dict):
        return (type(got) is dict and got.keys() == expected.keys()
                and all(_same(v, got[key], tol) for key, v in expected.items()))
    return type(got) is type(expected) and got == expected


def _judge_stdio(cases: list[dict], results: list[ExecResult], timeout_s: float) -> CodeVerdict:
    failures: dict[int, str] = {}
    for k, (case, result) in enumerate(zip(cases, results)):
        trouble = _trouble(result, timeout_s)
        if trouble:
            failures[k] = trouble
        elif _normalise(result.stdout) != _normalise(case["stdout"]):
            failures[k] = f"wrong output: expected {_short(case['stdout'])}, got {_short(result.stdout)}"
    return _tally(len(cases), failures)


def _normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _judge_assert(result: ExecResult, token: str, timeout_s: float) -> CodeVerdict:
    trouble = _trouble(result, timeout_s)
    if trouble is None and result.stdout.endswith(f"\n{token}\n"):
        return CodeVerdict(True, 1, 1, "correct", "the tests passed")
    if trouble is None:
        trouble = "the program stopped before the tests finished" if token not in result.stdout \
            else "output after the tests finished"
    return CodeVerdict(False, 0, 1, "incorrect", f"the tests failed: {trouble}")


def _trouble(result: ExecResult, timeout_s: float) -> str | None:
    """What went wrong with a run, or None when it exited cleanly."""
    if result.status == "ok":
        return None
    if result.status == "timeout":
        return f"timeout: ran past {timeout_s:g} s"
    if result.status == "memory":
        return "out of memory"
    if result.status == "output_limit":
        return "output over the limit"
    if result.status == "killed":
        return f"killed by signal {-(result.returncode or 0)}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else f"exit status {result.returncode}"


def _tally(n_total: int, failures: dict[int, str]) -> CodeVerdict:
    if not failures:
        return CodeVerdict(True, n_total, n_total, "correct", f"all {n_total} tests passed")
    first = min(failures)
    n_passed = n_total - len(failures)
    return CodeVerdict(False, n_passed, n_total, "incorrect",
                       f"{n_passed}/{n_total} tests passed; case {first}: {failures[first]}")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finish(plan: CodeVerdict | _Plan, results: list[ExecResult]) -> CodeVerdict:
    if isinstance(plan, CodeVerdict):
        return plan
    broken = next((r for r in results if r.status == "sandbox_error"), None)
    if broken is not None:
        return _not_judged("unparseable", f"sandbox error: {broken.stderr.strip()[:200]}")
    return plan.judge(results)


# ---------------------------------------------------------------------------------------------
# Entry points

_shared: tuple[int, Sandbox] | None = None
_shared_lock = threading.Lock()


def _shared_sandbox() -> Sandbox:
    """One sandbox per process, started on first use and closed at exit."""
    global _shared
    with _shared_lock:
        # a forked child must not talk to its parent's zygotes over the same pipes
        if _shared is None or _shared[0] != os.getpid():
            box = Sandbox(workers=min(4, os.cpu_count() or 1))
            atexit.register(box.close)
            _shared = (os.getpid(), box)
        return _shared[1]


def run_tests(solution: str, tests: str | dict, *, sandbox: Sandbox | None = None, timeout_s: float = 5.0,
              isolate_tests: bool = False, extract: bool = True) -> CodeVerdict:
    r"""Run the program in ``solution`` against ``tests`` (JSON text or a dict) and judge it.

    ``timeout_s`` bounds each sandboxed run: all cases of a ``call`` test run in one process unless
    ``isolate_tests``; ``stdio`` cases run one per process. ``extract=False`` takes ``solution``
    as the program. Without a ``sandbox``, a shared one is used. Never raises on model text.

    >>> doubling = '{"kind": "stdio", "cases": [{"stdin": "4", "stdout": "8"}]}'
    >>> run_tests("<answer>print(int(input()) * 2)</answer>", doubling).status
    'correct'
    >>> run_tests("<answer>import sys; sys.exit(0)</answer>", {"kind": "assert", "code": "assert 0"}).reason
    'the tests failed: the program stopped before the tests finished'
    """
    plan = _plan(solution, tests, timeout_s, isolate_tests, extract)
    if isinstance(plan, CodeVerdict):
        return plan
    return _finish(plan, (sandbox or _shared_sandbox()).map(plan.jobs))


def run_tests_batch(items: Iterable[tuple[str, str | dict]], *, workers: int = 2, timeout_s: float = 5.0,
                    progress: bool = False, isolate_tests: bool = False,
                    extract: bool = True) -> list[CodeVerdict]:
    """Judge many ``(solution, tests)`` pairs through one sandbox of ``workers``, in input order.

    >>> tests = {"kind": "call", "fn": "sq", "cases": [{"args": [3], "expected": 9}]}
    >>> [v.status for v in run_tests_batch([("def sq(x): return x * x", tests), ("", tests)], extract=False)]
    ['correct', 'no_answer']
    """
    plans = [_plan(solution, tests, timeout_s, isolate_tests, extract) for solution, tests in items]
    jobs = [job for plan in plans if isinstance(plan, _Plan) for job in plan.jobs]
    results: list[ExecResult] = []
    if jobs:
        with Sandbox(workers=workers, timeout_s=timeout_s) as box:
            results = box.map(jobs, progress=progress)
    verdicts, start = [], 0
    for plan in plans:
        n = len(plan.jobs) if isinstance(plan, _Plan) else 0
        verdicts.append(_finish(plan, results[start : start + n]))
        start += n
    return verdicts
