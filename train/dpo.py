"""``rlvr dpo``: preference optimisation (DPO, IPO, hinge, SimPO, RPO) on verifier-made or given pairs.

Two ways to get pairs:

- ``--pairs FILE``: a preference dataset in TRL's columns (``prompt``, ``chosen``, ``rejected``), e.g.
  one written by ``rlvr prefs``; one round of training on it.
- no ``--pairs``: iterative mode (Iterative Reasoning Preference Optimization, Pang et al. 2024). Each
  of ``--rounds`` rounds samples ``--num-generations`` completions for ``--prompts-per-round`` training
  problems from the current policy, judges them with the problems' verifiers, pairs a correct,
  well-formed completion with a worse one (``train.prefs.build_pairs``) and trains on those pairs
  with the round's starting model as the reference.

Reference log-probabilities are computed once per round, before its first step, so no reference
model stays in memory (SimPO needs none). Each step: ``batch_size`` pairs per process (chosen and
rejected in one forward), the loss of ``train.dpo_loss.preference_loss`` plus ``rpo_alpha`` times the
chosen answer's NLL (RPO). Metrics use TRL's names (``rewards/chosen``, ``rewards/margins``,
``rewards/accuracies``, ``logps/chosen``...). Checkpoints, ``--resume`` and torchrun DDP work as
in the other stages; each round's pairs and reference log-probs are kept in ``rounds/NNN/``.

    rlvr dpo --init-from runs/tiny/sft --tasks arithmetic --difficulty 1-2 --rounds 2 --out-dir runs/tiny/dpo
    rlvr dpo --init-from runs/tiny/sft --pairs prefs.jsonl --loss-type ipo --beta 0.5
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import torch

from train.config import run_stage
from train.data import BatchOrder, Prefetch
from train.dist import DistInfo, all_gather_objects, all_reduce_mean, shard
from train.dpo_loss import (
    IGNORE,
    PackedPairBatch,
    PairBatch,
    PairExample,
    collate_packed_pairs,
    collate_pairs,
    encode_pairs,
    pair_logprobs,
    preference_loss,
)
from train.engine import Engine
from train.run import RLConfig, Run, open_policy, use_cuda_graphs
from train.template import TEMPLATES
from verifiers.problem import read_jsonl, write_jsonl

__all__ = ["DPOConfig", "dpo", "main", "reference_logprobs", "reference_logps"]


@dataclass
class DPOConfig(RLConfig):
    out_dir: str = field(default="runs/dpo", metadata={"help": "run folder"})
    pairs: str | None = field(default=None, metadata={
        "help": "preference dataset (JSONL/Parquet/saved dataset with prompt, chosen, rejected); without it, "
                "pairs are made from the policy's own samples each round"})
    loss_type: Literal["sigmoid", "ipo", "hinge", "simpo"] = field(default="sigmoid", metadata={
        "help": "sigmoid (DPO), ipo, hinge, simpo (reference-free, length-normalised)"})
    beta: float = field(default=0.1, metadata={"help": "strength of the implicit KL (simpo: the reward scale)"})
    gamma: float = field(default=0.5, metadata={"help": "simpo: target reward margin"})
    label_smoothing: float = field(default=0.0, metadata={"help": "sigmoid: share of flipped labels (cDPO)"})
    rpo_alpha: float = field(default=0.0, metadata={"help": "weight of the chosen answer's NLL (RPO; 0: off)"})
    batch_size: int = field(default=16, metadata={"help": "pairs per micro-batch per process"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    max_length: int = field(default=512, metadata={"help": "longest prompt + completion in tokens (longer pairs "
                                                            "are skipped)"})
    pack_pairs: bool = field(default=False, metadata={
        "help": "one row per pair, [prompt | chosen | rejected]: the prompt is computed once, and an attention "
                "mask (FlexAttention on GPU) keeps the completions apart; same log-probs, fewer tokens"})
    cuda_graphs: bool | None = field(default=None, metadata={
        "help": "replay the compiled forward and backward as CUDA graphs, which saves the host's kernel launches "
                "(default: on for one compiled GPU process; off on CPU and under torchrun)"})
    rounds: int = field(default=1, metadata={"help": "iterative mode: generate, pair, train, repeat"})
    prompts_per_round: int = field(default=512, metadata={"help": "iterative mode: problems sampled per round"})
    strategies: str = field(default="correct_vs_incorrect,format_broken", metadata={
        "help": "iterative mode: how pairs are chosen (train.prefs.STRATEGIES, comma-separated)"})
    pairs_per_prompt: int = field(default=2, metadata={"help": "iterative mode: pairs kept per problem"})
    lr: float = field(default=5e-6, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=10, metadata={"help": "linear warmup steps"})
    max_steps: int = field(default=100, metadata={"help": "optimizer steps in all (split evenly over the rounds)"})
    eval_every: int = field(default=0, metadata={"help": "steps between held-out evaluations (0: only at the end)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "grad_accum", "max_length", "rounds", "prompts_per_round", "pairs_per_prompt"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.beta <= 0:
            raise ValueError(f"--beta must be positive, got {self.beta}")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError(f"--label-smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.label_smoothing and self.loss_type not in ("sigmoid", "simpo"):
            raise ValueError(f"--label-smoothing applies to --loss-type sigmoid and simpo, not {self.loss_type}")
        if self.rpo_alpha < 0:
            raise ValueError(f"--rpo-alpha must be non-negative, got {self.rpo_alpha}")
        if self.pairs and self.rounds > 1:
            raise ValueError("--rounds > 1 generates new pairs each round; it cannot be used with --pairs")
        if self.rounds > self.max_steps:
            raise ValueError(f"--rounds {self.rounds} is more than --max-steps {self.max_steps}: a round needs a step")
        from train.prefs import STRATEGIES

        bad = [s for s in self.strategy_list if s not in STRATEGIES]
        if bad or not self.strategy_list:
            raise ValueError(f"--strategies: unknown {', '.join(bad) or '(none given)'}; choose from "
                             f"{', '.join(STRATEGIES)}")

    @property
    def strategy_list(self) -> list[str]:
        return [s.strip() for s in self.strategies.split(",") if s.strip()]

    def round_steps(self, k: int) -> range:
        """The optimizer steps (1-based, inclusive end) of round ``k``: the steps are split evenly."""
        edges = [round(i * self.max_steps / self.rounds) for i in range(self.rounds + 1)]
        return range(edges[k] + 1, edges[k + 1] + 1)


@torch.no_grad()
def reference_logprobs(model, examples: list[PairExample], *, pad_id: int, batch_size: int, autocast,
                       device, pack: bool = False) -> torch.Tensor:
    """``[N, 2]`` summed log-probs of each pair's chosen and rejected completion under ``model`` (float32, CPU).

    Computed once per round, so the reference model need not stay in memory while the policy trains.
    """
    was_training = model.training
    model.eval()
    rows = []
    collate = collate_packed_pairs if pack else collate_pairs
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size], pad_id)
        with autocast:
            out = pair_logprobs(model, batch.to(device))
        rows.append(torch.stack([out.chosen, out.rejected], dim=1).float().cpu())
    model.train(was_training)
    return torch.cat(rows) if rows else torch.zeros(0, 2)


reference_logps = reference_logprobs  # the name before: DPO's log-probs are called logprobs like GRPO's


def dpo(cfg: DPOConfig, on_step: Callable[[dict], None] | None = None) -> dict:
    """Run DPO (one round on given pairs, or ``rounds`` rounds of self-made pairs); returns the last metrics row.

    ``on_step(row)`` is called after every optimizer step with its metrics (e.g. to step a profiler).
    """
    from train.load import problem_splits
    from train.prefs import load_preferences

    info, model, tokenizer = open_policy(cfg)
    graphs = use_cuda_graphs(cfg, info)
    given = load_preferences(cfg.pairs) if cfg.pairs else None
    train_rows, test_rows = problem_splits(cfg, cfg.seed) if given is None or cfg.eval_problems else ([], [])
    limit = model.config.max_position_embeddings
    if cfg.max_length > limit:
        raise ValueError(f"--max-length {cfg.max_length} exceeds the model's max_position_embeddings ({limit})")

    with Run(cfg, "dpo", model, tokenizer, info, compile_mode="reduce-overhead" if graphs else None,
             postfix=("loss", "rewards/accuracies", "eval_accuracy"), scratch=["rounds"]) as run:
        engine = Engine(model, tokenizer, max_batch_size=max(256, cfg.num_generations)) if given is None else None
        # the problems each round samples from: a seeded order, a fresh slice per round (cycling when exhausted)
        shuffled = list(train_rows)
        random.Random(cfg.seed).shuffle(shuffled)
        if info.is_main:
            source = f"pairs from {cfg.pairs}" if given is not None else (
                f"{cfg.rounds} round(s) of {cfg.prompts_per_round} problems x {cfg.num_generations} samples "
                f"from {len(train_rows):,} training problems")
            print(f"dpo: {source}; loss {cfg.loss_type}, beta {cfg.beta}; {model.num_parameters() / 1e6:.2f}M "
                  f"parameters on {info.device}")
        last: dict = {}
        steps_left = run.step < cfg.max_steps
        k = next(i for i in range(cfg.rounds) if run.step < cfg.round_steps(i).stop - 1) if steps_left else cfg.rounds
        while run.step < cfg.max_steps:
            steps = cfg.round_steps(k)
            examples, ref, round_stats = _round_pairs(k, cfg, run, given, shuffled, engine)
            if info.is_main:
                print(f"dpo round {k + 1}/{cfg.rounds}: {len(examples):,} pairs " + json.dumps(
                    {key: v for key, v in round_stats.items() if key != "pairs"}))
            # every rank holds all pairs; a round with fewer than a full batch trains on smaller batches
            per_rank = min(cfg.batch_size, len(examples) // info.world_size)
            order = batches = None
            if per_rank:
                order = BatchOrder(len(examples), per_rank, cfg.seed + k, info.rank, info.world_size)
                if run.state.get("round") == k:
                    order.load_state(run.state["data"])  # resumed in the middle of this round
                batches = Prefetch(partial(_collate, examples, ref, tokenizer.pad_id, pin=info.device.type == "cuda",
                                           pack=cfg.pack_pairs))
            elif info.is_main:  # nothing to prefer (every sample right, or none): the policy stays as it is
                print(f"dpo round {k + 1}: no pairs, its {len(steps)} step(s) are skipped", file=sys.stderr)
            window = time.perf_counter()
            while run.step < steps.stop - 1:
                if batches is not None:
                    row = _train_step(cfg, batches, order, model=model, forward=run.forward,
                                      optimizer=run.optimizer, autocast=run.autocast, info=info, graphs=graphs)
                    run.scheduler.step()
                else:
                    row = {"skipped": True}
                    with warnings.catch_warnings():  # the schedule moves on although the optimizer did not step
                        warnings.simplefilter("ignore", UserWarning)
                        run.scheduler.step()
                run.step += 1
                row = {"step": run.step, "round": k + 1, **row, "lr": float(f"{run.scheduler.get_last_lr()[0]:.4g}")}
                if run.step == steps.start or batches is None:
                    row.update({f"round/{key}": v for key, v in round_stats.items()})
                if batches is not None:
                    elapsed = time.perf_counter() - window
                    row["step_time"] = round(elapsed, 4)
                    row["pairs_per_s"] = round(per_rank * cfg.grad_accum * info.world_size / elapsed, 1)
                if info.is_main and run.evaluating:
                    row.update(run.evaluate(test_rows, template=TEMPLATES[cfg.template], prefix="eval_",
                                            max_new_tokens=cfg.max_completion_length))
                run.end_step(row, {"round": k, "data": order.state() if order else {}}, save=run.step == steps.stop - 1)
                last = row
                if on_step is not None and batches is not None:
                    on_step(row)
                window = time.perf_counter()
            if batches is not None:
                batches.close()
            k += 1
        run.export()
    return last


def _round_pairs(k: int, cfg: DPOConfig, run: Run, given: list[dict] | None, problems: list[dict],
                 engine: Engine | None) -> tuple[list[PairExample], torch.Tensor | None, dict]:
    """Round ``k``'s tokenised pairs, reference log-probs and statistics: from its folder when resuming, else
    made now (from ``given`` pairs, or sampled from the policy for the round's slice of ``problems``)."""
    from train.prefs import make_preferences

    folder, info, tokenizer = run.out_dir / "rounds" / f"{k:03d}", run.info, run.tokenizer
    if (folder / "done").exists():
        rows = [row for _, row in read_jsonl(folder / "pairs.jsonl")]
        examples, _ = encode_pairs(tokenizer, rows, cfg.template, cfg.max_length)
        ref = torch.load(folder / "ref_logps.pt") if (folder / "ref_logps.pt").exists() else None
        return examples, ref, json.loads((folder / "stats.json").read_text())
    if given is not None:
        rows, stats = given, {"pairs": len(given)}
    else:
        start = k * cfg.prompts_per_round
        mine = list(shard([problems[(start + i) % len(problems)] for i in range(cfg.prompts_per_round)], info))
        made, stats = make_preferences(run.model, tokenizer, mine, template=cfg.template, engine=engine,
                                       num_generations=cfg.num_generations, max_new_tokens=cfg.max_completion_length,
                                       temperature=cfg.temperature, strategies=cfg.strategy_list,
                                       pairs_per_prompt=cfg.pairs_per_prompt, seed=cfg.seed * 1000 + k,
                                       progress=cfg.progress and info.is_main)
        rows = [r for part in all_gather_objects(made) for r in part]  # every rank trains on all pairs
        stats = _sum_stats(all_gather_objects(stats))
    examples, skipped = encode_pairs(tokenizer, rows, cfg.template, cfg.max_length)
    stats["skipped_too_long"] = skipped
    ref = None
    if cfg.loss_type != "simpo":
        ref = reference_logprobs(run.model, examples, pad_id=tokenizer.pad_id, batch_size=cfg.batch_size * 2,
                                 autocast=run.autocast, device=info.device, pack=cfg.pack_pairs)
    if info.is_main:  # written last-file-first: "done" marks a complete round folder
        write_jsonl(rows, folder / "pairs.jsonl")
        if ref is not None:
            torch.save(ref, folder / "ref_logps.pt")
        (folder / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
        (folder / "done").touch()
    return examples, ref, stats


def _sum_stats(parts: list[dict]) -> dict:
    """Pool the pair statistics of every process: counts add up, rates are weighted by samples."""
    total: dict = {}
    samples = sum(p.get("samples", 0) for p in parts) or 1
    for p in parts:
        for key, value in p.items():
            if isinstance(value, dict):  # counts by name (pairs_by_reason): add up per name
                counts = total.setdefault(key, {})
                for name, count in value.items():
                    counts[name] = counts.get(name, 0) + count
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float):  # a rate: weight by this part's samples
                total[key] = total.get(key, 0.0) + value * p.get("samples", 0) / samples
            else:
                total[key] = total.get(key, 0) + value
    return {key: round(v, 5) if isinstance(v, float) else v for key, v in total.items()}


def _collate(examples: list[PairExample], ref: torch.Tensor | None, pad_id: int, indices: list[int], *, pin: bool,
             pack: bool) -> tuple[PairBatch | PackedPairBatch, torch.Tensor | None, int]:
    """The micro-batch of ``indices`` (pinned for the GPU with ``pin``), its reference log-probs and its
    completion token count: what ``train.data.Prefetch`` makes while the GPU runs the batch before."""
    batch = (collate_packed_pairs if pack else collate_pairs)([examples[i] for i in indices], pad_id, multiple=8)
    tokens = int((batch.labels != IGNORE).sum())
    ref = ref[indices] if ref is not None else None  # [B, 2] reference log-probs
    if pin:  # page-locked, so the copies to the GPU are queued instead of waiting for it
        batch, ref = batch.pin_memory(), (ref.pin_memory() if ref is not None else None)
    return batch, ref, tokens


def _train_step(cfg: DPOConfig, batches: Prefetch, order: BatchOrder, *,
                model, forward, optimizer, autocast, info: DistInfo, graphs: bool = False) -> dict:
    """One optimizer step over ``grad_accum`` micro-batches of pairs; returns its metrics (TRL's names)."""
    device = info.device
    sums: dict[str, torch.Tensor] = {}
    tokens = 0
    for micro in range(cfg.grad_accum):
        indices = order.next()
        batch, ref, count = batches.get(indices)
        tokens += count
        batch = batch.to(device, non_blocking=True)
        ref = ref.to(device, non_blocking=True) if ref is not None else None
        batches.start(order.peek())  # the next micro-batch, collated while this one runs
        if graphs:  # each micro-batch's forward and backward replay afresh: the last one's outputs are done with
            torch.compiler.cudagraph_mark_step_begin()
        sync = micro == cfg.grad_accum - 1 or not info.is_distributed
        with (contextlib.nullcontext() if sync else forward.no_sync()):
            with autocast:
                out = pair_logprobs(forward, batch)
            ref_c, ref_r = (ref[:, 0], ref[:, 1]) if ref is not None else (None, None)
            result = preference_loss(out.chosen, out.rejected, ref_c, ref_r, loss_type=cfg.loss_type,
                                     beta=cfg.beta, label_smoothing=cfg.label_smoothing, gamma=cfg.gamma,
                                     chosen_tokens=out.chosen_tokens, rejected_tokens=out.rejected_tokens)
            loss = result.losses.mean()
            if cfg.rpo_alpha:
                loss = loss + cfg.rpo_alpha * out.chosen_nll
            (loss / cfg.grad_accum).backward()
        margins = result.chosen_rewards - result.rejected_rewards
        for key, value in (("loss", loss.detach()), ("rewards/chosen", result.chosen_rewards.mean()),
                           ("rewards/rejected", result.rejected_rewards.mean()),
                           ("rewards/margins", margins.mean()),
                           ("rewards/accuracies", (margins > 0).float().mean()),
                           ("logps/chosen", out.chosen.detach().mean()), ("logps/rejected", out.rejected.detach().mean()),
                           ("nll", out.chosen_nll.detach())):
            sums[key] = sums.get(key, 0) + value.detach().float() / cfg.grad_accum
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    # one reduction, one host sync; the token count joins it (ranks' pairs differ in length)
    values = all_reduce_mean(torch.stack([*sums.values(), torch.tensor(float(tokens), device=device)])).tolist()
    row = {key: round(v, 5) for key, v in zip(sums, values)}
    if not math.isfinite(row["loss"]):
        raise FloatingPointError(f"dpo: loss is {row['loss']}; lower --lr or --beta, or check the pairs")
    row["grad_norm"] = round(float(grad_norm), 4)
    row["tokens"] = round(values[-1] * info.world_size)
    return row


def main(argv: list[str] | None = None) -> int:
    return run_stage(DPOConfig, dpo, argv, prog="rlvr dpo", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
