"""``rlvr sft``: teach a pretrained model the ``<think>``/``<answer>`` format on worked solutions.

Each example is the templated prompt followed by `` <think>{solution}</think> <answer>{answer}</answer>``
and EOS; the loss covers the completion only. A row with a ``completion`` column (TRL's prompt-completion
form; ``rlvr bon`` writes its picks so) is trained on that text as it is instead. A held-out split (no prompt in both, see
``datagen.split``) measures accuracy with our verifiers and strict format compliance.

    rlvr sft --init-from runs/tiny/pretrain --tasks arithmetic --difficulty 1-2 --out-dir runs/tiny/sft
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

from train.config import run_stage
from train.data import SFTData, sft_example
from train.load import ProblemSource
from train.loop import TrainConfig, train_loop
from train.run import open_policy
from train.template import TEMPLATES, render_completion, render_prompt, worked_reasoning

__all__ = ["SFTConfig", "main", "sft", "sft_reasoning"]


@dataclass
class SFTConfig(TrainConfig, ProblemSource):
    out_dir: str = field(default="runs/sft", metadata={"help": "run folder"})
    max_len: int = field(default=512, metadata={"help": "longest example in tokens (longer ones are skipped)"})
    max_new_tokens: int = field(default=256, metadata={"help": "generation budget at evaluation"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=20, metadata={"help": "linear warmup steps"})
    max_steps: int = field(default=300, metadata={"help": "optimizer steps"})
    worked_share: float = field(default=1.0, metadata={
        "help": "share of the problems whose <think> shows the worked solution; the others think only "
                "'The answer is X.' (a cold start of mostly answer-only demonstrations, from which GRPO can "
                "learn that reasoning pays)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.worked_share <= 1.0:
            raise ValueError(f"--worked-share must be between 0 and 1, got {self.worked_share}")


def sft_reasoning(row: dict, worked_share: float = 1.0, seed: int = 0) -> str:
    """What the ``<think>`` block of ``row``'s SFT target holds: its worked solution, or, for a seeded
    ``1 - worked_share`` of the problems, only ``The answer is X.`` The choice hangs on the prompt and the
    seed alone, so a problem keeps its form whatever the order or split of the rows.

    >>> row = {"prompt": "Calculate $6 + 7$.", "solution": "6 + 7 = 13.\\nThe answer is 13.", "answer": "13"}
    >>> sft_reasoning(row), sft_reasoning(row, worked_share=0.0)
    ('6 + 7 = 13.\\nThe answer is 13.', 'The answer is 13.')
    """
    if worked_share >= 1.0 or random.Random(f"{seed}:{row['prompt']}").random() < worked_share:
        return worked_reasoning(row)
    return f"The answer is {row['answer']}."


def build_sft_data(rows: list[dict], tokenizer, template: str, max_len: int, worked_share: float = 1.0,
                   seed: int = 0) -> tuple[SFTData, int]:
    """SFT examples and the number skipped for being longer than ``max_len``; a row's ``completion``, when it
    has one, is its target as it is."""
    prompts = tokenizer.encode_batch([render_prompt(r["prompt"], template) for r in rows], bos=True)
    completions = tokenizer.encode_batch([r["completion"] if isinstance(r.get("completion"), str) else
                                          render_completion(sft_reasoning(r, worked_share, seed), r["answer"])
                                          for r in rows])
    examples = [sft_example(p, c, eos_id=tokenizer.eos_id) for p, c in zip(prompts, completions)]
    kept = [e for e in examples if len(e[0]) <= max_len]
    return SFTData(kept, tokenizer.pad_id), len(examples) - len(kept)


def sft(cfg: SFTConfig) -> dict:
    """Run SFT; returns the last metrics row (with held-out accuracy and format rate)."""
    from train.load import problem_splits

    info, model, tokenizer = open_policy(cfg)
    train_rows, test_rows = problem_splits(cfg, cfg.seed)
    template = TEMPLATES[cfg.template]
    # fail now, not at the first evaluation: every sequence must fit the model's positions
    limit = model.config.max_position_embeddings
    if cfg.max_len > limit:
        raise ValueError(f"--max-len {cfg.max_len} exceeds the model's max_position_embeddings ({limit})")
    longest = max((len(ids) for ids in tokenizer.encode_batch(
        [render_prompt(r["prompt"], template) for r in test_rows], bos=True)), default=0)
    if longest + cfg.max_new_tokens > limit:
        raise ValueError(f"--max-new-tokens {cfg.max_new_tokens} plus the longest held-out prompt ({longest} tokens) "
                         f"exceeds the model's max_position_embeddings ({limit})")
    train_data, skipped = build_sft_data(train_rows, tokenizer, template, cfg.max_len, cfg.worked_share, cfg.seed)
    val_data, _ = build_sft_data(test_rows, tokenizer, template, cfg.max_len, cfg.worked_share, cfg.seed)
    if len(train_data) == 0:
        raise ValueError(f"every example is longer than --max-len {cfg.max_len} tokens")
    if info.is_main:
        shown = "" if cfg.worked_share >= 1 else f", {cfg.worked_share:.0%} with worked solutions (the rest answer only)"
        print(f"sft: {len(train_data):,} examples{shown} ({skipped} longer than {cfg.max_len} tokens skipped), "
              f"{len(test_rows)} held out; {model.num_parameters() / 1e6:.2f}M parameters on {info.device}")
    return train_loop(cfg, model=model, tokenizer=tokenizer, train_data=train_data, val_data=val_data, info=info,
                      stage="sft", evaluate=lambda run: run.evaluate(test_rows, template=template,
                                                                     max_new_tokens=cfg.max_new_tokens))


def main(argv: list[str] | None = None) -> int:
    return run_stage(SFTConfig, sft, argv, prog="rlvr sft", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
