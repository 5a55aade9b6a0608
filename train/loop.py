"""The language-model training loop shared by pretraining and SFT, readable top to bottom.

Per optimizer step: ``grad_accum`` micro-batches (bf16 autocast on GPU, DDP gradient sync on the last
one), gradient clipping, AdamW or Muon, warmup + cosine/WSD schedule. The metrics (loss, lr, grad norm,
tokens/s, MFU, held-out loss, whatever the stage's evaluation adds), checkpoints, resume and the export
to ``final/`` are the stage run's (``train.run.Run``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from train.data import BatchOrder
from train.dist import DistInfo, all_reduce_mean
from train.run import Run, StageConfig, compiles, setup_training, start_run

# compiles, setup_training and start_run live in train.run; they stay importable from here
__all__ = ["StageConfig", "TrainConfig", "compiles", "peak_flops", "setup_training", "start_run", "train_loop"]


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


def train_loop(cfg: TrainConfig, *, model: torch.nn.Module, tokenizer, train_data, val_data, info: DistInfo,
               stage: str, model_config: dict | None = None, evaluate: Callable[[Run], dict] | None = None) -> dict:
    """Train ``model`` (on ``info.device`` already) and return the last metrics row.

    ``train_data``/``val_data`` have ``len()`` and ``batch(indices) -> (inputs, targets)``.
    ``evaluate(run)`` runs on rank 0 at each evaluation and its numbers join the metrics row.
    """
    device = info.device
    with Run(cfg, stage, model, tokenizer, info, model_config=model_config,
             postfix=("loss", "val_loss", "accuracy")) as run:
        order = BatchOrder(len(train_data), cfg.batch_size, cfg.seed, info.rank, info.world_size)
        if run.state:
            order.load_state(run.state["data"])
        flops_per_token = model.flops_per_token(train_data.batch([0])[0].shape[1]) \
            if hasattr(model, "flops_per_token") else None
        peak = peak_flops(device)

        def held_out_loss() -> float | None:
            if val_data is None or len(val_data) == 0:
                return None
            model.eval()
            losses = []
            with torch.no_grad(), run.autocast:
                for k in range(0, min(len(val_data), cfg.eval_batches * cfg.batch_size), cfg.batch_size):
                    x, y = val_data.batch(list(range(k, min(k + cfg.batch_size, len(val_data)))))
                    losses.append(model(x.to(device), y.to(device)).item())
            model.train()
            return sum(losses) / len(losses)

        last: dict = {}
        window_tokens, window_start = 0, time.perf_counter()
        while run.step < cfg.max_steps:
            loss_sum = torch.zeros((), device=device)
            tokens = torch.zeros((), dtype=torch.long, device=device)  # summed on the device: no sync per step
            for micro in range(cfg.grad_accum):
                x, y = train_data.batch(order.next())
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                tokens += (y != -100).sum()
                sync = micro == cfg.grad_accum - 1 or not info.is_distributed
                with (contextlib.nullcontext() if sync else run.forward.no_sync()), run.autocast:
                    loss = run.forward(x, y) / cfg.grad_accum
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0
                                                       else float("inf"))
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            run.step += 1
            window_tokens = window_tokens + tokens * info.world_size

            row = None
            if run.step % cfg.log_every == 0 or run.evaluating:
                loss_value = all_reduce_mean(loss_sum).item()
                elapsed = time.perf_counter() - window_start
                window_tokens = int(window_tokens)
                row = {"step": run.step, "loss": round(loss_value, 5),
                       "lr": float(f"{run.scheduler.get_last_lr()[0]:.4g}"), "grad_norm": round(float(grad_norm), 4),
                       "tokens_per_s": round(window_tokens / elapsed, 1)}
                if flops_per_token and peak:
                    row["mfu"] = round(flops_per_token * window_tokens / elapsed / info.world_size / peak, 4)
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"{stage}: loss is {loss_value} at step {run.step}; lower --lr or check "
                                             "the data")
                if run.evaluating:
                    row["val_loss"] = held_out_loss()
                    if evaluate is not None and info.is_main:
                        row.update(evaluate(run))
                last = row
                window_tokens, window_start = 0, time.perf_counter()
            run.end_step(row, {"data": order.state()})
        run.export()
    return last
