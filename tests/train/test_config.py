"""Config dataclasses from YAML and flags: precedence, every supported type, clear errors."""

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from train.config import add_dataclass_args, config_from_dict, config_to_dict, parse_config


@dataclass
class Config:
    lr: float = field(default=3e-4, metadata={"help": "peak learning rate"})
    max_steps: int = field(default=100, metadata={"help": "optimizer steps in all"})
    name: str = "run"
    compile: bool = field(default=True, metadata={"help": "use torch.compile"})
    eval_every: int | None = None
    schedule: Literal["cosine", "wsd", "constant"] = field(default="cosine", metadata={"help": "LR schedule"})
    betas: tuple[float, float] = (0.9, 0.95)
    tasks: list[str] = field(default_factory=lambda: ["arithmetic"])
    out_dir: Path = Path("runs/x")

    def __post_init__(self):
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_without_arguments():
    assert parse_config(Config, []) == Config()


def test_every_type_from_flags():
    cfg = parse_config(Config, [
        "--lr", "1e-3", "--max-steps", "7", "--name", "a b", "--no-compile", "--eval-every", "10",
        "--schedule", "wsd", "--betas", "0.8", "0.99", "--tasks", "x", "y", "--out-dir", "runs/y",
    ])
    assert cfg == Config(lr=1e-3, max_steps=7, name="a b", compile=False, eval_every=10, schedule="wsd",
                         betas=(0.8, 0.99), tasks=["x", "y"], out_dir=Path("runs/y"))
    assert isinstance(cfg.betas, tuple)
    assert parse_config(Config, ["--compile", "--eval-every", "none", "--tasks"]) == Config(tasks=[])


def test_underscore_spelling_of_flags():
    assert parse_config(Config, ["--max_steps", "3", "--eval_every", "2"]) == Config(max_steps=3, eval_every=2)


def test_yaml_then_flags_then_defaults(tmp_path):
    path = write(tmp_path, "lr: 3e-3\nmax_steps: 50\ncompile: false\nbetas: [0.5, 0.6]\nschedule: wsd\n"
                           "eval-every: 5\nout_dir: runs/z\n")
    cfg = parse_config(Config, ["--config", path, "--max-steps", "9", "--compile"])
    assert cfg == Config(lr=3e-3, max_steps=9, compile=True, betas=(0.5, 0.6), schedule="wsd",
                         eval_every=5, out_dir=Path("runs/z"))
    # the order on the command line does not matter: an explicit flag always beats the file
    assert parse_config(Config, ["--max-steps", "9", "--config", path]).max_steps == 9


def test_yaml_null_and_empty_file(tmp_path):
    assert parse_config(Config, ["--config", write(tmp_path, "eval_every: null\n")]) == Config()
    assert parse_config(Config, ["--config", write(tmp_path, "")]) == Config()


def test_yaml_unknown_key_names_it_and_the_valid_ones(tmp_path):
    path = write(tmp_path, "lr: 0.1\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"run\.yaml: unknown key 'learning_rate'; valid keys: lr, max_steps"):
        parse_config(Config, ["--config", path])


@pytest.mark.parametrize(("text", "message"), [
    ("lr: fast\n", r"lr: expected float, got 'fast'"),
    ("max_steps: 1.5\n", r"max_steps: expected int, got 1\.5"),
    ("compile: 1\n", r"compile: expected bool, got 1"),
    ("name: [1]\n", r"name: expected str"),
    ("max_steps: null\n", r"max_steps: expected int, got None"),
    ("eval_every: x\n", r"eval_every: expected int \| None, got 'x'"),
    ("schedule: linear\n", r"schedule: expected one of 'cosine', 'wsd', 'constant', got 'linear'"),
    ("betas: [0.9]\n", r"betas: expected 2 values"),
    ("betas: 0.9\n", r"betas: expected a list"),
    ("betas: [0.9, x]\n", r"betas\[1\]: expected float"),
    ("tasks: [1]\n", r"tasks\[0\]: expected str, got 1"),
])
def test_yaml_wrong_types_name_key_and_type(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        parse_config(Config, ["--config", write(tmp_path, text)])


def test_yaml_file_problems(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--config .*nope\.yaml: no such file"):
        parse_config(Config, ["--config", str(tmp_path / "nope.yaml")])
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_config(Config, ["--config", write(tmp_path, "lr: [0.1\n")])
    with pytest.raises(ValueError, match="expected a mapping"):
        parse_config(Config, ["--config", write(tmp_path, "- 1\n- 2\n")])


def test_literal_choices_error_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(Config, ["--schedule", "linear"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--schedule" in err and "invalid choice: 'linear'" in err


def test_bad_flag_value_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        parse_config(Config, ["--max-steps", "ten"])
    assert "argument --max-steps/--max_steps: invalid int value: 'ten'" in capsys.readouterr().err


def test_post_init_error_surfaces_as_value_error(tmp_path):
    with pytest.raises(ValueError, match="bad Config: max_steps must be at least 1, got 0"):
        parse_config(Config, ["--max-steps", "0"])
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        config_from_dict(Config, {"max_steps": -1})


def test_help_shows_field_help_and_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(Config, ["--help"], prog="rlvr pretrain", description="Pretrain a model.")
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("rlvr pretrain", "Pretrain a model.", "peak learning rate (default: 0.0003)",
                 "optimizer steps in all (default: 100)", "--compile, --no-compile", "use torch.compile (default: True)",
                 "{cosine,wsd,constant}", "LR schedule (default: cosine)", "(default: 0.9 0.95)",
                 "--eval-every", "(default: none)", "--config FILE.yaml"):
        assert text in out, text


def test_dict_round_trip_is_json():
    cfg = Config(betas=(0.1, 0.2), out_dir=Path("a/b"), eval_every=3)
    d = config_to_dict(cfg)
    assert d["betas"] == [0.1, 0.2] and d["out_dir"] == "a/b"
    assert config_from_dict(Config, json.loads(json.dumps(d))) == cfg


def test_required_fields_and_bad_input():
    @dataclass
    class Needs:
        data: str
        steps: int = 1

    assert parse_config(Needs, ["--data", "x.jsonl"]) == Needs(data="x.jsonl")
    with pytest.raises(ValueError, match=r"Needs: missing required data \(--data\)"):
        parse_config(Needs, [])
    with pytest.raises(ValueError, match="expected a mapping"):
        config_from_dict(Needs, ["data"])
    with pytest.raises(TypeError, match="not a dataclass"):
        parse_config(dict, [])


def test_unsupported_field_type_is_reported_at_parser_build():
    @dataclass
    class Odd:
        weights: dict = field(default_factory=dict)

    with pytest.raises(TypeError, match=r"Odd\.weights: unsupported config type dict"):
        add_dataclass_args(argparse.ArgumentParser(), Odd)


def test_the_shipped_example_configs_parse():
    from train.grpo import GRPOConfig
    from train.pretrain import PretrainConfig

    root = Path(__file__).resolve().parents[2] / "configs"
    pre = parse_config(PretrainConfig, ["--config", str(root / "pretrain_base.yaml")])
    assert pre.preset == "base" and pre.seq_len == 2048 and pre.lr == 1.5e-3
    grpo = parse_config(GRPOConfig, ["--config", str(root / "grpo_small.yaml"), "--init-from", "x"])
    assert grpo.epsilon_high == 0.28 and grpo.loss_type == "dapo" and grpo.init_from == "x"
