"""What the benches against TRL share: the workload model, the preference pairs, loading the exported model as TRL
sees it, a dataset, TRL's step timer and the summary of step times."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from train.model import ModelConfig, preset
from train.template import R1_ZERO, render_completion, render_prompt


def workload_config(tiny: bool) -> ModelConfig:
    """The issues' workload model: Qwen2-shaped, 12 layers, 768 wide, 12 heads, MLP 3072, QKV bias, tied
    embeddings, vocab 4096 (116M parameters); or a tiny one for a CPU smoke run."""
    if tiny:
        return ModelConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=4, intermediate_size=128, qkv_bias=True)
    return preset("base", num_key_value_heads=12, intermediate_size=3072, qkv_bias=True)


def load_hf_model(folder: Path, auto_class: str = "AutoModelForCausalLM"):
    """``(tokenizer, model)`` of an exported folder through transformers' ``auto_class``: bf16 on a GPU, float32 on
    the CPU."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    auto = getattr(transformers, auto_class)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    try:  # transformers 5 names it dtype, 4.x torch_dtype
        model = auto.from_pretrained(folder, dtype=dtype)
    except TypeError:
        model = auto.from_pretrained(folder, torch_dtype=dtype)
    return tokenizer, model


def in_memory_dataset(records: list[dict], name: str):
    """A ``datasets.Dataset`` of ``records`` with a fixed fingerprint: datasets' content hashing (dill)
    fails on some Python 3.12 + pyarrow installs."""
    import datasets

    return datasets.Dataset(datasets.table.InMemoryTable.from_pylist(records), fingerprint=name)


def pair_arguments(parser: argparse.ArgumentParser, steps: int) -> None:
    """The options of a preference-pair bench (``dpo_vs_trl``, ``rm_vs_trl``)."""
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out (compilation)")
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--pairs", type=int, default=1024, help="pairs in the dataset")
    parser.add_argument("--tokens", type=int, default=420, help="prompt + chosen completion of a pair, in tokens")
    parser.add_argument("--tiny", action="store_true", help="a tiny model for a CPU smoke run")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="rlvr launches every kernel (--cuda-graphs false)")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--json", help="write the results here")


def make_pairs(n: int, tokens: int, tokenizer) -> list[dict]:
    """``n`` pairs whose prompt + chosen completion is ``tokens`` long: a templated problem, then worked
    solutions of generated problems (chosen ends in the gold answer, rejected, a tenth shorter, in a wrong one)."""
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


def pair_workload(args, vocab_size: int):
    """``(work folder, tokenizer, pairs, pairs file, facts)``: a tokenizer trained on generated problems, ``args.pairs``
    pairs of ``args.tokens`` tokens written as JSONL, and the facts a result records."""
    from train.load import make_problem_rows
    from train.tokenizer import train_tokenizer

    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    corpus = make_problem_rows("word_problem,linear_system,arithmetic", 3000, 1, "1-6")
    tokenizer = train_tokenizer([f"{p['prompt']} {p['solution']}" for p in corpus] + [R1_ZERO], vocab_size)
    pairs = make_pairs(args.pairs, args.tokens, tokenizer)
    pairs_file = work / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    lengths = {side: statistics.mean(len(tokenizer.encode(p[side])) for p in pairs) for side in
               ("prompt", "chosen", "rejected")}
    facts = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
             "torch": torch.__version__, "pairs_per_step": args.batch, "steps": args.steps,
             "mean_tokens": {side: round(v, 1) for side, v in lengths.items()}}
    return work, tokenizer, pairs, pairs_file, facts


def step_timer(stats: list[dict]):
    """A ``TrainerCallback`` appending each step's times to ``stats``: ``step_time`` from the end of the step
    before to this one's end, as rlvr's is measured (the batch's collation and the last step's logging are in
    it), and ``compute_time`` from the step's begin (without them)."""
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
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

    return Timer()


def rlvr_step_times(metrics: Path) -> list[dict]:
    """The ``step_time`` of each training step in an rlvr run's ``metrics.jsonl``."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    return [{"step_time": r["step_time"]} for r in rows if "step_time" in r]


def summary(stats: list[dict], warmup: int, batch: int) -> dict:
    """Median seconds per step after ``warmup`` steps, and pairs per second."""
    steady = stats[warmup:] or stats
    seconds = statistics.median(s["step_time"] for s in steady)
    result = {"seconds_per_step": round(seconds, 4), "pairs_per_s": round(batch / seconds, 1),
              "steps_measured": len(steady)}
    if "compute_time" in steady[0]:
        result["seconds_per_step_without_data_and_logging"] = round(statistics.median(
            s["compute_time"] for s in steady), 4)
    return result


def finish(results: dict, path: str | None) -> None:
    """Print ``results`` and write them to ``path`` (when given) as JSON."""
    print(json.dumps(results, indent=2))
    if path:
        Path(path).write_text(json.dumps(results, indent=2) + "\n")


def run_stage(stage, cfg, args) -> None:
    """``stage(cfg)``; with ``args.profile``, under ``torch.profiler``, printing the top kernels of 3 steps after
    ``args.warmup`` (the stage calls ``on_step`` after each step)."""
    if not args.profile:
        stage(cfg)
        return
    from torch.profiler import ProfilerActivity, profile, schedule

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities, schedule=schedule(wait=args.warmup, warmup=1, active=3, repeat=1)) as prof:
        stage(cfg, on_step=lambda row: prof.step())
    sort = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=30), flush=True)
