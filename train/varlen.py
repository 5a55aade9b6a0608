"""Padding-free attention: documents laid end to end in one row, each attending causally to its own keys.

Variable-length ("varlen") attention as flash-attention defines it: queries ``[Nq, H, D]`` and keys/values
``[Nk, H_kv, D]`` of many documents, one after another; ``cu_q`` and ``cu_k`` (``[docs + 1]``, int32) are the
offsets where each document's queries and keys start. A document of ``q`` queries and ``k >= q`` keys reads its
queries as the last ``q`` tokens of a ``k``-token sequence (causal, aligned at the bottom right), so a document may
see keys that are not its own queries: the reward model's packed pairs (``train.rm_data``) give the rejected side
the shared prompt's keys that way, and compute the prompt once.

On CUDA in bf16/fp16 this is PyTorch's own flash-attention varlen kernel (what ``torch.nn.attention.varlen``
wraps, whose signature moved between releases; the ``aten`` ops it calls did not), registered as a custom op so
``torch.compile`` and CUDA graphs keep it whole. Elsewhere (the CPU, float32) each document goes through
``scaled_dot_product_attention`` on its own: exact, and what the tests compare against.

>>> q, k = torch.randn(5, 2, 8), torch.randn(7, 2, 8)
>>> docs = Varlen(torch.tensor([0, 3, 5]), torch.tensor([0, 3, 7]), torch.arange(7), max_len=4)
>>> out = varlen_attention(q, k, k, docs)  # doc 1: 3 queries on 3 keys; doc 2: 2 queries, the last of 4 keys
>>> out.shape, torch.allclose(out[3:], F.scaled_dot_product_attention(
...     q[3:].transpose(0, 1), k[3:].transpose(0, 1), k[3:].transpose(0, 1),
...     attn_mask=torch.ones(2, 4, dtype=torch.bool).tril(2)).transpose(0, 1), atol=1e-6)
(torch.Size([5, 2, 8]), True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Varlen", "varlen_attention"]


class Varlen(NamedTuple):
    """Which queries and keys of a packed row belong together (passed as the model's attention ``mask``)."""

    cu_q: Tensor  # [docs + 1] int32: where each document's queries start in the row
    cu_k: Tensor  # [docs + 1] int32: where each document's keys start among the gathered keys
    kv_index: Tensor  # [Nk] int64: the row's tokens whose keys and values each document reads, in order
    max_len: int  # an upper bound on a document's keys (the kernel's grid); a bound, so few shapes compile


@torch.library.custom_op("rlvr::varlen_flash", mutates_args=())
def _flash(q: Tensor, k: Tensor, v: Tensor, cu_q: Tensor, cu_k: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
    out, lse = torch.ops.aten._flash_attention_forward(q, k, v, cu_q, cu_k, max_len, max_len, 0.0, True, False)[:2]
    return out, lse


@_flash.register_fake
def _(q, k, v, cu_q, cu_k, max_len):
    return torch.empty_like(q), q.new_empty((q.shape[1], q.shape[0]), dtype=torch.float32)


@torch.library.custom_op("rlvr::varlen_flash_backward", mutates_args=())
def _flash_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, cu_q: Tensor,
                    cu_k: Tensor, max_len: int) -> tuple[Tensor, Tensor, Tensor]:
    # no dropout, so the random state the kernel would replay is unused: zeros, as torch's own varlen passes
    rng, unused = torch.zeros(2, dtype=torch.uint64, device=q.device), torch.empty(0, device=q.device)
    dq, dk, dv = torch.ops.aten._flash_attention_backward(grad, q, k, v, out, lse, cu_q, cu_k, max_len, max_len,
                                                          0.0, True, rng, unused)
    return dq, dk, dv


@_flash_backward.register_fake
def _(grad, q, k, v, out, lse, cu_q, cu_k, max_len):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _setup(ctx, inputs, output) -> None:
    q, k, v, cu_q, cu_k, max_len = inputs
    ctx.save_for_backward(q, k, v, output[0], output[1], cu_q, cu_k)
    ctx.max_len = max_len


def _backward(ctx, grad, _grad_lse):
    q, k, v, out, lse, cu_q, cu_k = ctx.saved_tensors
    dq, dk, dv = _flash_backward(grad.contiguous(), q, k, v, out, lse, cu_q, cu_k, ctx.max_len)
    return dq, dk, dv, None, None, None


_flash.register_autograd(_backward, setup_context=_setup)


def _per_document(q: Tensor, k: Tensor, v: Tensor, cu_q: Tensor, cu_k: Tensor) -> Tensor:
    parts = []
    starts_q, starts_k = cu_q.tolist(), cu_k.tolist()
    for a, b, c, d in zip(starts_q, starts_q[1:], starts_k, starts_k[1:]):
        if b > a:
            mask = torch.ones(b - a, d - c, dtype=torch.bool, device=q.device).tril(d - c - (b - a))
            parts.append(F.scaled_dot_product_attention(
                q[a:b].transpose(0, 1), k[c:d].transpose(0, 1), v[c:d].transpose(0, 1), attn_mask=mask,
                enable_gqa=k.shape[1] != q.shape[1]).transpose(0, 1))
    return torch.cat(parts)


def varlen_attention(q: Tensor, k: Tensor, v: Tensor, docs: Varlen) -> Tensor:
    """Causal attention ``[Nq, H, D]`` of each document's queries ``q`` (``[Nq, H, D]``) on its keys and values
    ``k``, ``v`` (``[Nk, H_kv, D]``, already gathered with ``docs.kv_index``), laid out as ``docs`` says."""
    if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
        return _flash(q.contiguous(), k.contiguous(), v.contiguous(), docs.cu_q, docs.cu_k, docs.max_len)[0]
    return _per_document(q, k, v, docs.cu_q, docs.cu_k)
