"""Load what the stages pass along: a policy (ours or a local Hugging Face folder) and problem sets.

``load_policy`` accepts a run folder (its latest checkpoint), a checkpoint folder, or a Hugging Face
folder (``final/`` of a run, or any local Llama/Qwen2/Qwen3 checkpoint; other architectures load on
the generic path). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from train.model import ModelConfig, Transformer
from train.tokenizer import Tokenizer

__all__ = ["load_policy", "load_problem_rows", "make_problem_rows"]


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
    from datagen.api import allocate, difficulties, make_rows
    from datagen.cli import parse_difficulty, parse_spec
    from datagen.registry import list_tasks

    weights = parse_spec(tasks, list_tasks(), list_tasks("math"), list_tasks("code"))
    levels = parse_difficulty(difficulty)
    rows: list[dict] = []
    for name, count in allocate(weights, n).items():  # the rows of datagen.generate_mix, as plain dicts
        rows += make_rows(name, range(count), seed, difficulties(levels, count))
    return rows


def load_problem_rows(path: str | Path) -> list[dict]:
    """Problem rows from Parquet, JSONL or a saved dataset folder (the Problem record of DESIGN.md)."""
    from verifiers.scoring import load_problems

    return list(load_problems(path).values())
