"""``rlvr rm``: train a reward model on preference pairs, the teacher of learning from human feedback.

The model is ``train.model.RewardModel``: our decoder with a scalar head read at a sequence's last token,
started from a policy (its body, a fresh head: ``--init-from`` a run, a checkpoint or a Hugging Face causal LM)
or from a reward model (an ``rlvr rm`` run, or a ``...ForSequenceClassification`` folder such as TRL saves).
Each step: ``batch_size`` pairs per process in one forward (chosen and rejected as padded rows; or, with
``--pack-pairs``, padding-free, the pairs end to end in one row with each prompt computed once), the
Bradley-Terry loss of ``train.rm_loss`` with TRL's ``margin`` column and ``center_rewards_coefficient``. The
pairs come in TRL's columns (``rlvr prefs`` writes them); rows that cannot train are skipped and counted by
reason (``train.rm_data``). A share of the prompts (``--eval-fraction``) is held out, all pairs of a prompt
on one side, and metrics report the held-out pairwise accuracy, margin and reward statistics under TRL's names
(``eval_accuracy``, ``eval_margin``, ``eval_mean_reward``...). The model is
exported as a Hugging Face sequence classifier in ``final/``, which ``rlvr grpo --reward-model`` and
``rlvr bon --reward-model`` take.

    rlvr rm --init-from runs/tiny/sft --pairs runs/tiny/prefs.jsonl --out-dir runs/tiny/rm
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from train.config import run_stage
from train.data import BatchOrder, Prefetch
from train.dist import DistInfo, all_reduce_mean, clip_grad_norm, gradient_sync, init_distributed
from train.rm_data import RewardBatch, RewardPair, collate_reward_pairs, encode_reward_pairs, pair_rewards
from train.rm_loss import bradley_terry_loss, reward_stats
from train.run import Run, StageConfig, to_device, use_cuda_graphs

__all__ = ["RMConfig", "evaluate_pairs", "main", "rm", "split_pairs"]


@dataclass
class RMConfig(StageConfig):
    out_dir: str = field(default="runs/rm", metadata={"help": "run folder"})
    init_from: str = field(default="", metadata={
        "help": "required: a policy (its body, a fresh head) or a reward model: a run, a checkpoint or a Hugging "
                "Face folder"})
    pairs: str = field(default="", metadata={
        "help": "required: preference pairs (JSONL/Parquet/saved dataset with prompt, chosen, rejected; margin "
                "optional)"})
    template: Literal["r1_zero", "plain"] = field(default="r1_zero", metadata={
        "help": "prompt template for pairs whose prompt is a raw question (rlvr prefs pairs are templated)"})
    eval_fraction: float = field(default=0.1, metadata={
        "help": "share of the distinct prompts held out for evaluation (0: none)"})
    max_length: int | None = field(default=None, metadata={
        "help": "longest prompt + side in tokens; longer pairs are skipped and counted (default: the model's "
                "max_position_embeddings)"})
    batch_size: int = field(default=16, metadata={"help": "pairs per micro-batch per process"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    center_rewards_coefficient: float | None = field(default=None, metadata={
        "help": "weight of the mean squared reward sum, pulling rewards to zero mean (TRL's; 0.01 is usual)"})
    pack_pairs: bool = field(default=False, metadata={
        "help": "padding-free batches: the pairs end to end in one row, each [prompt | chosen | rejected], the "
                "prompt computed once (flash-attention's varlen kernel on an Ampere or newer GPU); same rewards, "
                "about a quarter fewer tokens, but on one H100 it ran 0.076 s a step against 0.049 for padded "
                "rows (its rows change length, so compiled steps and CUDA graphs are made again: "
                "docs/BENCHMARKS.md 5.11), so padded rows are the default"})
    cuda_graphs: bool | None = field(default=None, metadata={
        "help": "replay the compiled forward and backward as CUDA graphs, which saves the host's kernel launches "
                "(default: on for one compiled GPU process; off on CPU and under torchrun)"})
    lr: float = field(default=1e-4, metadata={"help": "peak learning rate (TRL's RewardConfig default)"})
    warmup_steps: int = field(default=10, metadata={"help": "linear warmup steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_steps: int = field(default=200, metadata={"help": "optimizer steps"})
    eval_every: int = field(default=50, metadata={"help": "steps between held-out evaluations (0: only at the end)"})
    log_every: int = field(default=1, metadata={"help": "steps between metrics lines"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "grad_accum", "max_length"):
            if (getattr(self, name) or 1) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        if self.center_rewards_coefficient is not None and self.center_rewards_coefficient < 0:
            raise ValueError(f"--center-rewards-coefficient must be non-negative, got {self.center_rewards_coefficient}")


def split_pairs(pairs: list[RewardPair], fraction: float, seed: int) -> tuple[list[RewardPair], list[RewardPair]]:
    """``(train, held_out)``: about ``fraction`` of the distinct prompts held out (at least one when there are two
    or more), every pair of a prompt on the same side, so held-out accuracy is measured on unseen prompts. The
    choice depends on the prompts and the seed only, not on the file's order.

    >>> pairs = [RewardPair([0, p], [5, 2], [6, 2]) for p in range(10) for _ in range(2)]
    >>> train, held_out = split_pairs(pairs, 0.2, seed=0)
    >>> len(train), len(held_out), {p.prompt_ids[1] for p in train} & {p.prompt_ids[1] for p in held_out}
    (16, 4, set())
    """
    def rank(prompt: tuple[int, ...]) -> str:
        return hashlib.blake2b(f"{seed}:{prompt}".encode(), digest_size=8).hexdigest()

    prompts = sorted({tuple(p.prompt_ids) for p in pairs}, key=rank)
    count = 0 if fraction <= 0 or len(prompts) < 2 else max(1, round(fraction * len(prompts)))
    held = set(prompts[:count])
    return ([p for p in pairs if tuple(p.prompt_ids) not in held], [p for p in pairs if tuple(p.prompt_ids) in held])


def collate_pairs(pairs: list[RewardPair], pad_id: int, pack: bool) -> RewardBatch:
    """A batch as the stage trains on it: padded rows of a width that is a multiple of 8, or one packed row whose
    length is a multiple of 512 (about 2% of a 32-pair batch of 420-token pairs), so a compiled model sees few
    shapes and CUDA graphs are recorded for few."""
    return collate_reward_pairs(pairs, pad_id, multiple=512 if pack else 8, pack=pack)


@torch.no_grad()
def evaluate_pairs(model, pairs: list[RewardPair], *, pad_id: int, batch_size: int, autocast, device,
                   center_rewards_coefficient: float | None = None, pack: bool = False) -> dict:
    """Held-out loss, pairwise accuracy, margin and reward statistics (``train.rm_loss.reward_stats``) of
    ``model`` on ``pairs``."""
    was_training = model.training
    model.eval()
    chosen, rejected, margins = [], [], []
    for start in range(0, len(pairs), batch_size):
        batch = collate_pairs(pairs[start:start + batch_size], pad_id, pack).to(device)
        with autocast:
            c, r = pair_rewards(model, batch)
        chosen.append(c.float().cpu())
        rejected.append(r.float().cpu())
        if batch.margin is not None:
            margins.append(batch.margin.cpu())
    model.train(was_training)
    chosen, rejected = torch.cat(chosen), torch.cat(rejected)
    loss = bradley_terry_loss(chosen, rejected, torch.cat(margins) if margins else None, center_rewards_coefficient)
    return {"loss": loss.item(), **reward_stats(chosen, rejected)}


def rm(cfg: RMConfig, on_step: Callable[[dict], None] | None = None) -> dict:
    """Train a reward model; returns the last metrics row (with the held-out ``eval_*`` numbers).

    ``on_step(row)`` is called after every optimizer step with its metrics (e.g. to step a profiler)."""
    from train.load import load_reward_model
    from train.prefs import read_preference_rows

    # required when the stage runs, not in the config: a preset leaves them to the pipeline
    if not cfg.init_from:
        raise ValueError("--init-from is required: a policy or a reward model to start from")
    if not cfg.pairs:
        raise ValueError("--pairs is required: preference pairs with prompt, chosen and rejected")
    info = init_distributed(cfg.device)
    torch.manual_seed(cfg.seed + info.rank)
    graphs = use_cuda_graphs(cfg, info)
    pack = cfg.pack_pairs
    model, tokenizer = load_reward_model(cfg.init_from, from_policy=True)
    limit = model.config.max_position_embeddings
    if (cfg.max_length or 0) > limit:
        raise ValueError(f"--max-length {cfg.max_length} exceeds the model's max_position_embeddings ({limit})")
    model = to_device(model, cfg, info)
    located = read_preference_rows(cfg.pairs)
    pairs, skipped = encode_reward_pairs(tokenizer, [row for _, row in located], cfg.template,
                                         cfg.max_length or limit, where=[where for where, _ in located])
    skipped_counts = {reason: len(rows) for reason, rows in skipped.items()}
    if info.is_main and skipped:
        for reason, rows in skipped.items():
            more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
            print(f"rm: skipped {len(rows)} pair(s), {reason}: {', '.join(rows[:3])}{more}", file=sys.stderr)
    train_pairs, eval_pairs = split_pairs(pairs, cfg.eval_fraction, cfg.seed)
    global_batch = cfg.batch_size * info.world_size
    if len(train_pairs) < global_batch:
        found = f"{len(located)} rows, {len(pairs)} usable" + (f", skipped {skipped_counts}" if skipped else "")
        raise ValueError(f"{cfg.pairs}: {len(train_pairs)} training pairs ({found}; {len(eval_pairs)} held out) are "
                         f"fewer than one batch of {global_batch}; lower --batch-size or give more pairs")
    pin = info.device.type == "cuda"  # page-locked, so the copies to the GPU are queued instead of waiting for it

    def make(indices: list[int]) -> RewardBatch:
        batch = collate_pairs([train_pairs[i] for i in indices], tokenizer.pad_id, pack)
        return batch.pin_memory() if pin else batch

    with Run(cfg, "rm", model, tokenizer, info, compile_mode="reduce-overhead" if graphs else None,
             postfix=("loss", "accuracy", "eval_accuracy")) as run:
        order = BatchOrder(len(train_pairs), cfg.batch_size, cfg.seed, info.rank, info.world_size)
        if run.state:
            order.load_state(run.state["data"])

        def evaluate() -> dict:  # every rank calls it (under FSDP they gather the weights); rank 0 evaluates
            if not eval_pairs:
                return {}
            full = run.full_model()
            if not info.is_main:
                return {}
            stats = evaluate_pairs(full, eval_pairs, pad_id=tokenizer.pad_id, batch_size=2 * cfg.batch_size,
                                   autocast=run.autocast, device=info.device,
                                   center_rewards_coefficient=cfg.center_rewards_coefficient, pack=pack)
            return {f"eval_{k}": round(v, 5) for k, v in stats.items()}

        untrained = evaluate() if not run.resumed else {}
        if info.is_main:
            print(f"rm: {len(train_pairs):,} training pairs, {len(eval_pairs):,} held out "
                  f"({len({tuple(p.prompt_ids) for p in eval_pairs})} prompts); {model.num_parameters() / 1e6:.2f}M "
                  f"parameters on {info.device}")
            if not run.resumed:  # where training starts: the counts, the skipped rows and the untrained accuracy
                start = {"step": 0, "pairs": len(pairs), "train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs),
                         **{f"skipped/{k}": v for k, v in skipped_counts.items()}, **untrained}
                run.metrics_path.write_text(json.dumps(start) + "\n")  # a fresh run's first line
        batches = Prefetch(make)
        last: dict = {}
        window = time.perf_counter()
        while run.step < cfg.max_steps:
            row = _train_step(cfg, batches, order, model=model, forward=run.forward, optimizer=run.optimizer,
                              autocast=run.autocast, info=info, graphs=graphs)
            run.scheduler.step()
            run.step += 1
            elapsed = time.perf_counter() - window
            row = {"step": run.step, **row, "lr": float(f"{run.scheduler.get_last_lr()[0]:.4g}"),
                   "step_time": round(elapsed, 4),
                   "pairs_per_s": round(cfg.batch_size * cfg.grad_accum * info.world_size / elapsed, 1)}
            if run.evaluating:
                row.update(evaluate())
            run.end_step(row, {"data": order.state()})
            if on_step is not None:
                on_step(row)
            last = row
            window = time.perf_counter()
        batches.close()
        run.export()
    return last


def _train_step(cfg: RMConfig, batches: Prefetch, order: BatchOrder, *, model, forward, optimizer, autocast,
                info: DistInfo, graphs: bool = False) -> dict:
    """One optimizer step over ``grad_accum`` micro-batches; its loss and reward statistics (TRL's names)."""
    device = info.device
    sums: dict[str, torch.Tensor] = {}
    for micro in range(cfg.grad_accum):
        batch = batches.get(order.next()).to(device, non_blocking=True)
        batches.start(order.peek())  # the next micro-batch, collated while this one runs
        if graphs:  # each micro-batch's forward and backward replay afresh: the last one's outputs are done with
            torch.compiler.cudagraph_mark_step_begin()
        sync = micro == cfg.grad_accum - 1 or not info.is_distributed
        with gradient_sync(forward, sync):
            with autocast:
                chosen, rejected = pair_rewards(forward, batch)
            loss = bradley_terry_loss(chosen, rejected, batch.margin, cfg.center_rewards_coefficient)
            (loss / cfg.grad_accum).backward()
        chosen, rejected = chosen.detach(), rejected.detach()
        for key, value in (("loss", loss.detach()), ("accuracy", (chosen > rejected).float().mean()),
                           ("margin", (chosen - rejected).mean()), ("mean_reward", (chosen + rejected).mean() / 2),
                           ("mean_chosen", chosen.mean()), ("mean_rejected", rejected.mean())):
            sums[key] = sums.get(key, 0) + value.float() / cfg.grad_accum
    grad_norm = clip_grad_norm(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    # one reduction and one host sync, the gradient norm (the same on every rank) read with the rest
    *values, norm = torch.cat([all_reduce_mean(torch.stack(list(sums.values()))), grad_norm.float().view(1)]).tolist()
    row = {key: round(v, 5) for key, v in zip(sums, values)}
    if not math.isfinite(row["loss"]):
        raise FloatingPointError(f"rm: loss is {row['loss']}; lower --lr or check the pairs")
    row["grad_norm"] = round(norm, 4)
    return row


def main(argv: list[str] | None = None) -> int:
    return run_stage(RMConfig, rm, argv, prog="rlvr rm", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
