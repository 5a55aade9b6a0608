"""FSDP2 beside DDP on several GPUs: pretraining throughput and MFU, and the largest model each trains.

Two modes:

- throughput (under torchrun): the ``base`` preset's training steps under ``--parallel ddp`` and then
  ``--parallel fsdp`` in the same processes, through ``train.run.setup_training`` (the wrapping, compilation and
  autocast every stage uses) with the step of ``train.loop``: bf16, fused AdamW, gradient clipping, random tokens.
  Reports tokens/s over all GPUs, MFU and the peak memory per GPU, leaving out the warm-up steps (compilation).

      torchrun --nproc-per-node 2 bench/fsdp.py --json bench/results/fsdp_throughput.json
      torchrun --nproc-per-node 8 bench/fsdp.py --json bench/results/fsdp_throughput_8.json

- search (a launcher, plain python): for each GPU count and mode, models of growing size (Llama shapes, 2048-token
  rows, batch 1 per GPU, AdamW) each train 3 steps in a torchrun of their own, so an out-of-memory ends one trial
  only; the largest that trains is the figure.

      python bench/fsdp.py --search --gpu-counts 1,2 --json bench/results/fsdp_largest.json
      python bench/fsdp.py --search --gpu-counts 2,4,8 --activation-checkpointing --json bench/results/fsdp_largest_ac.json

CPU smoke test of both (Gloo, tiny shapes): ``torchrun --nproc-per-node 2 bench/fsdp.py --preset tiny --seq-len 64
--batch-size 2 --steps 3 --warmup 1`` and ``python bench/fsdp.py --search --gpu-counts 2 --sizes tiny --seq-len 64``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from train.dist import all_reduce_max, barrier, clip_grad_norm, init_distributed, shutdown  # noqa: E402
from train.loop import peak_flops  # noqa: E402
from train.model import PRESETS, ModelConfig, Transformer  # noqa: E402

# Llama-like shapes for the search (untied 32k vocabulary, heads of 128, 8 query heads per key/value head)
SIZES = {
    "tiny": replace(PRESETS["tiny"], tie_word_embeddings=False),  # the CPU smoke test
    "1b": ModelConfig(vocab_size=32000, hidden_size=2048, num_hidden_layers=16, num_attention_heads=16,
                      num_key_value_heads=4, intermediate_size=5632, max_position_embeddings=4096,
                      tie_word_embeddings=False),
    "3b": ModelConfig(vocab_size=32000, hidden_size=3072, num_hidden_layers=26, num_attention_heads=24,
                      num_key_value_heads=8, intermediate_size=8192, max_position_embeddings=4096,
                      tie_word_embeddings=False),
    "7b": ModelConfig(vocab_size=32000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, intermediate_size=11008, max_position_embeddings=4096,
                      tie_word_embeddings=False),
    "13b": ModelConfig(vocab_size=32000, hidden_size=5120, num_hidden_layers=40, num_attention_heads=40,
                       num_key_value_heads=8, intermediate_size=13824, max_position_embeddings=4096,
                       tie_word_embeddings=False),
    "20b": ModelConfig(vocab_size=32000, hidden_size=6144, num_hidden_layers=44, num_attention_heads=48,
                       num_key_value_heads=8, intermediate_size=16384, max_position_embeddings=4096,
                       tie_word_embeddings=False),
    "34b": ModelConfig(vocab_size=32000, hidden_size=8192, num_hidden_layers=48, num_attention_heads=64,
                       num_key_value_heads=8, intermediate_size=22016, max_position_embeddings=4096,
                       tie_word_embeddings=False),
}


def build(config: ModelConfig, parallel: str, info, *, checkpointing: bool, compile: bool, meta: bool = False):
    """``(model, forward, optimizer, autocast)`` set up as a stage's run sets it up (``train.run.setup_training``).

    ``meta``: made on the meta device and initialised where it lives (each rank its own shards under fsdp), so no
    process ever holds a large model whole on the CPU."""
    from train.fsdp import shard_model
    from train.run import StageConfig, setup_training

    if meta:
        with torch.device("meta"):
            model = Transformer(config)
        if parallel == "fsdp" and info.is_distributed:
            shard_model(model, info.device)
        model = model.to_empty(device=info.device)
        model.reset_parameters()
        model._build_rope_tables(info.device)  # buffers made on the meta device hold nothing
    else:
        model = Transformer(config)  # on the CPU: fsdp moves only the shards to the GPU, ddp the whole model
        if parallel == "ddp":
            model = model.to(info.device)
    cfg = StageConfig(parallel=parallel, activation_checkpointing=checkpointing, compile=compile, lr=1e-4,
                      warmup_steps=0, max_steps=10**6, device=str(info.device))
    optimizer, _, forward, autocast = setup_training(cfg, model, info)
    return model, forward, optimizer, autocast


def train_steps(config: ModelConfig, parallel: str, info, *, batch_size: int, seq_len: int, steps: int, warmup: int,
                checkpointing: bool, compile: bool, meta: bool = False) -> dict:
    """Train ``warmup + steps`` steps on random tokens; the timed steps' tokens/s (all GPUs), MFU and peak memory."""
    model, forward, optimizer, autocast = build(config, parallel, info, checkpointing=checkpointing, compile=compile,
                                                meta=meta)
    cuda = info.device.type == "cuda"
    generator = torch.Generator().manual_seed(info.rank)
    if cuda:
        torch.cuda.reset_peak_memory_stats(info.device)
    loss = torch.zeros(())
    for step in range(warmup + steps):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize(info.device)
            barrier()
            start = time.perf_counter()
        ids = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=generator).to(info.device)
        with autocast:
            loss = forward(ids[:, :-1], ids[:, 1:])
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    float(loss.detach())  # waits for the last step
    if cuda:
        torch.cuda.synchronize(info.device)
    barrier()
    elapsed = time.perf_counter() - start
    tokens_per_s = steps * batch_size * seq_len * info.world_size / elapsed
    peak = peak_flops(info.device)
    mfu = model.flops_per_token(seq_len) * tokens_per_s / info.world_size / peak if peak else None
    memory = torch.tensor(torch.cuda.max_memory_allocated(info.device) / 1e9 if cuda else 0.0, device=info.device)
    result = {"parallel": parallel, "gpus": info.world_size, "parameters": model.num_parameters(),
              "tokens_per_s": round(tokens_per_s), "mfu": round(mfu, 4) if mfu else None,
              "peak_memory_gb": round(float(all_reduce_max(memory)), 2), "loss": round(float(loss), 4)}
    del model, forward, optimizer
    if cuda:
        torch.cuda.empty_cache()
    return result


