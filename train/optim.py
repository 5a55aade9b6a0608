"""Optimizers and learning-rate schedules.

``build_optimizer`` makes AdamW with weight decay on the weight matrices only (not on biases, norms
or embeddings), or Muon for the hidden matrices with AdamW for the rest. ``build_scheduler`` scales
every group's learning rate by ``lr_multiplier``: linear warmup, then cosine, WSD or constant.

    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    >>> optimizer = build_optimizer(model, lr=1e-3, weight_decay=0.1)
    >>> [(group["name"], len(group["params"])) for group in optimizer.param_groups]
    [('decay', 1), ('no_decay', 3)]
    >>> scheduler = build_scheduler(optimizer, warmup_steps=10, total_steps=100)
    >>> round(lr_multiplier(55, warmup_steps=10, total_steps=100), 3)   # halfway through the cosine
    0.55
"""

from __future__ import annotations

import functools
import math
from collections import ChainMap
from typing import Any, Literal

import torch

__all__ = ["MuonAdamW", "build_optimizer", "build_scheduler", "lr_multiplier", "split_parameters"]

SCHEDULES = ("cosine", "wsd", "constant")
OPTIMIZERS = ("adamw", "muon")


def split_parameters(model: torch.nn.Module) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """Trainable parameters by kind, each once (tied weights under their first name, as embeddings):

    - ``"matrix"``: the hidden weight matrices (2-D or more, not an embedding or the output head),
    - ``"embedding"``: parameters of ``nn.Embedding`` modules or named ``*embed*`` (``embed_tokens``),
    - ``"head"``: the output head (``lm_head``) when not tied to the embedding,
    - ``"vector"``: biases, norm weights, anything of fewer than 2 dimensions or named ``*norm*``.

    >>> model = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.Linear(4, 4))
    >>> {kind: [name for name, _ in params] for kind, params in split_parameters(model).items()}
    {'matrix': ['1.weight'], 'embedding': ['0.weight'], 'head': [], 'vector': ['1.bias']}
    """
    embeddings = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    kinds: dict[str, list[tuple[str, torch.nn.Parameter]]] = {"matrix": [], "embedding": [], "head": [], "vector": []}
    for name, p in model.named_parameters():  # shared parameters are listed once
        if not p.requires_grad:
            continue
        parts = name.split(".")
        if p.ndim < 2 or any("norm" in part for part in parts):
            kind = "vector"
        elif id(p) in embeddings or any("embed" in part for part in parts):
            kind = "embedding"
        elif "lm_head" in parts:
            kind = "head"
        else:
            kind = "matrix"
        kinds[kind].append((name, p))
    return kinds


class MuonAdamW(torch.optim.Optimizer):
    """Muon and AdamW stepped as one optimizer.

    ``param_groups`` lists the groups of both (the very same dicts), so an LR scheduler drives both;
    ``state_dict`` holds both states.
    """

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer) -> None:
        params = [p for opt in (muon, adamw) for group in opt.param_groups for p in group["params"]]
        super().__init__(params, {})  # checks that no parameter is in both
        self.optimizers = (muon, adamw)
        self._link()

    def _link(self) -> None:
        """Point at the parts' groups and state (``load_state_dict`` replaces them in the parts)."""
        muon, adamw = self.optimizers
        self.param_groups = muon.param_groups + adamw.param_groups
        self.state = ChainMap(muon.state, adamw.state)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        muon, adamw = self.optimizers
        return {"muon": muon.state_dict(), "adamw": adamw.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"muon", "adamw"}:
            raise ValueError("expected the state of a MuonAdamW optimizer (keys 'muon' and 'adamw')")
        muon, adamw = self.optimizers
        muon.load_state_dict(state_dict["muon"])
        adamw.load_state_dict(state_dict["adamw"])
        self._link()


