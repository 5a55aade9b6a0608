"""A Triton kernel for the engine's decode step: one query per row attending to its KV cache.

The decode step is memory-bound: each row's keys and values are read once per step. Written as two
batched matmuls (``model.Attention._decode_attention``, the portable path), the work goes to GEMM kernels
tiled for large matrices (a group of 3 query heads against 64-wide keys) that read the cache twice and
run at about half the memory bandwidth, and every key up to the CUDA graph's length bucket is read
whether the mask keeps it or not. This kernel is flash-decoding in one pass: one program per (row,
key-value head) streams the keys and values in blocks with an online softmax, stacks the group's query
heads as the rows of one small matmul, and skips the memory traffic of masked positions (left padding,
the unwritten tail of the bucket), so a step reads about what it attends to.

It is used on CUDA when Triton is importable; ``decode_attention`` returns None otherwise and the
caller keeps its portable path. Under ``TRITON_INTERPRET=1`` (set before Triton is imported) and with
``INTERPRET_ON_CPU`` on, the same kernel runs on CPU tensors: that is how the tests check it.

    >>> import torch
    >>> q, k, v = torch.randn(2, 1, 3, 16), torch.randn(2, 1, 8, 16), torch.randn(2, 1, 8, 16)
    >>> mask = torch.ones(2, 1, 1, 8, dtype=torch.bool)
    >>> out = decode_attention(q, k, v, mask)  # None off CUDA: the caller's portable path serves
    >>> out is None or out.shape == (2, 1, 3, 16)
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the portable path serves
    triton = None

# tests set this (with TRITON_INTERPRET=1 chosen before Triton's import) to run the kernel on CPU tensors
INTERPRET_ON_CPU = False

if triton is not None:

    @triton.jit
    def _decode_attention_kernel(Q, K, V, Mask, Out, scale,
                                 stride_qb, stride_qh, stride_qg,
                                 stride_kb, stride_kh, stride_kl,
                                 stride_vb, stride_vh, stride_vl,
                                 stride_mb, stride_ml,
                                 stride_ob, stride_oh, stride_og,
                                 KV_HEADS: tl.constexpr, GROUP: tl.constexpr, GROUP_PAD: tl.constexpr,
                                 HEAD_DIM: tl.constexpr, BLOCK: tl.constexpr, LENGTH: tl.constexpr):
        pid = tl.program_id(0)
        b, h = pid // KV_HEADS, pid % KV_HEADS
        g = tl.arange(0, GROUP_PAD)
        d = tl.arange(0, HEAD_DIM)
        q = tl.load(Q + b * stride_qb + h * stride_qh + g[:, None] * stride_qg + d[None, :],
                    mask=g[:, None] < GROUP, other=0.0)
        # a finite floor, not -inf: a block with every key masked then leaves the running sums unchanged
        m = tl.full([GROUP_PAD], -1.0e30, dtype=tl.float32)
        denom = tl.zeros([GROUP_PAD], dtype=tl.float32)
        acc = tl.zeros([GROUP_PAD, HEAD_DIM], dtype=tl.float32)
        for start in range(0, LENGTH, BLOCK):  # LENGTH is the graph's bucket: few values
            pos = start + tl.arange(0, BLOCK)
            keep = tl.load(Mask + b * stride_mb + pos * stride_ml, mask=pos < LENGTH, other=0) != 0
            # masked lanes issue no memory traffic: padding and the bucket's tail cost nothing
            k = tl.load(K + b * stride_kb + h * stride_kh + pos[:, None] * stride_kl + d[None, :],
                        mask=keep[:, None], other=0.0)
            scores = (tl.dot(q, tl.trans(k)) * scale).to(tl.float32)  # float32 even if scale came as a double
            scores = tl.where(keep[None, :], scores, float("-inf"))
            m_new = tl.maximum(m, tl.max(scores, 1))
            alpha = tl.exp(m - m_new)
            p = tl.exp(scores - m_new[:, None])
            denom = denom * alpha + tl.sum(p, 1)
            v = tl.load(V + b * stride_vb + h * stride_vh + pos[:, None] * stride_vl + d[None, :],
                        mask=keep[:, None], other=0.0)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
            m = m_new
        out = acc / tl.where(denom > 0, denom, 1.0)[:, None]
        tl.store(Out + b * stride_ob + h * stride_oh + g[:, None] * stride_og + d[None, :],
                 out.to(Out.dtype.element_ty), mask=g[:, None] < GROUP)


def decode_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, block: int = 64) -> Tensor | None:
    """Attention of one query per row, its query heads grouped by key-value head; None if unsupported.

    ``q`` is ``[B, kv_heads, group, head_dim]``, ``k`` and ``v`` are ``[B, kv_heads, L, head_dim]`` (views
    of the cache are fine), ``mask`` is a boolean ``[B, 1, 1, L]`` of the keys each row may see. Returns
    ``[B, kv_heads, group, head_dim]``, as ``softmax(q k^T / sqrt(d)) v`` over the kept keys.
    """
    head_dim = q.shape[-1]
    if triton is None or not (q.is_cuda or INTERPRET_ON_CPU) or head_dim < 16 or head_dim & (head_dim - 1):
        return None
    rows, kv_heads, group, _ = q.shape
    length = k.shape[2]
    if mask.dtype != torch.bool or mask.numel() != rows * length:  # one row of keys per row, shared by heads
        return None
    mask = mask.reshape(rows, length).to(torch.uint8)
    q, k, v = (x if x.stride(-1) == 1 else x.contiguous() for x in (q, k, v))
    out = torch.empty_like(q)
    group_pad = max(16, triton.next_power_of_2(group))  # tl.dot needs at least 16 rows
    _decode_attention_kernel[(rows * kv_heads,)](
        q, k, v, mask, out, head_dim ** -0.5,
        q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2),
        mask.stride(0), mask.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        KV_HEADS=kv_heads, GROUP=group, GROUP_PAD=group_pad, HEAD_DIM=head_dim, BLOCK=block, LENGTH=length,
        num_warps=4, num_stages=2)
    return out
