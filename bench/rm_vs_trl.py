"""Reward-model training throughput: ``rlvr rm`` against TRL's ``RewardTrainer``, same model, same pairs, same run.

The model: the issues' 116M workload (``bench.trl_common.workload_config``: Qwen2-shaped, 12 layers, 768 wide,
tied embeddings, 4,096-token vocabulary), random weights with a random scalar head, exported once with
``train.hf.export_hf`` as ``Qwen2ForSequenceClassification``; ``rlvr rm`` starts from that folder and TRL loads it
with ``AutoModelForSequenceClassification``. The pairs: ``--batch`` pairs per step, prompt + chosen side
``--tokens`` tokens (a templated problem, then worked solutions of generated problems; the chosen side ends in
the gold answer, the rejected one, a tenth shorter, in a wrong one: ``bench.trl_common.make_pairs``), bf16 on a
GPU, learning rate 1e-5, constant, max length 1024 on both sides.

rlvr runs as it does by default (compiled, CUDA graphs, padded rows: chosen and rejected each with its prompt),
and with ``--pack-pairs`` (padding-free: the pairs of a step end to end in one row, each prompt computed once,
flash-attention's varlen kernel; slower on one H100, 0.076 against 0.049 s a step): ``--modes``. TRL runs with
its recommended settings for one GPU (bf16) except gradient checkpointing, which it turns on by default and which
would slow it down (``--trl-gradient-checkpointing`` restores it); its ``RewardTrainer`` (1.16) has no
padding-free mode: it pads chosen and rejected rows to the batch's longest. Before the timed runs, on a GPU, the
bench checks that the packed rows give the padded rows' rewards and gradients (bf16, the model as exported).
Each trainer runs ``--steps`` steps; the figure is the median step time after ``--warmup`` steps (compilation),
as seconds per step and pairs per second, each step timed from the end of the step before to its own end.

    python bench/rm_vs_trl.py                     # GPU
    python bench/rm_vs_trl.py --tiny --steps 3 --warmup 1 --pairs 16 --batch 4 --tokens 60 --modes packed,padded  # CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
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
from train.model import RewardModel  # noqa: E402

MODES = {"padded": False, "packed": True}  # --pack-pairs per mode; padded rows are rlvr rm's default


def run_ours(folder: Path, pairs_file: Path, args, out: Path, pack: bool) -> list[dict]:
    from train.rm import RMConfig, rm

    cfg = RMConfig(init_from=str(folder), pairs=str(pairs_file), out_dir=str(out), batch_size=args.batch,
                   max_steps=args.steps, lr=1e-5, warmup_steps=0, schedule="constant", max_length=1024,
                   eval_fraction=0, log_every=1, progress=False, overwrite=True, template="r1_zero", pack_pairs=pack,
                   cuda_graphs=False if args.no_cuda_graphs else None)
    run_stage(rm, cfg, args)
    return rlvr_step_times(out / "metrics.jsonl")


def run_trl(folder: Path, pairs: list[dict], args, out: Path) -> list[dict]:
    from trl import RewardConfig, RewardTrainer

    tokenizer, model = load_hf_model(folder, "AutoModelForSequenceClassification")
    dataset = in_memory_dataset([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs], "rlvr-rm-bench")
    stats: list[dict] = []
    config = RewardConfig(output_dir=str(out), per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                          max_steps=args.steps, learning_rate=1e-5, max_length=1024, bf16=torch.cuda.is_available(),
                          gradient_checkpointing=args.trl_gradient_checkpointing, logging_steps=1, report_to="none",
                          save_strategy="no", use_cpu=not torch.cuda.is_available(), seed=0,
                          lr_scheduler_type="constant")
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                            callbacks=[step_timer(stats)])
    trainer.train()
    return stats


def check_packing(folder: Path, pairs: list[dict], n: int = 16) -> dict:
    """Rewards and gradients of ``n`` pairs from packed rows against padded rows: same model, bf16 autocast on a GPU,
    uncompiled (the tests compare the two exactly on the CPU; here flash-attention's varlen kernel meets cuDNN's)."""
    from train.load import load_reward_model
    from train.rm_data import collate_reward_pairs, encode_reward_pairs, pair_rewards
    from train.rm_loss import bradley_terry_loss

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = load_reward_model(str(folder))
    model = model.to(device)
    encoded, _ = encode_reward_pairs(tokenizer, pairs[:n], "r1_zero", 1024)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    runs = []
    for pack in (False, True):
        model.zero_grad(set_to_none=True)
        with autocast:
            chosen, rejected = pair_rewards(model, collate_reward_pairs(encoded, tokenizer.pad_id, multiple=8,
                                                                       pack=pack).to(device))
        bradley_terry_loss(chosen, rejected).backward()
        grads = torch.cat([p.grad.flatten().float() for p in model.parameters()])
        runs.append((torch.cat([chosen, rejected]).detach().float(), grads))
    (r0, g0), (r1, g1) = runs
    return {"mean_abs_reward": round(float(r0.abs().mean()), 4), "max_reward_diff": round(float((r0 - r1).abs().max()), 4),
            "grad_cosine": round(float(torch.nn.functional.cosine_similarity(g0, g1, dim=0)), 6),
            "grad_rel_diff": round(float((g0 - g1).norm() / g0.norm()), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair_arguments(parser, steps=30)
    parser.add_argument("--modes", default="padded,packed",
                        help=f"rlvr's runs, in order (the first is compared with TRL): {', '.join(MODES)}")
    parser.add_argument("--trl-gradient-checkpointing", action="store_true", help="TRL's default (slower)")
    parser.add_argument("--profile", action="store_true", help="print the top kernels of our steps")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: choose from {', '.join(MODES)}, got {args.modes!r}")

    config = workload_config(args.tiny)
    work, tokenizer, pairs, pairs_file, results = pair_workload(args, config.vocab_size)
    model = RewardModel(config)
    folder = export_hf(model, work / "model", tokenizer)
    results.update(params_M=round(model.num_parameters() / 1e6, 1),
                   architecture=json.loads((folder / "config.json").read_text())["architectures"][0],
                   rlvr_cuda_graphs=torch.cuda.is_available() and not args.no_cuda_graphs,
                   trl_gradient_checkpointing=args.trl_gradient_checkpointing)
    del model
    try:
        results["packing_check"] = check_packing(folder, pairs)
        print(json.dumps({"packing_check": results["packing_check"]}), flush=True)
    except Exception as error:  # the timed runs still tell what they can; the error is in the results
        traceback.print_exc()
        results["packing_check"] = {"error": repr(error)}
    for mode in modes:
        try:
            results[f"rlvr_{mode}"] = summary(run_ours(folder, pairs_file, args, work / f"ours_{mode}", MODES[mode]),
                                              args.warmup, args.batch)
        except Exception as error:
            traceback.print_exc()
            results[f"rlvr_{mode}"] = {"error": repr(error)}
        print(json.dumps({f"rlvr_{mode}": results[f"rlvr_{mode}"]}), flush=True)
    if not args.skip_trl:
        import trl

        results["trl_version"] = trl.__version__
        results["trl"] = summary(run_trl(folder, pairs, args, work / "trl"), args.warmup, args.batch)
        for mode in modes:
            if "seconds_per_step" in results[f"rlvr_{mode}"]:
                results[f"speedup_{mode}"] = round(results["trl"]["seconds_per_step"]
                                                   / results[f"rlvr_{mode}"]["seconds_per_step"], 2)
        results["speedup"] = results.get(f"speedup_{modes[0]}")
    finish(results, args.json)
    for mode in modes:
        print(f"rlvr rm ({mode}): {results[f'rlvr_{mode}'].get('pairs_per_s', 'failed')} pairs/s", end="; ")
    if not args.skip_trl:
        print(f"TRL RewardTrainer: {results['trl']['pairs_per_s']} pairs/s; ratio ({modes[0]}): {results['speedup']}x")


if __name__ == "__main__":
    main()