def _adamw(groups: list[dict], lr: float, betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    params = [p for group in groups for p in group["params"]]
    fused = all(p.is_cuda for p in params)  # the fused kernel is the fastest, but CUDA only here
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


def build_optimizer(
    model: torch.nn.Module,
    *,
    name: Literal["adamw", "muon"] = "adamw",
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    muon_lr: float = 0.02,
    muon_momentum: float = 0.95,
) -> torch.optim.Optimizer:
    """AdamW (``name="adamw"``) or Muon with AdamW (``name="muon"``) over the model's trainable parameters.

    AdamW groups: ``decay`` (weight matrices, ``weight_decay``) and ``no_decay`` (biases, norms and
    embeddings). With ``muon``, the hidden matrices go to ``torch.optim.Muon`` (``muon_lr``,
    ``muon_momentum``, ``weight_decay``); embeddings and the output head stay in AdamW (``lr``), the
    untied head with weight decay. Every group carries a ``"name"``.

    >>> model = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 10))
    >>> model[2].weight = model[0].weight            # tied output head: listed once
    >>> optimizer = build_optimizer(model, name="muon", lr=3e-3)
    >>> [(group["name"], group["lr"], len(group["params"])) for group in optimizer.param_groups]
    [('muon', 0.02, 1), ('no_decay', 0.003, 3)]
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    kinds = {kind: [p for _, p in params] for kind, params in split_parameters(model).items()}
    if not any(kinds.values()):
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if name == "adamw":
        groups = [
            {"name": "decay", "params": kinds["matrix"] + kinds["head"], "weight_decay": weight_decay},
            {"name": "no_decay", "params": kinds["embedding"] + kinds["vector"], "weight_decay": 0.0},
        ]
        return _adamw([g for g in groups if g["params"]], lr, betas, eps)
    if not hasattr(torch.optim, "Muon"):
        raise ValueError(f"the muon optimizer needs torch >= 2.9 (this is {torch.__version__})")
    matrices = [p for p in kinds["matrix"] if p.ndim == 2]  # Muon takes 2-D only; others (conv) go to AdamW
    if not matrices:
        raise ValueError(f"{type(model).__name__} has no hidden weight matrices for Muon; use adamw")
    muon = torch.optim.Muon([{"name": "muon", "params": matrices}], lr=muon_lr, momentum=muon_momentum,
                            weight_decay=weight_decay)
    others = [p for p in kinds["matrix"] if p.ndim != 2]
    groups = [
        {"name": "decay", "params": kinds["head"] + others, "weight_decay": weight_decay},
        {"name": "no_decay", "params": kinds["embedding"] + kinds["vector"], "weight_decay": 0.0},
    ]
    return MuonAdamW(muon, _adamw([g for g in groups if g["params"]], lr, betas, eps))


def lr_multiplier(
    step: int,
    *,
    warmup_steps: int,
    total_steps: int,
    schedule: Literal["cosine", "wsd", "constant"] = "cosine",
    min_lr_ratio: float = 0.1,
    decay_fraction: float = 0.2,
) -> float:
    """The factor on the peak learning rate at optimizer step ``step`` (counted from 0).

    Warmup rises linearly to 1 over ``warmup_steps`` (``(step + 1) / warmup_steps``). Then
    ``cosine`` falls to ``min_lr_ratio`` at ``total_steps``; ``wsd`` stays at 1 and falls linearly to
    ``min_lr_ratio`` over the last ``decay_fraction`` of the steps; ``constant`` stays at 1.

    >>> [lr_multiplier(s, warmup_steps=2, total_steps=10, schedule="wsd", min_lr_ratio=0.0) for s in (0, 1, 7, 8, 9, 10)]
    [0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, "
                         f"got warmup_steps={warmup_steps}, total_steps={total_steps}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    if not 0.0 < decay_fraction <= 1.0:
        raise ValueError(f"decay_fraction must be in (0, 1], got {decay_fraction}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    decay_steps = max(1, round(decay_fraction * total_steps))
    decay_start = max(warmup_steps, total_steps - decay_steps)
    progress = min(1.0, max(0, step - decay_start) / max(1, total_steps - decay_start))
    return 1.0 - (1.0 - min_lr_ratio) * progress


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    schedule: Literal["cosine", "wsd", "constant"] = "cosine",
    min_lr_ratio: float = 0.1,
    decay_fraction: float = 0.2,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that multiplies every group's learning rate by :func:`lr_multiplier`.

    Call ``scheduler.step()`` after each ``optimizer.step()``.

    >>> optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    >>> scheduler = build_scheduler(optimizer, warmup_steps=4, total_steps=8, schedule="constant")
    >>> optimizer.param_groups[0]["lr"]
    0.25
    """
    multiplier = functools.partial(lr_multiplier, warmup_steps=warmup_steps, total_steps=total_steps,
                                   schedule=schedule, min_lr_ratio=min_lr_ratio, decay_fraction=decay_fraction)
    multiplier(0)  # check the arguments before torch does
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
