"""Sharded data parallelism (``--parallel fsdp``): PyTorch's FSDP2 around our decoder, for models larger than a GPU.

Under DDP every GPU holds the whole model, its gradients and AdamW's two moments: about 16 bytes a parameter
(``python -m train.memory`` prints the sums). ``fully_shard`` (``torch.distributed.fsdp``, FSDP2) splits each of
them across the ranks instead: each rank keeps 1/N of every parameter as a ``DTensor`` shard, all-gathers one
decoder block's parameters just before the block runs (forward and backward) and frees them after, and
reduce-scatters its gradients, so the optimizer steps only the shard it owns. On CUDA the gathered parameters are
bf16 and the gradient reductions float32, with float32 master weights in the shards
(``MixedPrecisionPolicy``); on CPU (Gloo, the tests) everything stays float32.

This module is the one home of the sharding; ``train.run`` applies it for every stage:

- :func:`shard_model` wraps each decoder block, then the root (embeddings, final norm, head);
- :class:`FullCopy` keeps a plain, full copy of a sharded model on each rank for what needs all the weights at
  once: the rollout engine (GRPO, iterative DPO), evaluation. It costs 2 bytes a parameter per GPU in bf16
  (the model's size in bf16 must fit one GPU beside its shards: about 20B parameters on an 80 GB card);
- :func:`full_state_dict` gathers the float32 weights onto rank 0's CPU, for the Hugging Face export.

Sharded checkpoints (``torch.distributed.checkpoint``) are written and read by ``train.checkpoint``.

In one process there is nothing to shard: :func:`shard_model` is then not called and the model trains as it is.

>>> from train.model import PRESETS, Transformer
>>> model = Transformer(PRESETS["tiny"])
>>> is_sharded(model), plain_class(model).__name__
(False, 'Transformer')
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["FullCopy", "full_state_dict", "is_sharded", "plain_class", "plain_model", "shard_model"]


def _fsdp():
    from torch.distributed import fsdp  # FSDP2's home since torch 2.6

    return fsdp


def is_sharded(model: nn.Module) -> bool:
    """Whether ``model`` was wrapped by ``fully_shard`` (its parameters are DTensor shards)."""
    return isinstance(model, _fsdp().FSDPModule)


def plain_class(model: nn.Module) -> type[nn.Module]:
    """The model's own class: ``fully_shard`` swaps a module's class for a subclass of it and ``FSDPModule``."""
    fsdp_module = _fsdp().FSDPModule
    return next(cls for cls in type(model).__mro__ if not issubclass(cls, fsdp_module))


def shard_model(model: nn.Module, device: torch.device, *, compile_mode: str | None = None,
                compile: bool = False) -> nn.Module:
    """Shard ``model`` (a ``train.model.Transformer`` or ``RewardModel``, on the CPU or ``device``) over the
    process group, in place: one FSDP unit per decoder block, whose parameters are gathered only while it runs,
    and one for the rest at the root. Returns the same module, its parameters now shards on ``device``.

    With ``compile``, each block is compiled (``torch.compile``'s ``compile_mode``) before it is wrapped: the
    gathers and reductions then run between compiled regions, not inside one graph.
    """
    fsdp = _fsdp()
    if device.type == "cuda":  # bf16 compute and float32 master weights and gradient reductions
        policy = fsdp.MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    else:
        policy = fsdp.MixedPrecisionPolicy()
    mesh = torch.distributed.device_mesh.init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    for block in model.layers:
        if compile:
            block.compile(mode=compile_mode)
        # the last block's parameters are needed again at once by the backward: keep them gathered
        fsdp.fully_shard(block, mesh=mesh, mp_policy=policy, reshard_after_forward=block is not model.layers[-1])
    fsdp.fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The full float32 weights of a sharded ``model`` on rank 0's CPU (``{}`` on the other ranks); every rank
    must call it together. A plain model's own ``state_dict()``.

    >>> sorted(full_state_dict(torch.nn.Linear(2, 1)))
    ['bias', 'weight']
    """
    if not is_sharded(model):
        return model.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _empty_like(model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> nn.Module:
    """A plain model of ``model``'s class and config on ``device``, its weights uninitialised (no random init of
    billions of values that are overwritten next)."""
    with torch.device("meta"):
        empty = plain_class(model)(copy.deepcopy(model.config))
    empty = empty.to_empty(device=device)
    if hasattr(empty, "lm_head") and empty.config.tie_word_embeddings:  # moving off the meta device untied them
        empty.lm_head.weight = empty.embed_tokens.weight
    if dtype is not None:
        empty = empty.to(dtype)
    empty._build_rope_tables(device)  # buffers made on the meta device hold nothing: compute them again
    return empty.eval().requires_grad_(False)


def plain_model(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A plain CPU model of ``model``'s class holding ``state`` (from :func:`full_state_dict`).

    >>> from train.model import PRESETS, Transformer
    >>> model = Transformer(PRESETS["tiny"])
    >>> copy_ = plain_model(model, full_state_dict(model))
    >>> torch.equal(copy_.lm_head.weight, model.lm_head.weight), copy_.lm_head.weight is copy_.embed_tokens.weight
    (True, True)
    """
    plain = _empty_like(model, torch.device("cpu"), None)
    plain.load_state_dict(state)
    return plain


class FullCopy:
    """A plain model on each rank holding the full weights of a sharded ``model``, for generation and evaluation.

    :meth:`refresh` gathers the shards into it (every rank together), one parameter at a time, so the peak beyond
    the copy itself is one parameter in float32. The copy is bf16 on CUDA (what the FSDP forward computes with),
    float32 elsewhere; it is updated in place, so an engine's CUDA graphs made on it stay valid.

    >>> from train.model import PRESETS, Transformer
    >>> model = Transformer(PRESETS["tiny"])
    >>> full = FullCopy(model, torch.device("cpu")).refresh()
    >>> full is not model and all(torch.equal(a, b) for a, b in zip(full.parameters(), model.parameters()))
    True
    """

    def __init__(self, model: nn.Module, device: torch.device):
        self.sharded = model
        self.model = _empty_like(model, device, torch.bfloat16 if device.type == "cuda" else None)
        self._params = dict(self.model.named_parameters())

    @torch.no_grad()
    def refresh(self) -> nn.Module:
        """Gather the sharded model's current weights into the copy; returns the copy."""
        for name, param in self.sharded.named_parameters():  # the same order on every rank
            full = param.full_tensor() if hasattr(param, "full_tensor") else param
            self._params[name].copy_(full)
        return self.model
