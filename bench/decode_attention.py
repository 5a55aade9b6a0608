"""Decode attention variants: one query per row against a KV cache, as the engine's decode step does it.

Each variant is compiled (as the engine compiles its step), captured as a CUDA graph over all layers'
caches (so every call reads its keys from memory, not from L2) and replayed; the figure is microseconds
per layer-call, with the memory-traffic bound beside it (keys and values read once).

    python bench/decode_attention.py                        # GPU: base preset shape, 256 rows
    python bench/decode_attention.py --rows 4 --lengths 32  # CPU smoke run (eager, no graphs)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bmm(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """The engine's path: query heads of a group stacked, two batched matmuls, float32 softmax."""
    scores = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1).to(v.dtype) @ v


def sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """``scaled_dot_product_attention`` with the group's query heads as the query length."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def reduce(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Products and sums that the compiler fuses into reductions, reading the cache once per group."""
    scores = (q[:, :, :, None, :].float() * k[:, :, None, :, :].float()).sum(-1) * q.shape[-1] ** -0.5
    probs = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return (probs[..., None] * v[:, :, None, :, :].float()).sum(-2).to(v.dtype)


def fused(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """The engine's CUDA path: the Triton flash-decoding kernel of ``train.kernels``."""
    from train.kernels import decode_attention

    out = decode_attention(q, k, v, mask)
    if out is None:
        raise RuntimeError("the Triton kernel does not run here (no CUDA or no Triton)")
    return out


VARIANTS = {"bmm": bmm, "sdpa": sdpa, "reduce": reduce, "triton": fused}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--group", type=int, default=3, help="query heads per key-value head")
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--lengths", default="128,256,384", help="cache lengths attended to")
    parser.add_argument("--replays", type=int, default=50)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    results = []
    for length in map(int, args.lengths.split(",")):
        shape = (args.rows, args.kv_heads, length, args.head_dim)
        caches = [(torch.randn(shape, device=device, dtype=dtype), torch.randn(shape, device=device, dtype=dtype))
                  for _ in range(args.layers)]
        q = torch.randn(args.rows, args.kv_heads, args.group, args.head_dim, device=device, dtype=dtype)
        pad = torch.randint(0, length // 4, (args.rows,), device=device)
        mask = (torch.arange(length, device=device)[None, :] >= pad[:, None])[:, None, None, :]
        reference = bmm(q, *caches[0], mask).float()
        bound_us = 2 * args.layers * caches[0][0].numel() * caches[0][0].element_size() / 4.8e12 * 1e6 / args.layers
        row = {"length": length, "memory_bound_us": round(bound_us, 2)}
        for name, fn in VARIANTS.items():
            step = torch.compile(fn, dynamic=False) if cuda else fn
            try:
                out = step(q, *caches[0], mask)
                error = (out.float() - reference).abs().max().item()
                if cuda:
                    for _ in range(2):
                        outs = [step(q, k, v, mask) for k, v in caches]
                    torch.cuda.synchronize()
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        outs = [step(q, k, v, mask) for k, v in caches]
                    graph.replay()
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    for _ in range(args.replays):
                        graph.replay()
                    torch.cuda.synchronize()
                    seconds = (time.perf_counter() - start) / args.replays / args.layers
                else:
                    start = time.perf_counter()
                    outs = [step(q, k, v, mask) for k, v in caches]
                    seconds = (time.perf_counter() - start) / args.layers
                del outs
                row[name] = {"us": round(seconds * 1e6, 2), "max_error": round(error, 4)}
            except Exception as e:  # a variant the backend cannot run is reported, not fatal
                row[name] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
        results.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
