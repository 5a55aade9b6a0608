"""``rlvr pipeline`` end to end at a small scale of the tiny preset: every stage runs, every stage's model
is evaluated on the same held-out problems (never trained on), and the report, results and plots exist."""

import json

import pytest

from train.cli import main as rlvr
from train.pipeline import PIPELINES, STAGE_NAMES


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pipeline")
    try:
        code = rlvr(["pipeline", "--preset", "tiny", "--scale", "0.02", "--out-dir", str(out), "--no-progress",
                     "--device", "cpu"])
    finally:
        torch.set_num_threads(threads)
    return code, out


def test_every_stage_runs_and_is_evaluated(run):
    code, out = run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["stages"]) == ["pretrain", "sft", "grpo", "r1_zero"]
    for name, stage in results["stages"].items():
        assert 0 <= stage["accuracy"] <= 1 and 0 <= stage["format"] <= 1, name
        assert stage["per_task"].keys() == {"arithmetic"}
        assert (out / name / "final" / "config.json").exists() and (out / name / "metrics.jsonl").exists()
    assert set(results["seconds"]) == {"data", "pretrain", "sft", "grpo", "r1_zero"}


def test_held_out_problems_are_distinct_and_never_trained_on(run):
    _, out = run
    test = [json.loads(line) for line in (out / "data" / "test.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (out / "data" / "train.jsonl").read_text().splitlines()]
    prompts = [r["prompt"] for r in test]
    assert prompts and len(prompts) == len(set(prompts)) <= PIPELINES["tiny"].eval_problems
    assert not set(prompts) & {r["prompt"] for r in train}
    corpus = (out / "data" / "corpus.jsonl").read_text()
    assert all(f"Problem: {p}\n" not in corpus for p in prompts)  # not even in the pretraining text


def test_report_has_the_table_and_the_plots(run):
    _, out = run
    report = (out / "report.md").read_text()
    for name in STAGE_NAMES.values():
        assert f"| {name} |" in report
    for plot in ("loss.png", "grpo.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG" and f"({plot})" in report


def test_bad_options_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects an unknown preset, naming the choices
        rlvr(["pipeline", "--preset", "huge"])
    assert exit_info.value.code == 2 and "choose from 'tiny', 'small', 'base'" in capsys.readouterr().err
    assert rlvr(["pipeline", "--scale", "0"]) == 2
    assert "--scale must be positive" in capsys.readouterr().err
