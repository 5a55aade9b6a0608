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
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from train.checkpoint import load_checkpoint, save_checkpoint
from train.config import config_to_dict, run_stage
from train.data import BatchOrder
from train.dist import (
    DistInfo,
    all_gather_objects,
    all_reduce_mean,
    barrier,
    init_distributed,
    shard,
    shutdown,
)
from train.dpo_loss import (
    IGNORE,
    PackedPairBatch,
    PairBatch,
    PairExample,
    collate_packed_pairs,
    collate_pairs,
    encode_pairs,
    pair_logps,
    preference_loss,
)
from train.load import ProblemSource
from train.loop import StageConfig, _metrics_file, compiles, setup_training, start_run
from train.template import TEMPLATES
from verifiers.scoring import read_jsonl, write_jsonl

__all__ = ["DPOConfig", "dpo", "main", "reference_logps"]


@dataclass
class DPOConfig(StageConfig, ProblemSource):
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
    num_generations: int = field(default=8, metadata={"help": "iterative mode: completions per problem"})
    max_completion_length: int = field(default=256, metadata={"help": "iterative mode: new tokens per completion"})
    temperature: float = field(default=1.0, metadata={"help": "iterative mode: sampling temperature"})
    strategies: str = field(default="correct_vs_incorrect,format_broken", metadata={
        "help": "iterative mode: how pairs are chosen (train.prefs.STRATEGIES, comma-separated)"})
    pairs_per_prompt: int = field(default=2, metadata={"help": "iterative mode: pairs kept per problem"})
    lr: float = field(default=5e-6, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=10, metadata={"help": "linear warmup steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="cosine", metadata={"help": "decay shape"})
    max_steps: int = field(default=100, metadata={"help": "optimizer steps in all (split evenly over the rounds)"})
    log_every: int = field(default=1, metadata={"help": "steps between metrics lines"})
    eval_every: int = field(default=0, metadata={"help": "steps between held-out evaluations (0: only at the end)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_source()
        for name in ("batch_size", "grad_accum", "max_length", "rounds", "prompts_per_round", "num_generations",
                     "max_completion_length", "pairs_per_prompt"):
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
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive for sampling, got {self.temperature}")
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
def reference_logps(model, examples: list[PairExample], *, pad_id: int, batch_size: int, autocast,
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
            out = pair_logps(model, batch.to(device))
        rows.append(torch.stack([out.chosen, out.rejected], dim=1).float().cpu())
    model.train(was_training)
    return torch.cat(rows) if rows else torch.zeros(0, 2)


def dpo(cfg: DPOConfig, on_step: Callable[[dict], None] | None = None) -> dict:
    """Run DPO (one round on given pairs, or ``rounds`` rounds of self-made pairs); returns the last metrics row.

    ``on_step(row)`` is called after every optimizer step with its metrics (e.g. to step a profiler).
    """
    from train.evaluate import evaluate_policy
    from train.load import load_policy, problem_splits
    from train.prefs import load_preferences, make_preferences

    info: DistInfo = init_distributed(cfg.device)
    device = info.device
    graphs = _use_cuda_graphs(cfg, info)
    torch.manual_seed(cfg.seed + info.rank)
    model, tokenizer = load_policy(cfg.init_from)
    model = model.to(device)
    template = TEMPLATES[cfg.template]
    given = load_preferences(cfg.pairs) if cfg.pairs else None
    train_rows, test_rows = problem_splits(cfg, cfg.seed) if given is None or cfg.eval_problems else ([], [])
    limit = model.config.max_position_embeddings
    if cfg.max_length > limit:
        raise ValueError(f"--max-length {cfg.max_length} exceeds the model's max_position_embeddings ({limit})")

    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = start_run(out_dir, cfg.resume, cfg.overwrite, info.is_main)
    if checkpoint is None and info.is_main:
        shutil.rmtree(out_dir / "rounds", ignore_errors=True)  # pairs of an earlier, discarded run
    barrier()
    tokenizer_file = out_dir / "tokenizer.json"
    if info.is_main:
        tokenizer.save(tokenizer_file)
    optimizer, scheduler, forward, autocast = setup_training(cfg, model, info,
                                                             compile_mode="reduce-overhead" if graphs else None)
    step, state = 0, {}
    if checkpoint is not None:
        loaded = load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                 map_location=device)
        step, state = loaded["step"], loaded["state"]
    metrics_path = _metrics_file(out_dir, step) if info.is_main else None
    config_record = {"stage": "dpo", "model": model.config.to_dict(), "train": config_to_dict(cfg)}
    from train.engine import Engine

    engine = eval_engine = None
    if given is None:
        engine = Engine(model, tokenizer, max_batch_size=max(256, cfg.num_generations))
    if test_rows:
        eval_engine = Engine(model, tokenizer, compile=False)
    # the problems each round samples from: a seeded order, a fresh slice per round (cycling when exhausted)
    prompt_order = list(range(len(train_rows)))
    random.Random(cfg.seed).shuffle(prompt_order)
    if info.is_main:
        source = f"pairs from {cfg.pairs}" if given is not None else (
            f"{cfg.rounds} round(s) of {cfg.prompts_per_round} problems x {cfg.num_generations} samples "
            f"from {len(train_rows):,} training problems")
        print(f"dpo: {source}; loss {cfg.loss_type}, beta {cfg.beta}; {model.num_parameters() / 1e6:.2f}M "
              f"parameters on {device}")

    def log(row: dict) -> None:
        if metrics_path is not None:
            with metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    def save(state: dict) -> None:
        if info.is_main:
            save_checkpoint(out_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                            config=config_record, tokenizer_file=tokenizer_file, state=state,
                            keep_last=cfg.keep_last)

    def evaluate() -> dict:
        result = evaluate_policy(model, tokenizer, test_rows, template=template, engine=eval_engine,
                                 max_new_tokens=cfg.max_completion_length)
        return {"eval_accuracy": result.get("accuracy"), "eval_format": result.get("format"),
                "eval_per_task": result.get("per_task")}

    def round_pairs(k: int) -> tuple[list[PairExample], torch.Tensor | None, dict]:
        """Round ``k``'s tokenised pairs and reference log-probs: from its folder when resuming, else made now."""
        folder = out_dir / "rounds" / f"{k:03d}"
        if (folder / "done").exists():
            rows = [row for _, row in read_jsonl(folder / "pairs.jsonl")]
            examples, _ = encode_pairs(tokenizer, rows, cfg.template, cfg.max_length)
            ref = torch.load(folder / "ref_logps.pt") if (folder / "ref_logps.pt").exists() else None
            return examples, ref, json.loads((folder / "stats.json").read_text())
        if given is not None:
            rows, stats = given, {"pairs": len(given)}
        else:
            start = k * cfg.prompts_per_round
            chosen = [train_rows[prompt_order[(start + i) % len(prompt_order)]] for i in range(cfg.prompts_per_round)]
            mine = list(shard(chosen, info))
            made, stats = make_preferences(model, tokenizer, mine, template=cfg.template, engine=engine,
                                           num_generations=cfg.num_generations,
                                           max_new_tokens=cfg.max_completion_length, temperature=cfg.temperature,
                                           strategies=cfg.strategy_list, pairs_per_prompt=cfg.pairs_per_prompt,
                                           seed=cfg.seed * 1000 + k, progress=cfg.progress and info.is_main)
            rows = [r for part in all_gather_objects(made) for r in part]  # every rank trains on all pairs
            stats = _sum_stats(all_gather_objects(stats))
        examples, skipped = encode_pairs(tokenizer, rows, cfg.template, cfg.max_length)
        stats["skipped_too_long"] = skipped
        ref = None
        if cfg.loss_type != "simpo":
            ref = reference_logps(model, examples, pad_id=tokenizer.pad_id, batch_size=cfg.batch_size * 2,
                                  autocast=autocast, device=device, pack=cfg.pack_pairs)
        if info.is_main:  # written last-file-first: "done" marks a complete round folder
            write_jsonl(rows, folder / "pairs.jsonl")
            if ref is not None:
                torch.save(ref, folder / "ref_logps.pt")
            (folder / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
            (folder / "done").touch()
        return examples, ref, stats

    bar = None
    if info.is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, desc="dpo", unit="step", dynamic_ncols=True)
    last: dict = {}
    model.train()
    k = next(i for i in range(cfg.rounds) if step < cfg.round_steps(i).stop - 1) if step < cfg.max_steps else cfg.rounds
    while step < cfg.max_steps:
        steps = cfg.round_steps(k)
        examples, ref, round_stats = round_pairs(k)
        if info.is_main:
            print(f"dpo round {k + 1}/{cfg.rounds}: {len(examples):,} pairs " + json.dumps(
                {key: v for key, v in round_stats.items() if key != "pairs"}))
        # every rank holds all pairs; a round with fewer than a full batch trains on smaller batches
        per_rank = min(cfg.batch_size, len(examples) // info.world_size)
        if per_rank == 0:
            # nothing to prefer (every sample right, or none): the policy stays as it is for this round
            if info.is_main:
                print(f"dpo round {k + 1}: no pairs, its {len(steps)} step(s) are skipped", file=sys.stderr)
            while step < steps.stop - 1:
                with warnings.catch_warnings():  # the schedule moves on although the optimizer did not step
                    warnings.simplefilter("ignore", UserWarning)
                    scheduler.step()
                step += 1
                last = {"step": step, "round": k + 1, "skipped": True, **{f"round/{key}": v
                                                                            for key, v in round_stats.items()}}
                log(last)
                if bar is not None:
                    bar.update(1)
            save({"round": k, "data": {}})
            k += 1
            continue
        order = BatchOrder(len(examples), per_rank, cfg.seed + k, info.rank, info.world_size)
        if state.get("round") == k:
            order.load_state(state["data"])  # resumed in the middle of this round
        batches = _Prefetch(examples, ref, tokenizer.pad_id, pin=device.type == "cuda", pack=cfg.pack_pairs)
        window = time.perf_counter()
        while step < steps.stop - 1:
            row = _train_step(cfg, batches, order, model=model, forward=forward, optimizer=optimizer,
                              autocast=autocast, info=info, graphs=graphs)
            scheduler.step()
            step += 1
            row = {"step": step, "round": k + 1, **row, "lr": float(f"{scheduler.get_last_lr()[0]:.4g}")}
            if step == steps.start:
                row.update({f"round/{key}": v for key, v in round_stats.items()})
            elapsed = time.perf_counter() - window
            row["step_time"] = round(elapsed, 4)
            row["pairs_per_s"] = round(per_rank * cfg.grad_accum * info.world_size / elapsed, 1)
            if info.is_main and test_rows and ((cfg.eval_every and step % cfg.eval_every == 0)
                                               or step == cfg.max_steps):
                model.eval()
                row.update(evaluate())
                model.train()
            if step % cfg.log_every == 0 or "eval_accuracy" in row or step == cfg.max_steps:
                log(row)
            last = row
            if on_step is not None:
                on_step(row)
            if bar is not None:
                bar.set_postfix({key: row[key] for key in ("loss", "rewards/accuracies", "eval_accuracy")
                                 if row.get(key) is not None})
                bar.update(1)
            if step == steps.stop - 1 or (cfg.save_every and step % cfg.save_every == 0):
                save({"round": k, "data": order.state()})
            window = time.perf_counter()
        batches.close()
        k += 1
    if bar is not None:
        bar.close()
    if info.is_main:
        from train.hf import export_hf

        export_hf(model, out_dir / "final", tokenizer)
    del forward  # DDP's destructor still talks to the process group: free it before leaving the group
    shutdown()
    return last


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


def _use_cuda_graphs(cfg: DPOConfig, info: DistInfo) -> bool:
    """Whether the training steps replay CUDA graphs: as ``cfg.cuda_graphs`` says, by default on one compiled
    CUDA process. At 420-token pairs the host takes about as long to launch a step's kernels as the GPU to run
    them; replaying graphs made steps 5% faster on an H200 (docs/BENCHMARKS.md 5.4)."""
    compiled = compiles(cfg, info.device)
    if cfg.cuda_graphs is None:
        return info.device.type == "cuda" and compiled and not info.is_distributed
    if cfg.cuda_graphs and (info.device.type != "cuda" or not compiled):
        raise ValueError(f"--cuda-graphs needs a CUDA device and --compile (device {info.device}, "
                         f"compile {compiled})")
    if cfg.cuda_graphs and info.is_distributed:
        raise ValueError("--cuda-graphs is not supported under torchrun (DDP's gradient hooks run outside the "
                         "graphs); leave it unset")
    return cfg.cuda_graphs


class _Prefetch:
    """Collates the next micro-batch on a worker thread while the GPU runs the current one (the host
    would otherwise leave the GPU idle for the collation after every step's closing sync)."""

    def __init__(self, examples: list[PairExample], ref: torch.Tensor | None, pad_id: int, *, pin: bool,
                 pack: bool = False):
        self.examples, self.ref, self.pad_id, self.pin = examples, ref, pad_id, pin
        self.collate = collate_packed_pairs if pack else collate_pairs
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="dpo-collate")
        self.pending: tuple[list[int], Future] | None = None

    def _collate(self, indices: list[int]) -> tuple[PairBatch | PackedPairBatch, torch.Tensor | None, int]:
        batch = self.collate([self.examples[i] for i in indices], self.pad_id, multiple=8)
        tokens = int((batch.labels != IGNORE).sum())
        ref = self.ref[indices] if self.ref is not None else None  # [B, 2] reference log-probs
        if self.pin:  # page-locked, so the copies to the GPU are queued instead of waiting for it
            batch, ref = batch.pin_memory(), (ref.pin_memory() if ref is not None else None)
        return batch, ref, tokens

    def start(self, indices: list[int]) -> None:
        self.pending = (indices, self.pool.submit(self._collate, indices))

    def get(self, indices: list[int]) -> tuple[PairBatch | PackedPairBatch, torch.Tensor | None, int]:
        """The batch of ``indices`` (prepared by ``start`` if it asked for these), its reference log-probs
        and its completion token count."""
        if self.pending is not None and self.pending[0] == indices:
            return self.pending[1].result()
        return self._collate(indices)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _train_step(cfg: DPOConfig, batches: _Prefetch, order: BatchOrder, *,
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
                out = pair_logps(forward, batch)
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
