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
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.trl_common import in_memory_dataset, load_hf_model, workload_config  # noqa: E402
from train.hf import export_hf  # noqa: E402
from train.model import Transformer  # noqa: E402
from train.template import R1_ZERO, render_completion, render_prompt  # noqa: E402
from train.tokenizer import train_tokenizer  # noqa: E402


def make_pairs(n: int, tokens: int, tokenizer) -> list[dict]:
    """``n`` pairs whose prompt + completion is about ``tokens`` long: a templated problem, then worked
    solutions of generated problems (chosen ends in the gold answer, rejected in a wrong one)."""
    from train.load import make_problem_rows

    problems = make_problem_rows("word_problem,linear_system,arithmetic", n * 8, 0, "3-6")
    pairs, k = [], 0
    for i in range(n):
        prompt = render_prompt(problems[k]["prompt"], R1_ZERO)
        k += 1
        answer = problems[i]["answer"]
        # the thought fills what the prompt and the completion's tags leave of ``tokens``, cut to fit
        budget = tokens - len(tokenizer.encode(prompt)) - len(tokenizer.encode(render_completion("", answer)))
        steps = []
        while len(tokenizer.encode(" ".join(steps))) < budget:
            steps.append(problems[k % len(problems)]["solution"])
            k += 1
        thought = tokenizer.decode(tokenizer.encode(" ".join(steps))[:max(budget, 1)])
        pairs.append({"prompt": prompt, "chosen": render_completion(thought, answer),
                      "rejected": render_completion(thought[: len(thought) * 9 // 10], f"{answer}1"),
                      "templated": True})
    return pairs


def run_ours(folder: Path, pairs_file: Path, args, out: Path) -> list[dict]:
    from train.dpo import DPOConfig, dpo

    cfg = DPOConfig(init_from=str(folder), pairs=str(pairs_file), out_dir=str(out), loss_type="sigmoid", beta=0.1,
                    batch_size=args.batch, max_steps=args.steps, lr=5e-7, warmup_steps=0, max_length=1024,
                    eval_problems=0, progress=False, overwrite=True, template="r1_zero", pack_pairs=args.pack,
                    cuda_graphs=False if args.no_cuda_graphs else None)
    if not args.profile:
        dpo(cfg)
    else:  # where the GPU time of our steps goes: the kernels of 3 steps after the warm-up
        from torch.profiler import ProfilerActivity, profile, schedule

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        with profile(activities=activities, schedule=schedule(wait=args.warmup, warmup=1, active=3, repeat=1)) as prof:
            dpo(cfg, on_step=lambda row: prof.step())
        sort = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=25), flush=True)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{"step_time": r["step_time"]} for r in rows]


def run_trl(folder: Path, pairs: list[dict], args, out: Path) -> list[dict]:
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    tokenizer, model = load_hf_model(folder)
    records = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    dataset = in_memory_dataset(records, "rlvr-dpo-bench")
    stats: list[dict] = []

    class Timer(TrainerCallback):
        """Wall time from one step's end to the next, as rlvr's ``step_time`` is measured: the batch's
        collation and the logging of the step before are in it (``compute_time`` leaves them out)."""

        last = None

        def on_step_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now = time.perf_counter()
            stats.append({"step_time": now - (self.last if self.last is not None else self.start),
                          "compute_time": now - self.start})
            self.last = now

    config = DPOConfig(output_dir=str(out), per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                       max_steps=args.steps, learning_rate=5e-7, beta=0.1, loss_type=["sigmoid"], max_length=1024,
                       precompute_ref_log_probs=True, bf16=torch.cuda.is_available(), logging_steps=1,
                       report_to="none", save_strategy="no", use_cpu=not torch.cuda.is_available(), seed=0,
                       lr_scheduler_type="constant")
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[Timer()])
    trainer.train()
    return stats


def summary(stats: list[dict], warmup: int, batch: int) -> dict:
    steady = stats[warmup:] or stats
    seconds = statistics.median(s["step_time"] for s in steady)
    result = {"seconds_per_step": round(seconds, 4), "pairs_per_s": round(batch / seconds, 1),
              "steps_measured": len(steady)}
    if "compute_time" in steady[0]:
        result["seconds_per_step_without_data_and_logging"] = round(statistics.median(
            s["compute_time"] for s in steady), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out (compilation)")
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--pairs", type=int, default=1024, help="pairs in the dataset")
    parser.add_argument("--tokens", type=int, default=420, help="prompt + completion length of a pair, about")
    parser.add_argument("--tiny", action="store_true", help="a tiny model for a CPU smoke run")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print the top kernels of our steps")
    parser.add_argument("--pack", action="store_true", help="rlvr packs each pair into one row (--pack-pairs)")
    parser.add_argument("--tune", action="store_true", help="inductor's coordinate-descent tuning of its kernels")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="rlvr launches every kernel (--cuda-graphs false)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    from train.load import make_problem_rows

    corpus = make_problem_rows("word_problem,linear_system,arithmetic", 3000, 1, "1-6")
    texts = [f"{p['prompt']} {p['solution']}" for p in corpus] + [R1_ZERO]
    config = workload_config(args.tiny)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    pairs = make_pairs(args.pairs, args.tokens, tokenizer)
    pairs_file = work / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    lengths = [len(tokenizer.encode(p["prompt"] + p["chosen"])) for p in pairs]
    model = Transformer(config)
    folder = export_hf(model, work / "model", tokenizer)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               "params_M": round(model.num_parameters() / 1e6, 1), "torch": torch.__version__,
               "pairs_per_step": args.batch, "mean_chosen_tokens": round(statistics.mean(lengths), 1),
               "steps": args.steps}
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
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
