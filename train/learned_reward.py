"""A trained reward model as a reward: texts in, one float per completion out.

Prompts and completions are encoded as ``rlvr rm`` encodes its pairs (the templated prompt with BOS, the
completion with EOS), with the reward model's own tokenizer, so any policy can be scored by any reward model.
Rows go through the model ``batch_size`` at a time (a GRPO group or more per forward), under ``no_grad`` and
outside any policy's graph, in bf16 on a GPU. The call has TRL's reward-function signature, so GRPO logs it
like every other reward.

>>> import tempfile
>>> from train.hf import export_hf
>>> from train.model import PRESETS, RewardModel
>>> from train.tokenizer import train_tokenizer
>>> tok = train_tokenizer(["User: 1 + 1?\\nAssistant: <answer>2</answer>"] * 20, vocab_size=300)
>>> folder = export_hf(RewardModel(PRESETS["tiny"]), tempfile.mkdtemp(), tok)
>>> reward = LearnedReward(folder, device="cpu")
>>> scores = reward(["User: 1 + 1?\\nAssistant:"] * 2, [" <answer>2</answer>", " <answer>3</answer>"])
>>> len(scores), scores[0] != scores[1]
(2, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from train.rm_data import collate_sequences

__all__ = ["LearnedReward", "parse_reward_model"]


def parse_reward_model(spec: str) -> tuple[str, float]:
    """``PATH[=WEIGHT]`` -> ``(path, weight)``; the weight defaults to 1.

    >>> parse_reward_model("runs/rm=0.5"), parse_reward_model("runs/rm")
    (('runs/rm', 0.5), ('runs/rm', 1.0))
    """
    path, sep, weight = spec.rpartition("=")
    if not sep:
        return spec, 1.0
    try:
        value = float(weight)
    except ValueError:
        return spec, 1.0  # an "=" inside the path, no weight
    if not path:
        raise ValueError(f"{spec!r}: expected PATH[=WEIGHT]")
    return path, value


class LearnedReward:
    """``reward(prompts, completions) -> list[float]``: the reward model at ``path`` (see ``train.load.
    load_reward_model``) scoring each prompt (the text the policy saw) with its completion. ``weight`` is its
    weight among other rewards (GRPO's total), ``__name__`` its name in the logs (``rewards/rm/mean``)."""

    def __init__(self, path: str | Path, *, device: str | torch.device, batch_size: int = 64, name: str = "rm",
                 weight: float = 1.0):
        from train.load import load_reward_model

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.tokenizer = load_reward_model(path)
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval().requires_grad_(False)
        self.batch_size, self.__name__, self.weight = batch_size, name, weight
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str], completions: Sequence[str], **_) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
        limit = self.model.config.max_position_embeddings
        prompt_ids = self.tokenizer.encode_batch(list(prompts), bos=True)
        completion_ids = self.tokenizer.encode_batch(list(completions), eos=True)
        sequences = [p + c for p, c in zip(prompt_ids, completion_ids)]
        longest = max(map(len, sequences), default=0)
        if longest > limit:
            raise ValueError(f"reward model: a prompt and completion of {longest} tokens exceed its "
                             f"max_position_embeddings ({limit}); shorten --max-completion-length")
        scores: list[float] = []
        for start in range(0, len(sequences), self.batch_size):
            ids, ends = collate_sequences(sequences[start:start + self.batch_size], self.tokenizer.pad_id, multiple=8)
            with self.autocast:
                scores += self.model(ids.to(self.device), ends.to(self.device)).tolist()
        return scores
