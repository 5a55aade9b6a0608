"""Load what the stages pass along: a policy (ours or a local Hugging Face folder) and problem sets.

``load_policy`` accepts a run folder (its latest checkpoint), a checkpoint folder, or a Hugging Face
folder (``final/`` of a run, or any local Llama/Qwen2/Qwen3 checkpoint; other architectures load on
the generic path). Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from train.model import ModelConfig, Transformer
from train.tokenizer import Tokenizer

__all__ = ["ProblemSource", "load_policy", "load_problem_rows", "make_problem_rows", "problem_splits"]


def load_policy(path: str | Path) -> tuple[Transformer, Tokenizer]:
    """``(model, tokenizer)`` from a run folder, a checkpoint folder or a Hugging Face folder."""
    from train.checkpoint import latest_checkpoint, load_checkpoint
    from train.hf import UnsupportedCheckpoint, load_hf

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
    tokenizer = Tokenizer.from_folder(folder)
    if "model" in config and (folder / "trainer_state.pt").exists():  # one of our checkpoints
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


def make_problem_rows(tasks: str, n: int, seed: int, difficulty: str) -> list[dict]:
    """Generate ``n`` problems of a task spec (``math``, ``arithmetic``, ``arithmetic=2,fractions=1``)."""
    from datagen.api import mix_rows
    from datagen.spec import parse_difficulty, parse_mix

    return mix_rows(parse_mix(tasks), n, seed, parse_difficulty(difficulty))  # datagen.generate_mix's rows


def load_problem_rows(path: str | Path) -> list[dict]:
    """Problem rows from Parquet, JSONL or a saved dataset folder (the Problem record of DESIGN.md)."""
    from verifiers.scoring import load_problems

    return list(load_problems(path).values())


@dataclass
class ProblemSource:
    """Where a post-training stage (SFT, GRPO) gets its policy and its problems. A config mixin."""

    init_from: str = field(default="", metadata={"help": "policy: a run, a checkpoint or a Hugging Face folder"})
    problems: str | None = field(default=None, metadata={"help": "Parquet/JSONL/saved problems instead of generating"})
    tasks: str = field(default="math", metadata={"help": "generated data: task, math, or TASK=W,..."})
    n_problems: int = field(default=5000, metadata={"help": "generated data: number of problems"})
    difficulty: str = field(default="1-10", metadata={"help": "generated data: levels, e.g. 1-3"})
    template: Literal["r1_zero", "plain"] = field(default="r1_zero", metadata={"help": "prompt template"})
    eval_problems: int = field(default=200, metadata={"help": "held-out problems for accuracy (0: no split)"})

    def check_source(self) -> None:
        if not self.init_from:
            raise ValueError("--init-from is required: the policy to train (a run, checkpoint or Hugging Face folder)")


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
