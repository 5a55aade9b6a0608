"""``rlvr pipeline``: the whole recipe in one command, with a report.

generate problems -> train the tokenizer and pretrain -> SFT on worked solutions -> GRPO with
verifiable rewards, and beside it the R1-Zero path (GRPO straight from the pretrained model, template
and rule-based rewards only). Every stage's model is evaluated on the same held-out problems; the
report folder gets ``report.md`` (accuracy and format per stage and task, time per stage),
``results.json`` and PNG plots (loss curves; reward, accuracy and completion length over GRPO steps).

    rlvr pipeline --preset tiny                 # CPU, a few minutes: what `make demo` runs
    rlvr pipeline --preset small --out-dir runs/small   # one GPU
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["PIPELINES", "Budget", "PipelineConfig", "main", "pipeline", "results_table"]


@dataclass
class Budget:
    """What one pipeline preset trains: data, steps and batch sizes of each stage."""

    tasks: str
    difficulty: str
    n_problems: int
    eval_problems: int
    template: str
    test_size: float  # share of distinct prompts held out
    pretrain: dict
    sft: dict
    grpo: dict


PIPELINES: dict[str, Budget] = {
    # CPU, 2 cores: a few minutes in all. Easy arithmetic; the short template keeps sequences short.
    "tiny": Budget(
        tasks="arithmetic", difficulty="1-2", n_problems=12000, eval_problems=100, template="plain", test_size=0.2,
        # about 400 steps are needed: the loss drops a second time near step 250-350, when the model
        # learns to copy the operands from the question (an induction head) instead of guessing
        pretrain=dict(max_steps=400, batch_size=16, seq_len=256, lr=3e-3, warmup_steps=20),
        sft=dict(max_steps=120, batch_size=32, lr=1e-3, warmup_steps=10, max_len=256),
        grpo=dict(max_steps=30, prompts_per_step=8, num_generations=8, max_completion_length=64, lr=2e-5,
                  reward_workers=1),
    ),
    # One GPU, about a quarter of an hour: the math mix at low difficulty, the R1-Zero template.
    "small": Budget(
        tasks="arithmetic,fractions,linear_equation,number_theory,sequence,word_problem", difficulty="1-3",
        n_problems=120000, eval_problems=500, template="r1_zero", test_size=0.02,
        pretrain=dict(max_steps=1500, batch_size=64, seq_len=512, lr=3e-3, warmup_steps=100),
        sft=dict(max_steps=600, batch_size=64, lr=5e-4, warmup_steps=30, max_len=512),
        grpo=dict(max_steps=150, prompts_per_step=32, num_generations=8, max_completion_length=256, lr=2e-5,
                  reward_workers=8),
    ),
    "base": Budget(
        tasks="math", difficulty="1-5", n_problems=400000, eval_problems=1000, template="r1_zero", test_size=0.01,
        pretrain=dict(max_steps=4000, batch_size=32, seq_len=2048, lr=1.5e-3, warmup_steps=200),
        sft=dict(max_steps=1500, batch_size=64, lr=3e-4, warmup_steps=50, max_len=768),
        grpo=dict(max_steps=300, prompts_per_step=32, num_generations=8, max_completion_length=512, lr=1e-5,
                  reward_workers=12),
    ),
}


@dataclass
class PipelineConfig:
    preset: Literal["tiny", "small", "base"] = field(default="tiny", metadata={"help": "model and budget"})
    out_dir: str = field(default="", metadata={"help": "report folder (default runs/pipeline-PRESET)"})
    seed: int = field(default=0, metadata={"help": "seed for data, initialisation and sampling"})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda (default: cuda if available)"})
    r1_zero: bool = field(default=True, metadata={"help": "also run GRPO straight from the pretrained model"})
    rewards: str = field(default="accuracy,format=0.5", metadata={"help": "GRPO rewards by name with weights"})
    scale: float = field(default=1.0, metadata={"help": "multiply every stage's steps (e.g. 0.1 for a smoke run)"})
    eval_problems: int | None = field(default=None, metadata={"help": "held-out questions (default: the preset's)"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})

    def __post_init__(self) -> None:
        if not self.out_dir:
            self.out_dir = f"runs/pipeline-{self.preset}"
        if self.scale <= 0:
            raise ValueError(f"--scale must be positive, got {self.scale}")
        if self.eval_problems is not None and self.eval_problems < 1:
            raise ValueError(f"--eval-problems must be at least 1, got {self.eval_problems}")


def _steps(stage: dict, scale: float) -> dict:
    stage = dict(stage)
    stage["max_steps"] = max(1, round(stage["max_steps"] * scale))
    stage["warmup_steps"] = min(stage.get("warmup_steps", 0), stage["max_steps"])
    return stage


def _read_metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage; return the results (also written to ``results.json`` and ``report.md``)."""
    import torch

    from train.evaluate import evaluate_policy
    from train.grpo import GRPOConfig, grpo
    from train.load import load_policy, make_problem_rows
    from train.pretrain import PretrainConfig, pretrain
    from train.sft import SFTConfig, sft
    from train.template import TEMPLATES
    from verifiers.scoring import write_jsonl

    budget = PIPELINES[cfg.preset]
    out = Path(cfg.out_dir)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    common = {"seed": cfg.seed, "device": cfg.device, "progress": cfg.progress, "overwrite": True}

    # 1. data: one held-out set for every stage's evaluation; training problems never include it
    started = time.perf_counter()
    rows = make_problem_rows(budget.tasks, budget.n_problems, cfg.seed, budget.difficulty)
    from datagen.api import split_rows, to_corpus

    train_rows, test_rows = split_rows(rows, test_size=budget.test_size, seed=cfg.seed)
    distinct = {r["prompt"]: r for r in test_rows}  # each held-out question once (easy tasks repeat a lot)
    test_rows = list(distinct.values())[: cfg.eval_problems or budget.eval_problems]
    write_jsonl(train_rows, data / "train.jsonl")
    write_jsonl(test_rows, data / "test.jsonl")
    write_jsonl([{"text": t} for t in to_corpus(train_rows)], data / "corpus.jsonl")
    times = {"data": time.perf_counter() - started}
    print(f"pipeline {cfg.preset}: {len(train_rows):,} training problems ({budget.tasks}, difficulty "
          f"{budget.difficulty}), {len(test_rows)} held out -> {out}")

    template = TEMPLATES[budget.template]
    results: dict[str, dict] = {}

    def evaluate(name: str, folder: Path) -> None:
        model, tokenizer = load_policy(folder / "final")
        model = model.to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        max_new = budget.grpo["max_completion_length"]
        results[name] = evaluate_policy(model, tokenizer, test_rows, template=template, max_new_tokens=max_new)
        r = results[name]
        print(f"  {name:<13} accuracy {r['accuracy']:.1%}  format {r['format']:.1%}  ({times[name]:.0f} s)")

    def run(name: str, fn, config) -> Path:
        began = time.perf_counter()
        fn(config)
        times[name] = time.perf_counter() - began
        evaluate(name, Path(config.out_dir))
        return Path(config.out_dir)

    pre = run("pretrain", pretrain, PretrainConfig(out_dir=str(out / "pretrain"), preset=cfg.preset,
                                                   corpus=str(data / "corpus.jsonl"),
                                                   **_steps(budget.pretrain, cfg.scale), **common))
    sft_dir = run("sft", sft, SFTConfig(out_dir=str(out / "sft"), init_from=str(pre / "final"),
                                        problems=str(data / "train.jsonl"), template=budget.template,
                                        eval_problems=0, max_new_tokens=budget.grpo["max_completion_length"],
                                        **_steps(budget.sft, cfg.scale), **common))
    grpo_common = dict(problems=str(data / "train.jsonl"), template=budget.template, rewards=cfg.rewards,
                       eval_problems=0, **_steps(budget.grpo, cfg.scale), **common)
    run("grpo", grpo, GRPOConfig(out_dir=str(out / "grpo"), init_from=str(sft_dir / "final"), **grpo_common))
    if cfg.r1_zero:
        run("r1_zero", grpo, GRPOConfig(out_dir=str(out / "r1_zero"), init_from=str(pre / "final"), **grpo_common))

    summary = {"preset": cfg.preset, "tasks": budget.tasks, "difficulty": budget.difficulty,
               "eval_problems": len(test_rows), "seconds": {k: round(v, 1) for k, v in times.items()},
               "stages": results}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    plots = _plots(out, cfg.r1_zero)
    (out / "report.md").write_text(report_markdown(summary, plots))
    print("\n" + results_table(summary))
    print(f"\nreport: {out / 'report.md'}")
    return summary


