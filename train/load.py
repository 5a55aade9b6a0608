"""Load what the stages pass along: a policy (ours or a local Hugging Face folder) and problem sets.

``load_policy`` accepts a run folder (its latest checkpoint), a checkpoint folder, or a Hugging Face
folder (``final/`` of a run, or any local Llama/Qwen2/Qwen3 checkpoint; other architectures load on
the generic path). ``load_reward_model`` takes the same kinds of folder holding a reward model (an ``rlvr rm``
run, or a ``...ForSequenceClassification`` such as TRL's ``RewardTrainer`` saves). Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from train.model import ModelConfig, RewardModel, Transformer
from train.tokenizer import Tokenizer
from verifiers.problem import read_problem_rows as load_problem_rows  # problem files are read there alone

__all__ = ["ProblemSource", "load_policy", "load_problem_rows", "load_reward_model", "make_problem_rows",
           "problem_splits"]


def _model_folder(path: str | Path) -> tuple[Path, dict, Tokenizer]:
    """The folder holding the weights (a run folder's latest checkpoint), its config.json and its tokenizer."""
    from train.checkpoint import latest_checkpoint

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder (a run folder, a checkpoint or a HF folder)")
    if not (folder / "config.json").exists():
        checkpoint = latest_checkpoint(folder)
        if checkpoint is None:
            raise FileNotFoundError(f"{folder}: neither a model folder (config.json) nor a run with checkpoints")
        folder = checkpoint
    config = json.loads((folder / "config.json").read_text())
    if not (folder / "tokenizer.json").exists():
        raise FileNotFoundError(f"{folder}: no tokenizer.json beside the weights")
    return folder, config, Tokenizer.from_folder(folder)


def _ours(folder: Path, config: dict) -> bool:
    """Whether ``folder`` is one of our checkpoints (not a Hugging Face folder)."""
    return "model" in config and (folder / "trainer_state.pt").exists()


def _has_reward_head(folder: Path, config: dict) -> bool:
    from safetensors import safe_open

    from train.hf import is_reward_model

    if not _ours(folder, config):
        return is_reward_model(config)
    with safe_open(folder / "model.safetensors", framework="pt") as weights:
        return "score.weight" in set(weights.keys())  # a safetensors handle has no "in"


def load_policy(path: str | Path) -> tuple[Transformer, Tokenizer]:
    """``(model, tokenizer)`` from a run folder, a checkpoint folder or a Hugging Face folder."""
    from train.checkpoint import load_checkpoint
    from train.hf import UnsupportedCheckpoint, load_hf

    folder, config, tokenizer = _model_folder(path)
    if _has_reward_head(folder, config):
        raise ValueError(f"{folder}: a reward model, not a policy (a causal LM); pass it as --reward-model")
    if _ours(folder, config):
        model = Transformer(ModelConfig(**config["model"]))
        load_checkpoint(folder, model=model, restore_rng=False)
        return model, tokenizer
    try:
        model = load_hf(folder)
        model.resize_vocab(tokenizer.vocab_size)  # a foreign tokenizer gained the format tags
        return model, tokenizer
    except UnsupportedCheckpoint as exc:
        raise ValueError(f"{folder}: {exc}. The stages train native models; other architectures load with "
                         "train.hf.GenericCausalLM in your own loop") from None


def load_reward_model(path: str | Path, *, from_policy: bool = False) -> tuple[RewardModel, Tokenizer]:
    """``(reward model, tokenizer)`` from a run folder, a checkpoint folder or a Hugging Face folder of a reward
    model. With ``from_policy``, a policy's folder also works: its body with a fresh head (how ``rlvr rm`` starts
    from a language model); without, a policy is an error.
    """
    from train.checkpoint import load_checkpoint
    from train.hf import UnsupportedCheckpoint, load_hf_reward_model

    folder, config, tokenizer = _model_folder(path)
    if not _has_reward_head(folder, config):
        if not from_policy:
            raise ValueError(f"{folder}: a policy (a causal LM), not a reward model; train one with rlvr rm")
        policy, tokenizer = load_policy(folder)
        return RewardModel.from_policy(policy), tokenizer
    if _ours(folder, config):
        model = RewardModel(ModelConfig(**config["model"]))
        load_checkpoint(folder, model=model, restore_rng=False)
        return model, tokenizer
    try:
        model = load_hf_reward_model(folder)
    except UnsupportedCheckpoint as exc:
        raise ValueError(f"{folder}: {exc}") from None
    model.resize_vocab(tokenizer.vocab_size)  # a foreign tokenizer gained the format tags
    return model, tokenizer


def make_problem_rows(tasks: str, n: int, seed: int, difficulty: str) -> list[dict]:
    """``n`` generated problems of a mixture as written on the command line (``math``, ``arithmetic``,
    ``arithmetic=2,fractions=1``) at the levels of ``difficulty`` (``1-3``): ``datagen.mix_rows``'s rows."""
    from datagen.api import mix_rows
    from datagen.spec import parse_difficulty, parse_mix

    return mix_rows(parse_mix(tasks), n, seed, parse_difficulty(difficulty))


@dataclass
class ProblemSource:
    """Where a post-training stage (SFT, GRPO, DPO) gets its policy and its problems. A config mixin; the
    policy is required when the stage runs (``train.run.open_policy``), so a preset may leave it out."""

    init_from: str = field(default="", metadata={"help": "policy: a run, a checkpoint or a Hugging Face folder"})
    problems: str | None = field(default=None, metadata={"help": "Parquet/JSONL/saved problems instead of generating"})
    tasks: str = field(default="math", metadata={"help": "generated data: task, math, or TASK=W,..."})
    n_problems: int = field(default=5000, metadata={"help": "generated data: number of problems"})
    difficulty: str = field(default="1-10", metadata={"help": "generated data: levels, e.g. 1-3"})
    template: Literal["r1_zero", "plain"] = field(default="r1_zero", metadata={"help": "prompt template"})
    eval_problems: int = field(default=200, metadata={"help": "held-out problems for accuracy (0: no split)"})


def problem_splits(cfg: ProblemSource, seed: int) -> tuple[list[dict], list[dict]]:
    """``(train, held_out)`` rows: read or generated, 10% of the distinct prompts held out (none when
    ``eval_problems`` is 0, e.g. under ``rlvr pipeline``, which evaluates on its own held-out set)."""
    from datagen.api import split_rows

    rows = (load_problem_rows(cfg.problems) if cfg.problems
            else make_problem_rows(cfg.tasks, cfg.n_problems, seed, cfg.difficulty))
    if cfg.eval_problems <= 0:
        return rows, []
    # salted: a file already split by the same seed (the pipeline's train.jsonl) would otherwise hash every
    # remaining prompt above the cut and leave nothing held out
    train_rows, test_rows = split_rows(rows, test_size=0.1, seed=seed + 104729)
    return train_rows, test_rows[: cfg.eval_problems]
