"""Pretraining throughput and MFU through the real ``rlvr pretrain`` loop, on one GPU or several.

Runs ``train.pretrain.pretrain`` on a generated math corpus (base preset, 2048-token rows, bf16
autocast, torch.compile, fused AdamW) and reports tokens/s and MFU from ``metrics.jsonl``, leaving out
the first logging window (compilation). Under torchrun the figures are for all GPUs together.

    python bench/pretrain.py --out /tmp/pre1                                   # one GPU
    torchrun --nproc-per-node 2 bench/pretrain.py --out /tmp/pre2             # two GPUs (DDP)
    python bench/pretrain.py --preset tiny --seq-len 64 --batch-size 4 --steps 6 --log-every 2   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.pretrain import PretrainConfig, pretrain  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per GPU per step")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--n-problems", type=int, default=30000)
    parser.add_argument("--out", default="/tmp/rlvr-bench-pretrain")
    parser.add_argument("--json", help="write the summary here (rank 0)")
    args = parser.parse_args()
    cfg = PretrainConfig(out_dir=args.out, preset=args.preset, seq_len=args.seq_len, batch_size=args.batch_size,
                         max_steps=args.steps, log_every=args.log_every, eval_every=0, eval_batches=1,
                         n_problems=args.n_problems, warmup_steps=5, lr=1e-3, progress=False, overwrite=True)
    pretrain(cfg)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    rows = [json.loads(line) for line in (Path(args.out) / "metrics.jsonl").read_text().splitlines()]
    steady = rows[1:] or rows
    summary = {
        "preset": args.preset, "world_size": int(os.environ.get("WORLD_SIZE", "1")), "seq_len": args.seq_len,
        "batch_per_gpu": args.batch_size, "steps": args.steps,
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
        "mfu": statistics.median(r["mfu"] for r in steady) if all("mfu" in r for r in steady) else None,
        "final_loss": rows[-1]["loss"],
    }
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
