"""``--report-to``: every stage takes it; TensorBoard gets the metrics rows (read back from the event file, a
resumed run's repeated steps purged); W&B runs offline unless WANDB_MODE says otherwise and Trackio stays
local; a destination whose package is missing is named before anything runs."""

import importlib.machinery
import importlib.util
import json
import shutil
import sys
import types

import pytest

import train.report
from train.dpo import DPOConfig
from train.grpo import GRPOConfig, grpo
from train.grpo import main as grpo_main
from train.pipeline import PipelineConfig
from train.pretrain import PretrainConfig
from train.report import open_reporter
from train.sft import SFTConfig


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def sevens(prompts, completions, **columns):
    return [c.count("7") / max(1, len(c)) for c in completions]


def config(policy, out, **overrides) -> GRPOConfig:
    settings = dict(init_from=str(policy), out_dir=str(out), rewards="", tasks="arithmetic", difficulty="1",
                    n_problems=40, template="plain", prompts_per_step=2, num_generations=4, max_completion_length=8,
                    lr=1e-2, max_steps=4, save_every=2, reward_workers=0, eval_every=0, eval_problems=2,
                    device="cpu", progress=False, report_to="tensorboard")
    return GRPOConfig(**{**settings, **overrides})


def scalars_read_back(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files in ``folder``, by tag: (step, value), as TensorBoard shows them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_gets_every_metrics_row_and_a_resume_purges_the_steps_it_repeats(policy, tmp_path):
    out = tmp_path / "run"
    grpo(config(policy, out), reward_funcs=[sevens])
    # as if the run had died after logging step 4 but before its last checkpoint: the resumed run repeats 3 and 4
    shutil.rmtree(out / "step_00000004")
    grpo(config(policy, out, resume=True), reward_funcs=[sevens])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and len(list((out / "tensorboard").iterdir())) == 2
    logged = scalars_read_back(out / "tensorboard")
    for key in ("reward", "rewards/sevens/mean", "completions/mean_length", "frac_reward_zero_std", "entropy",
                "eval_accuracy", "eval_per_task/arithmetic", "lr"):
        expected = [(r["step"], r[key] if key in r else r["eval_per_task"]["arithmetic"]) for r in rows
                    if key in r or (key.startswith("eval_per_task") and "eval_per_task" in r)]
        assert [s for s, _ in logged[key]] == [s for s, _ in expected], key  # each step once
        assert [v for _, v in logged[key]] == pytest.approx([v for _, v in expected], rel=1e-6), key
    assert "step" not in logged and "skipped" not in logged


@pytest.mark.parametrize("cls", [PretrainConfig, SFTConfig, GRPOConfig, DPOConfig, PipelineConfig])
def test_every_stage_takes_report_to_and_names_a_missing_package(cls, monkeypatch):
    from train.config import parse_config

    assert parse_config(cls, ["--report-to", "tensorboard"]).report_to == "tensorboard"
    assert parse_config(cls, []).report_to == "none"
    real = importlib.util.find_spec
    monkeypatch.setattr(train.report.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name))
    with pytest.raises(ValueError, match=r"--report-to wandb needs the wandb package.*pip install 'rlvr\[wandb\]'"):
        parse_config(cls, ["--report-to", "wandb"])


def test_a_missing_package_stops_the_command_before_it_trains(policy, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(train.report.importlib.util, "find_spec", lambda name: None if name == "trackio" else real(name))
    out = tmp_path / "run"
    code = grpo_main(["--init-from", str(policy), "--out-dir", str(out), "--report-to", "trackio", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "rlvr grpo: error:" in err and "needs the trackio package" in err
    assert "Traceback" not in err and not out.exists()
    with pytest.raises(SystemExit):  # not one of the destinations: argparse names the choices
        grpo_main(["--report-to", "mlflow"])
    assert "invalid choice: 'mlflow'" in capsys.readouterr().err


def fake_module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    return module


def test_wandb_is_offline_unless_the_user_says_otherwise(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, values, step):
            calls.append(("log", values, step))

        def finish(self):
            calls.append(("finish",))

    def init(**kwargs):
        calls.append(("init", kwargs))
        return Run()

    monkeypatch.setitem(sys.modules, "wandb", fake_module("wandb", init=init))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    reporter = open_reporter("wandb", tmp_path, name="runs/x", config={"stage": "grpo"}, step=0)
    reporter.log({"step": 1, "reward": 0.5, "eval_per_task": {"add": 1.0}, "kl": None}, 1)
    reporter.close()
    assert calls[0][1]["mode"] == "offline" and calls[0][1]["dir"] == str(tmp_path)
    assert calls[0][1]["config"] == {"stage": "grpo"} and calls[0][1]["name"] == "runs/x"
    assert calls[1:] == [("log", {"reward": 0.5, "eval_per_task/add": 1.0}, 1), ("finish",)]
    calls.clear()
    monkeypatch.setenv("WANDB_MODE", "online")  # the user's choice stands
    open_reporter("wandb", tmp_path, name="runs/x", config={}).close()
    assert calls[0][1]["mode"] == "online"


def test_trackio_logs_locally(tmp_path, monkeypatch):
    calls = []
    module = fake_module("trackio", init=lambda **kwargs: calls.append(("init", kwargs)),
                         log=lambda values, step: calls.append(("log", values, step)),
                         finish=lambda: calls.append(("finish",)))
    monkeypatch.setitem(sys.modules, "trackio", module)
    reporter = open_reporter("trackio", tmp_path, name="runs/x", config={"lr": 0.1}, step=3)
    reporter.log({"step": 4, "loss": 2.0}, 4)
    reporter.close()
    init = calls[0][1]
    assert "space_id" not in init and init["name"] == "runs/x" and init["config"] == {"lr": 0.1}
    assert calls[1:] == [("log", {"loss": 2.0}, 4), ("finish",)]