def throughput(args) -> None:
    info = init_distributed()
    config = PRESETS[args.preset]
    results = [train_steps(config, parallel, info, batch_size=args.batch_size, seq_len=args.seq_len, steps=args.steps,
                           warmup=args.warmup, checkpointing=args.activation_checkpointing,
                           compile=info.device.type == "cuda" and not args.no_compile)
               for parallel in ("ddp", "fsdp")]
    if info.is_main:
        device = torch.cuda.get_device_name(info.device) if info.device.type == "cuda" else "cpu"
        print(f"{args.preset}: {results[0]['parameters'] / 1e6:.1f}M parameters, {info.world_size} x {device}, "
              f"{args.batch_size} x {args.seq_len} tokens per GPU per step, {args.steps} steps timed")
        print(f"{'':6}{'tokens/s':>12}{'MFU':>8}{'peak GB/GPU':>13}")
        for r in results:
            mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
            print(f"{r['parallel']:6}{r['tokens_per_s']:>12,}{mfu:>8}{r['peak_memory_gb']:>13}")
        if args.json:
            summary = {"preset": args.preset, "device": device, "batch_size": args.batch_size, "seq_len": args.seq_len,
                       "steps": args.steps, "activation_checkpointing": args.activation_checkpointing,
                       "results": results}
            Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    shutdown()


