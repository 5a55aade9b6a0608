"""GRPO step throughput: ``rlvr grpo`` against TRL's ``GRPOTrainer``, same workload, same run.

The workload of issue 7: a Qwen2-shaped model of 12 layers, 768 wide (12 heads, MLP 3072, QKV bias,
tied embeddings: 116M parameters), 4,096-token vocabulary, random weights, exported once with
``train.hf.export_hf`` and loaded by both trainers from that folder; 8 arithmetic prompts x 8
generations per step, up to 256 new tokens, temperature 1, bf16, beta 0, loss ``dapo``, rewards
accuracy + format (ours from the registry; TRL through ``verifiers.trl.reward_funcs``). Each trainer
runs ``--steps`` steps; the figure is the median over the steps after ``--warmup`` (compilation,
CUDA-graph capture), as completion tokens per second and seconds per step.

    python bench/grpo_vs_trl.py                   # GPU
    python bench/grpo_vs_trl.py --tiny --steps 3 --warmup 1 --max-new 16   # CPU smoke run
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
from train.template import R1_ZERO, render_prompt  # noqa: E402
from train.tokenizer import train_tokenizer  # noqa: E402


def make_problems(n: int) -> list[dict]:
    from train.load import make_problem_rows

    return make_problem_rows("arithmetic", n, 0, "1-3")


def run_ours(folder: Path, problems_file: Path, args, out: Path) -> list[dict]:
    from train.grpo import GRPOConfig, grpo

    cfg = GRPOConfig(init_from=str(folder), problems=str(problems_file), out_dir=str(out), template="r1_zero",
                     rewards="accuracy,format=0.5", prompts_per_step=8, num_generations=8,
                     max_completion_length=args.max_new, max_steps=args.steps, lr=1e-6, beta=0.0, loss_type="dapo",
                     micro_batch_size=64, reward_workers=4, eval_every=0, eval_problems=8, progress=False,
                     overwrite=True, max_prompt_length=512)
    grpo(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{"step_time": r["step_time"], "tokens": r["tokens_per_s"] * r["step_time"]} for r in rows]


def run_trl(folder: Path, problems: list[dict], args, out: Path) -> list[dict]:
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from verifiers.trl import reward_funcs

    tokenizer, model = load_hf_model(folder)
    records = [{"prompt": render_prompt(p["prompt"], R1_ZERO), "answer": p["answer"], "verifier": p["verifier"],
                "id": p["id"]} for p in problems]
    dataset = in_memory_dataset(records, "rlvr-bench")
    stats: list[dict] = []
    tokens = {"n": 0}

    def count_tokens(prompts, completions, completion_ids, **_):
        tokens["n"] += sum(len(ids) for ids in completion_ids)
        return [0.0] * len(completions)

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            tokens["n"] = 0
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            stats.append({"step_time": time.perf_counter() - self.start, "tokens": tokens["n"]})

    accuracy, fmt = reward_funcs(["accuracy", "format"])
    config = GRPOConfig(output_dir=str(out), per_device_train_batch_size=64, gradient_accumulation_steps=1,
                        num_generations=8, max_completion_length=args.max_new, max_steps=args.steps,
                        learning_rate=1e-6, beta=0.0, loss_type="dapo", temperature=1.0, top_k=0, top_p=1.0,
                        bf16=torch.cuda.is_available(), logging_steps=1, report_to="none", save_strategy="no",
                        reward_weights=[1.0, 0.5, 0.0], use_cpu=not torch.cuda.is_available(), seed=0)
    trainer = GRPOTrainer(model=model, reward_funcs=[accuracy, fmt, count_tokens], args=config,
                          train_dataset=dataset, processing_class=tokenizer, callbacks=[Timer()])
    trainer.train()
    return stats


def summary(stats: list[dict], warmup: int) -> dict:
    steady = stats[warmup:] or stats
    seconds = statistics.median(s["step_time"] for s in steady)
    rate = statistics.median(s["tokens"] / s["step_time"] for s in steady)
    return {"seconds_per_step": round(seconds, 3), "completion_tokens_per_s": round(rate, 1),
            "steps_measured": len(steady)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=4, help="first steps left out (compilation)")
    parser.add_argument("--max-new", type=int, default=256)
    parser.add_argument("--tiny", action="store_true", help="a tiny model for a CPU smoke run")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    problems = make_problems(2000)
    problems_file = work / "problems.jsonl"
    problems_file.write_text("".join(json.dumps(p) + "\n" for p in problems))
    texts = [f"{p['prompt']} {p['solution']}" for p in problems] + [R1_ZERO]
    config = workload_config(args.tiny)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    model = Transformer(config)
    folder = export_hf(model, work / "model", tokenizer)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               "params_M": round(model.num_parameters() / 1e6, 1), "torch": torch.__version__,
               "prompts_per_step": 8, "num_generations": 8, "max_new_tokens": args.max_new, "steps": args.steps}
    del model
    results["rlvr"] = summary(run_ours(folder, problems_file, args, work / "ours"), args.warmup)
    print(json.dumps(results["rlvr"]), flush=True)
    if not args.skip_trl:
        import trl

        results["trl_version"] = trl.__version__
        results["trl"] = summary(run_trl(folder, problems, args, work / "trl"), args.warmup)
        results["speedup_tokens_per_s"] = round(results["rlvr"]["completion_tokens_per_s"]
                                                / results["trl"]["completion_tokens_per_s"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
