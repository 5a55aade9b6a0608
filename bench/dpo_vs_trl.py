"""DPO step throughput: ``rlvr dpo`` against TRL's ``DPOTrainer``, same model, same pairs, same run.

The workload of issue 8: a Qwen2-shaped model of 12 layers, 768 wide (12 heads, MLP 3072, QKV bias,
tied embeddings: 116M parameters), 4,096-token vocabulary, random weights, exported once with
``train.hf.export_hf`` and loaded by both trainers from that folder; 32 preference pairs per step of
about 420 tokens each (prompt + completion; chosen and rejected built from generated problems' worked
solutions), loss ``sigmoid``, beta 0.1, reference log-probs precomputed before training by both, bf16.
Each trainer runs ``--steps`` steps; the figure is the median step time after ``--warmup`` steps
(compilation), as seconds per step and pairs per second. A step's time is the wall time from the end
of the step before to its own end, on both sides (for TRL also without its data loading and logging).

    python bench/dpo_vs_trl.py                     # GPU
    python bench/dpo_vs_trl.py --tiny --steps 3 --warmup 1 --pairs 16 --batch 4 --tokens 60   # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.trl_common import (  # noqa: E402
    finish,
    in_memory_dataset,
    load_hf_model,
    pair_arguments,
    pair_workload,
    rlvr_step_times,
    run_stage,
    step_timer,
    summary,
    workload_config,
)
from train.hf import export_hf  # noqa: E402
from train.model import Transformer  # noqa: E402


def run_ours(folder: Path, pairs_file: Path, args, out: Path) -> list[dict]:
    from train.dpo import DPOConfig, dpo

    cfg = DPOConfig(init_from=str(folder), pairs=str(pairs_file), out_dir=str(out), loss_type="sigmoid", beta=0.1,
                    batch_size=args.batch, max_steps=args.steps, lr=5e-7, warmup_steps=0, max_length=1024,
                    eval_problems=0, progress=False, overwrite=True, template="r1_zero", pack_pairs=args.pack,
                    cuda_graphs=False if args.no_cuda_graphs else None)
    run_stage(dpo, cfg, args)
    return rlvr_step_times(out / "metrics.jsonl")


def run_trl(folder: Path, pairs: list[dict], args, out: Path) -> list[dict]:
    from trl import DPOConfig, DPOTrainer

    tokenizer, model = load_hf_model(folder)
    records = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    dataset = in_memory_dataset(records, "rlvr-dpo-bench")
    stats: list[dict] = []
    config = DPOConfig(output_dir=str(out), per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                       max_steps=args.steps, learning_rate=5e-7, beta=0.1, loss_type=["sigmoid"], max_length=1024,
                       precompute_ref_log_probs=True, bf16=torch.cuda.is_available(), logging_steps=1,
                       report_to="none", save_strategy="no", use_cpu=not torch.cuda.is_available(), seed=0,
                       lr_scheduler_type="constant")
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[step_timer(stats)])
    trainer.train()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair_arguments(parser, steps=20)
    parser.add_argument("--profile", action="store_true", help="print the top kernels of our steps")
    parser.add_argument("--pack", action="store_true", help="rlvr packs each pair into one row (--pack-pairs)")
    parser.add_argument("--tune", action="store_true", help="inductor's coordinate-descent tuning of its kernels")
    args = parser.parse_args()

    config = workload_config(args.tiny)
    work, tokenizer, pairs, pairs_file, results = pair_workload(args, config.vocab_size)
    model = Transformer(config)
    folder = export_hf(model, work / "model", tokenizer)
    results["params_M"] = round(model.num_parameters() / 1e6, 1)
    del model
    if args.tune:
        import torch._inductor.config as inductor_config

        inductor_config.coordinate_descent_tuning = True
        results["coordinate_descent_tuning"] = True
    results["rlvr_pack_pairs"] = args.pack
    results["rlvr_cuda_graphs"] = torch.cuda.is_available() and not args.no_cuda_graphs
    results["rlvr"] = summary(run_ours(folder, pairs_file, args, work / "ours"), args.warmup, args.batch)
    print(json.dumps(results["rlvr"]), flush=True)
    if not args.skip_trl:
        import trl

        results["trl_version"] = trl.__version__
        results["trl"] = summary(run_trl(folder, pairs, args, work / "trl"), args.warmup, args.batch)
        results["speedup"] = round(results["trl"]["seconds_per_step"] / results["rlvr"]["seconds_per_step"], 2)
    finish(results, args.json)


if __name__ == "__main__":
    main()