def trial(args) -> None:
    """One model size in one mode (a torchrun of the search): 3 steps; writes its result, or nothing if it fails."""
    info = init_distributed()
    result = train_steps(SIZES[args.trial], args.parallel, info, batch_size=args.batch_size, seq_len=args.seq_len,
                         steps=2, warmup=1, checkpointing=args.activation_checkpointing, compile=False,
                         meta=True)
    if info.is_main:
        Path(args.json).write_text(json.dumps(result) + "\n")
    shutdown()


def search(args) -> None:
    """For each GPU count and mode, the largest of ``--sizes`` that trains (sizes tried in order, stopping at the
    first that fails)."""
    sizes = args.sizes.split(",")
    rows = []
    for gpus in [int(g) for g in args.gpu_counts.split(",")]:
        for parallel in ("ddp", "fsdp"):
            largest = None
            for size in sizes:
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "result.json"
                    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                               str(gpus), __file__, "--trial", size, "--parallel", parallel, "--seq-len",
                               str(args.seq_len), "--batch-size", "1", "--json", str(out)]
                    if args.activation_checkpointing:
                        command.append("--activation-checkpointing")
                    began = time.perf_counter()
                    why = "timed out"
                    try:
                        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout,
                                              check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
                        errors = [line for line in done.stderr.splitlines() if "Error" in line]
                        why = errors[-1].strip()[:200] if errors else f"exit status {done.returncode}"
                    except subprocess.TimeoutExpired:
                        pass
                    ok = out.exists()
                    result = json.loads(out.read_text()) if ok else None
                print(f"{gpus} GPU(s) {parallel} {size}: {'trains' if ok else 'does not train: ' + why} "
                      f"({time.perf_counter() - began:.0f} s)" + (f", {result['peak_memory_gb']} GB peak, "
                                                                   f"{result['tokens_per_s']:,} tokens/s" if ok else ""),
                      flush=True)
                if not ok:
                    break
                largest = {"size": size, **result}
            rows.append({"gpus": gpus, "parallel": parallel, "largest": largest})
    print(f"\n{'GPUs':>4}  {'ddp':>24}  {'fsdp':>24}")
    for gpus in sorted({r["gpus"] for r in rows}):
        cells = []
        for parallel in ("ddp", "fsdp"):
            best = next(r["largest"] for r in rows if r["gpus"] == gpus and r["parallel"] == parallel)
            cells.append(f"{best['size']} ({best['parameters'] / 1e9:.2f}B)" if best else "none")
        print(f"{gpus:>4}  {cells[0]:>24}  {cells[1]:>24}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seq_len": args.seq_len, "activation_checkpointing":
                                               args.activation_checkpointing, "rows": rows}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS), help="throughput: the model")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=16, help="throughput: rows per GPU per step")
    parser.add_argument("--steps", type=int, default=20, help="throughput: timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="throughput: steps before the timing (compilation)")
    parser.add_argument("--no-compile", action="store_true", help="throughput: eager, also on GPU")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--search", action="store_true", help="find the largest model per GPU count and mode")
    parser.add_argument("--gpu-counts", default="2", help="search: comma-separated GPU counts")
    parser.add_argument("--sizes", default="1b,3b,7b,13b,20b,34b", help=f"search: from {', '.join(SIZES)}")
    parser.add_argument("--timeout", type=float, default=900, help="search: seconds per trial")
    parser.add_argument("--trial", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--parallel", choices=("ddp", "fsdp"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.search:
        bad = [s for s in args.sizes.split(",") if s not in SIZES]
        if bad:
            parser.error(f"--sizes: unknown {', '.join(bad)}; choose from {', '.join(SIZES)}")
        search(args)
    elif args.trial:
        trial(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
