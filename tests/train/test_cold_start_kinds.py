"""The narrow cold start (``Budget.sft_kinds``, ``--sft-kinds``): which kinds of problem SFT shows, chosen by seed
alone, and the held-out accuracy split by whether SFT showed a problem's kind."""

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.cli import main as rlvr
from train.load import make_problem_rows
from train.pipeline import PIPELINES, cold_start_kinds, kind_accuracy, problem_kind


@pytest.fixture(scope="module")
def code_rows():
    return make_problem_rows("code_function,code_stdio", 600, 0, "1-3")


@pytest.fixture(scope="module")
def code_kinds(code_rows):
    return [problem_kind(r) for r in code_rows]


def test_a_code_problems_kind_is_its_program_shape_and_a_math_problems_its_task(code_rows):
    kinds = {problem_kind(r) for r in code_rows}
    assert len(kinds) > 20 and all(k.startswith(("code_function/", "code_stdio/")) for k in kinds)
    # same template, same kind, whatever the names and constants filled in
    by_kind = {}
    for r in code_rows:
        by_kind.setdefault(problem_kind(r), set()).add(r["answer"])
    assert max(len(answers) for answers in by_kind.values()) > 1
    assert problem_kind(make_problem_rows("arithmetic", 1, 0, "1")[0]) == "arithmetic"


@settings(max_examples=20, deadline=None)
@given(st.floats(0.05, 0.95), st.integers(0, 3), st.randoms(use_true_random=False))
def test_the_kinds_shown_are_a_seeded_share_whatever_the_rows_order(code_kinds, share, seed, rnd):
    kinds = cold_start_kinds(code_kinds, share, seed)
    shuffled = list(code_kinds)
    rnd.shuffle(shuffled)
    assert cold_start_kinds(shuffled, share, seed) == kinds
    every = set(code_kinds)
    assert kinds <= every and len(kinds) == max(1, round(share * len(every)))
    assert cold_start_kinds(code_kinds, 1.0, seed) == every


def test_other_seeds_show_other_kinds(code_kinds):
    assert len({frozenset(cold_start_kinds(code_kinds, 0.3, seed)) for seed in range(4)}) > 1


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(code_kinds, share):
    with pytest.raises(ValueError, match="--sft-kinds"):
        cold_start_kinds(code_kinds, share, 0)


def test_accuracy_is_split_by_whether_sft_showed_the_kind():
    def done(task, right, sample=0):
        return SimpleNamespace(problem={"task": task}, sample=sample, judged=SimpleNamespace(correct=right))

    completions = [done("a", True), done("a", False), done("b", True), done("b", False), done("b", False),
                   done("b", True, sample=1)]  # samples are not the greedy accuracy
    assert kind_accuracy(completions, {"a"}) == {"sft_kinds_accuracy": 0.5, "other_kinds_accuracy": round(1 / 3, 4)}
    assert kind_accuracy(completions, {"a", "b"})["other_kinds_accuracy"] is None


def test_the_flag_is_checked_before_anything_trains(tmp_path, capsys):
    assert rlvr(["pipeline", "--preset", "tiny", "--sft-kinds", "0", "--out-dir", str(tmp_path)]) == 2
    assert "--sft-kinds" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_code_preset_shows_sft_a_share_of_the_kinds_and_the_others_stay_in_the_pretraining_text():
    assert 0 < PIPELINES["code"].sft_kinds < 1
    assert all(budget.sft_kinds == 1 for name, budget in PIPELINES.items() if name != "code")
    rows = make_problem_rows("code_function,code_stdio", 300, 1, "1-3")
    kinds = cold_start_kinds([problem_kind(r) for r in rows], PIPELINES["code"].sft_kinds, seed=1)
    sft_rows = [r for r in rows if problem_kind(r) in kinds]
    assert 0 < len(sft_rows) < len(rows)


def test_the_report_splits_accuracy_by_kind_only_for_a_narrow_cold_start():
    from train.pipeline import report_markdown, results_table

    def stage(acc, shown=None, other=None):
        return {"accuracy": acc, "format": 1.0, "completion_tokens": 60.0, "per_task": {"code_function": acc},
                "sampled_accuracy": acc, "pass@4": acc, "sft_kinds_accuracy": shown, "other_kinds_accuracy": other}

    summary = {"preset": "code", "tasks": "code_function", "difficulty": "1-3", "eval_problems": 10, "sft_kinds": 0.3,
               "seconds": {"sft": 1.0, "grpo": 2.0},
               "stages": {"sft": stage(0.4, 0.8, 0.2), "grpo": stage(0.7, 0.8, 0.65)}}
    table = results_table(summary)
    assert table.splitlines()[0].endswith("| SFT's kinds | other kinds |")
    assert table.splitlines()[-1].endswith("| 80.0% | 65.0% |")
    assert all(line.count("|") == table.splitlines()[0].count("|") for line in table.splitlines())
    assert "narrow cold start" in report_markdown(summary, [])
    every_kind = {**summary, "sft_kinds": 1.0, "stages": {name: stage(s["accuracy"]) for name, s in
                                                         summary["stages"].items()}}
    assert "kinds" not in results_table(every_kind) and "narrow cold start" not in report_markdown(every_kind, [])
