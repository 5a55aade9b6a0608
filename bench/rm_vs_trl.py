"""Reward-model training throughput: ``rlvr rm`` against TRL's ``RewardTrainer``, same model, same pairs, same run.

The model: our ``base`` preset (Llama-shaped: 12 layers, 768 wide, 12 query and 4 key/value heads, SwiGLU 3584,
tied embeddings, 4,096-token vocabulary), random weights with a random scalar head, exported once with
``train.hf.export_hf`` as ``LlamaForSequenceClassification``; ``rlvr rm`` starts from that folder and TRL loads it
with ``AutoModelForSequenceClassification``. The pairs: ``--batch`` pairs per step of about ``--tokens`` tokens per
side (a templated problem, then worked solutions of generated problems; the chosen side ends in the gold answer,
the rejected one in a wrong one: ``bench/dpo_vs_trl.py``'s pairs), bf16 on a GPU. TRL runs without gradient
checkpointing (its default is on, which would slow it down; ``--trl-gradient-checkpointing`` restores it). Each
trainer runs ``--steps`` steps; the figure is the median step time after ``--warmup`` steps (compilation), as
seconds per step and pairs per second, each step timed from the end of the step before to its own end.

    python bench/rm_vs_trl.py                     # GPU
    python bench/rm_vs_trl.py --tiny --steps 3 --warmup 1 --pairs 16 --batch 4 --tokens 60   # CPU smoke run
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

from bench.dpo_vs_trl import make_pairs, summary  # noqa: E402
from bench.trl_common import in_memory_dataset  # noqa: E402
from train.hf import export_hf  # noqa: E402
from train.model import ModelConfig, RewardModel, preset  # noqa: E402
from train.template import R1_ZERO  # noqa: E402
from train.tokenizer import train_tokenizer  # noqa: E402


def model_config(tiny: bool) -> ModelConfig:
    if tiny:
        return ModelConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, intermediate_size=128)
    return preset("base")


def run_ours(folder: Path, pairs_file: Path, args, out: Path) -> list[dict]:
    from train.rm import RMConfig, rm

    rm(RMConfig(init_from=str(folder), pairs=str(pairs_file), out_dir=str(out), batch_size=args.batch,
                max_steps=args.steps, lr=1e-5, warmup_steps=0, schedule="constant", max_length=1024, eval_fraction=0,
                log_every=1, progress=False, overwrite=True, template="r1_zero", pack_pairs=args.pack,
                cuda_graphs=False if args.no_cuda_graphs else None))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{"step_time": r["step_time"]} for r in rows if r["step"] > 0]


def run_trl(folder: Path, pairs: list[dict], args, out: Path) -> list[dict]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    try:  # transformers 5 names it dtype, 4.x torch_dtype
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype)
    except TypeError:
        model = AutoModelForSequenceClassification.from_pretrained(folder, torch_dtype=dtype)
    dataset = in_memory_dataset([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs], "rlvr-rm-bench")
    stats: list[dict] = []

    class Timer(TrainerCallback):
        """Wall time from one step's end to the next, as rlvr's ``step_time`` is measured."""

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

    config = RewardConfig(output_dir=str(out), per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
                          max_steps=args.steps, learning_rate=1e-5, max_length=1024, bf16=torch.cuda.is_available(),
                          gradient_checkpointing=args.trl_gradient_checkpointing, logging_steps=1, report_to="none",
                          save_strategy="no", use_cpu=not torch.cuda.is_available(), seed=0,
                          lr_scheduler_type="constant")
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                            callbacks=[Timer()])
    trainer.train()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out (compilation)")
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--pairs", type=int, default=1024, help="pairs in the dataset")
    parser.add_argument("--tokens", type=int, default=420, help="prompt + side length of a pair, about")
    parser.add_argument("--tiny", action="store_true", help="a tiny model for a CPU smoke run")
    parser.add_argument("--pack", action="store_true", help="rlvr packs each pair into one row (--pack-pairs)")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="rlvr launches every kernel (--no-cuda-graphs)")
    parser.add_argument("--trl-gradient-checkpointing", action="store_true", help="TRL's default (slower)")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    from train.load import make_problem_rows

    corpus = make_problem_rows("word_problem,linear_system,arithmetic", 3000, 1, "1-6")
    texts = [f"{p['prompt']} {p['solution']}" for p in corpus] + [R1_ZERO]
    config = model_config(args.tiny)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    pairs = make_pairs(args.pairs, args.tokens, tokenizer)
    pairs_file = work / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    lengths = [len(tokenizer.encode(p["prompt"] + p["chosen"])) for p in pairs]
    model = RewardModel(config)
    folder = export_hf(model, work / "model", tokenizer)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               "params_M": round(model.num_parameters() / 1e6, 1), "torch": torch.__version__,
               "architecture": json.loads((folder / "config.json").read_text())["architectures"][0],
               "pairs_per_step": args.batch, "mean_chosen_tokens": round(statistics.mean(lengths), 1),
               "steps": args.steps, "rlvr_pack_pairs": args.pack,
               "rlvr_cuda_graphs": torch.cuda.is_available() and not args.no_cuda_graphs,
               "trl_gradient_checkpointing": args.trl_gradient_checkpointing}
    del model
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
