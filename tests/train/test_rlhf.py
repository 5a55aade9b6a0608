"""``rlvr pipeline --rlhf``: from the SFT model, pairs -> reward model -> GRPO on it alone, mixed, and best-of-n, each
judged by the verifiers beside the reward model's score; the report has the table and the plot; ``--resume`` keeps
finished stages. The SFT model of a CPU-sized pipeline answers nothing right, so the verifier-made pairs are
replaced by pairs a simple rule separates (``rlvr prefs`` has its own tests)."""

import json
import random
from pathlib import Path

import pytest

import train.prefs
from train.cli import main as rlvr
from train.rlhf import ARMS, rlhf_report

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_prefs(cfg) -> dict:
    """Pairs a rule separates (the chosen answer is even), written where ``rlvr prefs`` writes them."""
    rng = random.Random(0)
    rows = [{"prompt": f"{a} + {b}", "chosen": f" <answer>{2 * rng.randrange(9)}</answer>",
             "rejected": f" <answer>{2 * rng.randrange(9) + 1}</answer>"} for a in range(20) for b in range(4)]
    Path(cfg.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"pairs": len(rows), "prompts": 80, "accuracy": 0.0, "format": 0.0, "pairs_by_reason": {}}


ARGS = ["pipeline", "--preset", "tiny", "--scale", "0.02", "--no-progress", "--device", "cpu", "--no-dpo",
        "--no-r1-zero", "--rlhf", "--eval-problems", "8", "--overrides", "grpo.max_steps=2", "grpo.log_every=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(train.prefs, "prefs", fake_prefs)
    out = tmp_path_factory.mktemp("rlhf")
    try:
        code = rlvr([*ARGS, "--out-dir", str(out)])
    finally:
        patch.undo()
    return code, out


def test_every_arm_runs_and_is_judged_beside_the_teachers_score(run):
    code, out = run
    assert code == 0
    results = json.loads((out / "results.json").read_text())["rlhf"]
    assert results["pairs"]["pairs"] == 80
    assert 0 <= results["reward_model"]["eval_accuracy"] <= 1
    assert list(results["arms"]) == ["sft", "grpo", *ARMS]
    for name, arm in results["arms"].items():
        assert 0 <= arm["accuracy"] <= 1 and isinstance(arm["rm_score"], float), name
    # (b) the reward model alone: the verifiers judged for the log and weighed nothing
    rows = [json.loads(line) for line in (out / "grpo_rm" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["reward"] == pytest.approx(r["rewards/rm/mean"], abs=1e-4) for r in rows)
    assert all(r["accuracy"] is not None for r in rows)
    # (c) mixed: the pipeline's rewards plus the reward model at weight 0.5
    for r in (json.loads(line) for line in (out / "grpo_mixed" / "metrics.jsonl").read_text().splitlines()):
        assert r["reward"] == pytest.approx(r["rewards/accuracy/mean"] + 0.5 * r["rewards/format/mean"] + 0.5 * r["rewards/rm/mean"],
                                            abs=1e-4)
    # (d) best-of-n with the reward model: rounds of picks, each with the teacher's and the verifiers' view
    rounds = [json.loads(line) for line in (out / "bon_rm" / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in rounds] == [1, 2]
    assert all(r["sample_rm_score"] is not None and r["sample_accuracy"] is not None for r in rounds)
    report = (out / "report.md").read_text()
    assert "## Human feedback" in report and "![rlhf](rlhf.png)" in report and (out / "rlhf.png").exists()
    for label in ARMS.values():
        assert f"| {label} |" in report


def test_resume_keeps_the_finished_experiment(run, capsys):
    _, out = run
    stamp = (out / "grpo_rm" / "final" / "model.safetensors").stat().st_mtime_ns
    patch = pytest.MonkeyPatch()
    patch.setattr(train.prefs, "prefs", fake_prefs)
    try:
        assert rlvr([*ARGS, "--out-dir", str(out), "--resume"]) == 0
    finally:
        patch.undo()
    printed = capsys.readouterr().out
    for name in ("prefs", "rm", *ARMS):
        assert f"{name:<13} kept from the earlier run" in printed, name
    assert (out / "grpo_rm" / "final" / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_report_names_reward_hacking_when_the_teacher_is_fooled(tmp_path):
    stages = {"sft": {"accuracy": 0.5, "format": 0.9, "rm_score": 0.1},
              "grpo": {"accuracy": 0.7, "format": 0.9, "rm_score": 0.3},
              "grpo_rm": {"accuracy": 0.4, "format": 0.5, "rm_score": 2.0}}
    text, _ = rlhf_report(tmp_path, stages, ARMS)
    joined = "\n".join(text)
    assert "Reward hacking: GRPO, reward model alone raised the teacher's score" in joined
    assert "GRPO, reward model alone: -10.0 points verified, teacher score +1.900" in joined