STAGE_NAMES = {"pretrain": "pretrained", "sft": "SFT", "grpo": "SFT + GRPO", "r1_zero": "R1-Zero (GRPO, no SFT)"}


def results_table(summary: dict) -> str:
    """Markdown table: accuracy, format and time per stage, then accuracy per task."""
    stages = summary["stages"]
    tasks = sorted({t for r in stages.values() for t in r.get("per_task", {})})
    head = "| stage | accuracy | format | completion tokens | time (s) |" + "".join(f" {t} |" for t in tasks)
    lines = [head, "|---|---:|---:|---:|---:|" + "---:|" * len(tasks)]
    for name, r in stages.items():
        per_task = "".join(f" {r['per_task'].get(t, 0):.1%} |" for t in tasks)
        lines.append(f"| {STAGE_NAMES.get(name, name)} | {r['accuracy']:.1%} | {r['format']:.1%} | "
                     f"{r['completion_tokens']:.0f} | {summary['seconds'].get(name, 0):.0f} |{per_task}")
    return "\n".join(lines)


def report_markdown(summary: dict, plots: list[str]) -> str:
    text = [f"# rlvr pipeline: preset {summary['preset']}", "",
            f"Tasks `{summary['tasks']}`, difficulty {summary['difficulty']}; every stage evaluated greedily on the "
            f"same {summary['eval_problems']} held-out problems (accuracy by each problem's verifier, format by "
            "the strict R1-Zero check).", "", results_table(summary), ""]
    text += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(text) + "\n"


def _plots(out: Path, r1_zero: bool) -> list[str]:
    """Loss curves of pretraining and SFT; reward, accuracy and completion length over GRPO steps."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots")
        return []
    made = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, stage in zip(axes, ("pretrain", "sft")):
        rows = _read_metrics(out / stage)
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train")
        val = [r for r in rows if r.get("val_loss") is not None]
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="held out")
        ax.set(title=f"{stage} loss", xlabel="step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    plt.close(fig)
    made.append("loss.png")
    paths = ["grpo"] + (["r1_zero"] if r1_zero else [])
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
    for stage in paths:
        rows = [r for r in _read_metrics(out / stage) if "reward" in r]
        label = STAGE_NAMES[stage]
        for ax, key in zip(axes, ("reward", "accuracy", "completion_length")):
            points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label)
            ax.set(title=f"GRPO {key.replace('_', ' ')}", xlabel="step")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "grpo.png", dpi=110)
    plt.close(fig)
    made.append("grpo.png")
    return made


def main(argv: list[str] | None = None) -> int:
    from train.config import run_stage

    return run_stage(PipelineConfig, pipeline, argv, prog="rlvr pipeline", description=__doc__, print_result=False)


if __name__ == "__main__":
    sys.exit(main())

