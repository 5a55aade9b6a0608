"""The language-model training loop shared by pretraining and SFT, readable top to bottom.

Per optimizer step: ``grad_accum`` micro-batches (bf16 autocast on GPU, DDP gradient sync on the last
one), gradient clipping, AdamW or Muon, warmup + cosine/WSD schedule. Rank 0 shows a progress bar,
appends metrics to ``metrics.jsonl`` (loss, lr, grad norm, tokens/s, MFU, held-out loss, whatever the
stage's evaluation adds) and writes crash-safe checkpoints; ``resume`` continues exactly where the
last checkpoint left off. At the end the model is exported as a Hugging Face folder ``final/``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.config import config_to_dict
from train.data import BatchOrder
from train.dist import DistInfo, all_reduce_mean
from train.optim import build_optimizer, build_scheduler

__all__ = ["StageConfig", "TrainConfig", "compiles", "peak_flops", "resume", "setup_training", "start_run", "train_loop"]


@dataclass
class StageConfig:
    """Optimisation, logging and checkpointing settings common to every stage."""

    out_dir: str = field(default="runs/stage", metadata={"help": "run folder: checkpoints, metrics.jsonl, final/"})
    max_steps: int = field(default=500, metadata={"help": "optimizer steps"})
    lr: float = field(default=3e-3, metadata={"help": "peak learning rate (AdamW)"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final learning rate / peak"})
    warmup_steps: int = field(default=50, metadata={"help": "linear warmup steps"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="cosine", metadata={"help": "decay shape"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay on matrices"})
    optimizer: Literal["adamw", "muon"] = field(default="adamw", metadata={"help": "muon: Muon on hidden matrices"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm (0: no clipping)"})
    eval_every: int = field(default=100, metadata={"help": "steps between held-out evaluations (0: only at the end)"})
    save_every: int = field(default=0, metadata={"help": "steps between checkpoints (0: only at the end)"})
    keep_last: int = field(default=2, metadata={"help": "checkpoints kept"})
    log_every: int = field(default=10, metadata={"help": "steps between metrics lines"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in out_dir"})
    overwrite: bool = field(default=False, metadata={"help": "start afresh in an out_dir that holds an earlier run"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, data order and sampling"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda if available)"})
    compile: bool | None = field(default=None, metadata={"help": "torch.compile the model (default: on GPU)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        for name in ("max_steps", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_every", "save_every", "keep_last"):  # checked now, not at the first save
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.warmup_steps > self.max_steps:
            self.warmup_steps = self.max_steps


@dataclass
class TrainConfig(StageConfig):
    """A language-model stage (pretraining, SFT): batches of token sequences."""

    batch_size: int = field(default=32, metadata={"help": "sequences per micro-batch per process"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    eval_batches: int = field(default=8, metadata={"help": "held-out batches for the loss"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "grad_accum", "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU (datasheet) for MFU; None when unknown (CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in (("H100", 989e12), ("H200", 989e12), ("H20", 148e12), ("A100", 312e12), ("L40", 181e12),
                       ("A10", 125e12), ("4090", 165e12)):
        if key in name:
            return flops
    return None


def start_run(out_dir: Path, resume: bool, overwrite: bool, is_main: bool) -> Path | None:
    """The checkpoint to resume from, if any. A fresh run refuses a folder holding an earlier run's
    checkpoints unless ``overwrite`` (then they are deleted): otherwise a later resume would pick up
    the old run's weights."""
    import shutil

    found = latest_checkpoint(out_dir)
    if resume:
        if found is None and is_main:
            print(f"--resume: no checkpoint in {out_dir}, starting from scratch")
        return found
    if found is not None:
        if not overwrite:
            raise ValueError(f"{out_dir} holds checkpoints of an earlier run (latest {found.name}); pass --resume to "
                             "continue it, --overwrite to start afresh, or another --out-dir")
        if is_main:
            for old in out_dir.glob("step_*"):
                shutil.rmtree(old, ignore_errors=True)
            (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    return None


def compiles(cfg: StageConfig, device: torch.device) -> bool:
    """Whether a stage compiles its model: as ``cfg.compile`` says, by default on GPU.

    >>> compiles(StageConfig(), torch.device("cpu")), compiles(StageConfig(compile=True), torch.device("cpu"))
    (False, True)
    """
    return device.type == "cuda" if cfg.compile is None else cfg.compile


def setup_training(cfg: StageConfig, model: torch.nn.Module, info: DistInfo, *, compile_mode: str | None = None):
    """``(optimizer, scheduler, forward, autocast)`` for a stage: AdamW or Muon with the schedule,
    the model compiled on GPU (or as ``cfg.compile`` says; ``compile_mode`` is ``torch.compile``'s ``mode``)
    and wrapped in DDP under torchrun, and bf16 autocast on GPU."""
    device = info.device
    optimizer = build_optimizer(model, name=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = build_scheduler(optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.max_steps,
                                schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio)
    forward = torch.compile(model, mode=compile_mode) if compiles(cfg, device) else model
    if info.is_distributed:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    return optimizer, scheduler, forward, autocast


def resume(checkpoint: Path | None, *, model, optimizer, scheduler, order: BatchOrder, out_dir: Path,
           info: DistInfo) -> tuple[int, Path | None]:
    """Restore weights, optimizer, schedule, RNG and data order from ``checkpoint`` (if any); return the
    step reached and, on rank 0, ``metrics.jsonl`` cut back to that step."""
    step = 0
    if checkpoint is not None:
        loaded = load_checkpoint(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler,
                                 map_location=info.device)
        step = loaded["step"]
        order.load_state(loaded["state"]["data"])
    return step, (_metrics_file(out_dir, step) if info.is_main else None)


def _metrics_file(out_dir: Path, resumed_step: int) -> Path:
    """metrics.jsonl, with lines after the resumed step dropped so a resumed run does not repeat them."""
    path = out_dir / "metrics.jsonl"
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resumed_step]
        path.write_text("".join(line + "\n" for line in kept))
    return path


def train_loop(cfg: TrainConfig, *, model: torch.nn.Module, tokenizer, train_data, val_data, info: DistInfo,
               stage: str, model_config: dict, evaluate: Callable[[torch.nn.Module], dict] | None = None,
               tokenizer_file: Path | None = None) -> dict:
    """Train ``model`` (on ``info.device`` already) and return the last metrics row.

    ``train_data``/``val_data`` have ``len()`` and ``batch(indices) -> (inputs, targets)``.
    ``evaluate(model)`` runs on rank 0 at each evaluation and its numbers join the metrics row.
    """
    out_dir = Path(cfg.out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    device = info.device
    raw_model = model
    optimizer, scheduler, forward, autocast = setup_training(cfg, model, info)
    order = BatchOrder(len(train_data), cfg.batch_size, cfg.seed, info.rank, info.world_size)
    checkpoint = start_run(out_dir, cfg.resume, cfg.overwrite, info.is_main)
    step, metrics_path = resume(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, order=order,
                                out_dir=out_dir, info=info)
    config_record = {"stage": stage, "model": model_config, "train": config_to_dict(cfg)}

    flops_per_token = raw_model.flops_per_token(train_data.batch([0])[0].shape[1]) \
        if hasattr(raw_model, "flops_per_token") else None
    peak = peak_flops(device)

    def held_out_loss() -> float | None:
        if val_data is None or len(val_data) == 0:
            return None
        model.eval()
        losses = []
        with torch.no_grad(), autocast:
            for k in range(0, min(len(val_data), cfg.eval_batches * cfg.batch_size), cfg.batch_size):
                x, y = val_data.batch(list(range(k, min(k + cfg.batch_size, len(val_data)))))
                losses.append(model(x.to(device), y.to(device)).item())
        model.train()
        return sum(losses) / len(losses)

    def save(at_step: int) -> None:
        if info.is_main:
            save_checkpoint(out_dir, at_step, model=raw_model, optimizer=optimizer, scheduler=scheduler,
                            config=config_record, tokenizer_file=tokenizer_file,
                            state={"data": order.state()}, keep_last=cfg.keep_last)

    def log(row: dict) -> None:
        if metrics_path is not None:
            with metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")

    bar = None
    if info.is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, desc=stage, unit="step", dynamic_ncols=True)
    model.train()
    last: dict = {}
    window_tokens, window_start = 0, time.perf_counter()
    while step < cfg.max_steps:
        loss_sum = torch.zeros((), device=device)
        tokens = torch.zeros((), dtype=torch.long, device=device)  # summed on the device: no sync per step
        for micro in range(cfg.grad_accum):
            x, y = train_data.batch(order.next())
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            tokens += (y != -100).sum()
            sync = micro == cfg.grad_accum - 1 or not info.is_distributed
            with (contextlib.nullcontext() if sync else forward.no_sync()), autocast:
                loss = forward(x, y) / cfg.grad_accum
            loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0
                                                   else float("inf"))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_tokens = window_tokens + tokens * info.world_size

        evaluating = step == cfg.max_steps or (cfg.eval_every and step % cfg.eval_every == 0)
        if step % cfg.log_every == 0 or evaluating:
            loss_value = all_reduce_mean(loss_sum).item()
            elapsed = time.perf_counter() - window_start
            window_tokens = int(window_tokens)
            row = {"step": step, "loss": round(loss_value, 5), "lr": float(f"{scheduler.get_last_lr()[0]:.4g}"),
                   "grad_norm": round(float(grad_norm), 4), "tokens_per_s": round(window_tokens / elapsed, 1)}
            if flops_per_token and peak:
                row["mfu"] = round(flops_per_token * window_tokens / elapsed / info.world_size / peak, 4)
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"{stage}: loss is {loss_value} at step {step}; lower --lr or check the data")
            if evaluating:
                row["val_loss"] = held_out_loss()
                if evaluate is not None and info.is_main:
                    model.eval()
                    row.update(evaluate(raw_model))
                    model.train()
            log(row)
            last = row
            if bar is not None:
                bar.set_postfix({k: row[k] for k in ("loss", "val_loss", "accuracy") if row.get(k) is not None})
            window_tokens, window_start = 0, time.perf_counter()
        if bar is not None:
            bar.update(1)
        if step == cfg.max_steps or (cfg.save_every and step % cfg.save_every == 0):
            save(step)
    if bar is not None:
        bar.close()
    if info.is_main:
        from train.hf import export_hf

        export_hf(raw_model, out_dir / "final", tokenizer)
    return last
