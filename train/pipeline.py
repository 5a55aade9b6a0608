"""``rlvr pipeline``: the whole recipe in one command, with a report.

generate problems -> train the tokenizer and pretrain -> SFT on worked solutions (the small preset: a cold
start, worked for 30% of the problems, the answer alone for the rest) -> GRPO with
verifiable rewards on questions kept out of pretraining and SFT, and beside it the R1-Zero path (GRPO
straight from the pretrained model, template and rule-based rewards only). Every stage's model is evaluated on the same held-out problems; the
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

__all__ = ["PIPELINES", "Budget", "PipelineConfig", "corpus_documents", "main", "pipeline", "results_table",
           "stage_overrides"]


@dataclass
class Budget:
    """What one pipeline preset trains: the model, data, steps and batch sizes of each stage."""

    model: str  # the model's size: a train.model.PRESETS name
    tasks: str
    difficulty: str
    n_problems: int
    eval_problems: int
    template: str
    test_size: float  # share of distinct prompts held out
    # share of the other prompts kept for GRPO and DPO only: questions the model never saw solved. 0: they
    # train on the SFT questions (the tiny preset's single-digit facts are too few to hold a quarter out)
    rl_size: float
    # shares of the pretraining documents written as the template's dialogue (corpus_documents): replies that
    # reason in <think> and answer in <answer>, and replies that give the answer alone. What lets R1-Zero start
    tagged_share: float
    chat_share: float
    pretrain: dict
    sft: dict
    grpo: dict
    dpo: dict  # iterative DPO from the same SFT model, on the same prompts as GRPO: the comparison
    # intra-op threads on a CPU (None: torch's default). A tiny model's matmuls are too small to split, and on
    # shared cores two threads wait on each other (3-5x slower measured on the 2-core development machine)
    cpu_threads: int | None = None


PIPELINES: dict[str, Budget] = {
    # CPU, 2 cores: a few minutes in all. Easy arithmetic; the short template keeps sequences short.
    "tiny": Budget(
        model="tiny", tasks="arithmetic", difficulty="1-2", n_problems=12000, eval_problems=100, template="plain", test_size=0.2, rl_size=0.0,
        tagged_share=0.0, chat_share=0.0,
        # about 400 steps are needed: the loss drops a second time near step 250-350, when the model
        # learns to copy the operands from the question (an induction head) instead of guessing
        pretrain=dict(max_steps=400, batch_size=16, seq_len=256, lr=3e-3, warmup_steps=20),
        sft=dict(max_steps=120, batch_size=32, lr=1e-3, warmup_steps=10, max_len=256),
        grpo=dict(max_steps=30, prompts_per_step=8, num_generations=8, max_completion_length=64, lr=2e-5,
                  reward_workers=1),
        dpo=dict(rounds=2, max_steps=30, prompts_per_round=96, num_generations=8, batch_size=16, lr=2e-5,
                 beta=0.1, rpo_alpha=1.0, max_completion_length=64, warmup_steps=3),
    ),
    # One GPU, about a quarter of an hour: the math mix at low difficulty, the R1-Zero template.
    "small": Budget(
        model="small", tasks="arithmetic,fractions,linear_equation,number_theory,sequence,word_problem", difficulty="1-3",
        n_problems=120000, eval_problems=500, template="r1_zero", test_size=0.02, rl_size=0.25,
        tagged_share=0.0, chat_share=0.0,
        pretrain=dict(max_steps=1500, batch_size=64, seq_len=512, lr=3e-3, warmup_steps=100),
        # an R1-style cold start: SFT shows the worked solution for 30% of its problems and only the answer
        # for the rest, so GRPO has a choice to learn from reward alone: whether reasoning pays. (With every
        # solution worked, the SFT model is near its ceiling at this size and GRPO moved it by -4 to +2
        # points: docs/BENCHMARKS.md 5.5.)
        sft=dict(max_steps=600, batch_size=64, lr=5e-4, warmup_steps=30, max_len=512, worked_share=0.3),
        grpo=dict(max_steps=300, prompts_per_step=32, num_generations=8, max_completion_length=256, lr=5e-5,
                  reward_workers=8),
        dpo=dict(rounds=3, max_steps=150, prompts_per_round=1024, num_generations=8, batch_size=32, lr=2e-5,
                 beta=0.1, rpo_alpha=1.0, max_completion_length=256, warmup_steps=10),
    ),
    # One GPU: code, GRPO rewarded by the problems' tests run in the sandbox (the reward workers run it). A
    # preset of its own rather than code tasks in "small": a code reward is a sandboxed run of tens of ms where
    # a math answer is a string check, code completions are longer, and mixed into small's 500 held-out
    # questions code would get about 80 of them (a standard error near 5 points, too coarse for its effect),
    # while small's math results stay comparable with their history. The cold start: a short SFT (about half
    # an epoch of worked solutions: the plan in <think>, the program in <answer>), so the SFT model writes
    # the right kind of program often but not reliably, a gap that the tests' reward can close.
    "code": Budget(
        model="small", tasks="code_function,code_stdio", difficulty="1-3", n_problems=60000, eval_problems=500,
        template="r1_zero", test_size=0.02, rl_size=0.25, tagged_share=0.0, chat_share=0.0,
        pretrain=dict(max_steps=1500, batch_size=64, seq_len=512, lr=3e-3, warmup_steps=100),
        sft=dict(max_steps=300, batch_size=64, lr=5e-4, warmup_steps=30, max_len=512),
        grpo=dict(max_steps=300, prompts_per_step=32, num_generations=8, max_completion_length=256, lr=5e-5,
                  reward_workers=8),
        dpo=dict(rounds=3, max_steps=150, prompts_per_round=256, num_generations=8, batch_size=32, lr=2e-5,
                 beta=0.1, rpo_alpha=1.0, max_completion_length=256, warmup_steps=10),
    ),
    "base": Budget(
        model="base", tasks="math", difficulty="1-5", n_problems=400000, eval_problems=1000, template="r1_zero", test_size=0.01, rl_size=0.25,
        tagged_share=0.0, chat_share=0.0,
        pretrain=dict(max_steps=4000, batch_size=32, seq_len=2048, lr=1.5e-3, warmup_steps=200),
        sft=dict(max_steps=1500, batch_size=64, lr=3e-4, warmup_steps=50, max_len=768),
        grpo=dict(max_steps=300, prompts_per_step=32, num_generations=8, max_completion_length=512, lr=1e-5,
                  reward_workers=12),
        dpo=dict(rounds=3, max_steps=300, prompts_per_round=2048, num_generations=8, batch_size=32, lr=1e-5,
                 beta=0.1, rpo_alpha=1.0, max_completion_length=512, warmup_steps=10),
    ),
}


EVAL_SAMPLES = 4  # samples per held-out problem at temperature 1, beside the greedy completion


@dataclass
class PipelineConfig:
    preset: Literal["tiny", "small", "code", "base"] = field(default="tiny", metadata={"help": "model and budget"})
    out_dir: str = field(default="", metadata={"help": "report folder (default runs/pipeline-PRESET)"})
    seed: int = field(default=0, metadata={"help": "seed for data, initialisation and sampling"})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda (default: cuda if available)"})
    dpo: bool = field(default=True, metadata={"help": "also run iterative DPO from the SFT model (the comparison)"})
    r1_zero: bool = field(default=True, metadata={"help": "also run GRPO straight from the pretrained model"})
    rewards: str = field(default="accuracy,format=0.5", metadata={"help": "GRPO rewards by name with weights"})
    scale: float = field(default=1.0, metadata={"help": "multiply every stage's steps (e.g. 0.1 for a smoke run)"})
    overrides: list[str] = field(default_factory=list, metadata={
        "help": "stage settings over the preset's, as STAGE.FIELD=VALUE (stages pretrain, sft, grpo, dpo; fields "
                "as the stage's own flags; grpo.* applies to the R1-Zero run too), e.g. grpo.max_steps=500 "
                "grpo.temperature=1.2"})
    eval_problems: int | None = field(default=None, metadata={"help": "held-out questions (default: the preset's)"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})
    resume: bool = field(default=False, metadata={
        "help": "keep the stages an earlier run of this out-dir finished (model and evaluation) and run the rest; "
                "a stage cut short continues from its latest checkpoint; a stage whose --overrides (or --rewards) "
                "changed trains again, with every stage that starts from its model"})

    def __post_init__(self) -> None:
        if not self.out_dir:
            self.out_dir = f"runs/pipeline-{self.preset}"
        if self.scale <= 0:
            raise ValueError(f"--scale must be positive, got {self.scale}")
        if self.eval_problems is not None and self.eval_problems < 1:
            raise ValueError(f"--eval-problems must be at least 1, got {self.eval_problems}")
        stage_overrides(self.overrides)  # checked now, not after the earlier stages have trained


# what the pipeline itself sets for every stage: not open to --overrides
_PIPELINE_FIELDS = {"out_dir", "init_from", "problems", "tasks", "n_problems", "difficulty", "pairs", "corpus",
                    "template", "seed", "device", "progress", "overwrite", "resume", "eval_problems", "preset",
                    "max_new_tokens", "rewards"}


def _stage_configs() -> dict[str, type]:
    from train.dpo import DPOConfig
    from train.grpo import GRPOConfig
    from train.pretrain import PretrainConfig
    from train.sft import SFTConfig

    return {"pretrain": PretrainConfig, "sft": SFTConfig, "grpo": GRPOConfig, "dpo": DPOConfig}


def stage_overrides(items: list[str]) -> dict[str, dict]:
    """``["grpo.max_steps=500", "sft.lr=3e-4"]`` -> ``{"grpo": {"max_steps": 500}, "sft": {"lr": 0.0003}}``,
    each value checked against the stage config's field type; ``ValueError`` naming a bad item.

    >>> stage_overrides(["grpo.max_steps=500", "grpo.temperature=1.2", "dpo.pack_pairs=true"])
    {'grpo': {'max_steps': 500, 'temperature': 1.2}, 'dpo': {'pack_pairs': True}}
    """
    import yaml

    from train.config import _convert, _fields

    configs = _stage_configs()
    out: dict[str, dict] = {}
    for item in items:
        target, sep, text = item.partition("=")
        stage, dot, name = target.strip().partition(".")
        name = name.replace("-", "_")
        if not sep or not dot or not name:
            raise ValueError(f"--overrides {item!r}: expected STAGE.FIELD=VALUE, e.g. grpo.max_steps=500")
        if stage not in configs:
            raise ValueError(f"--overrides {item!r}: unknown stage {stage!r}; choose from {', '.join(configs)}")
        fields = _fields(configs[stage])
        if name not in fields:
            raise ValueError(f"--overrides {item!r}: {configs[stage].__name__} has no field {name!r}")
        if name in _PIPELINE_FIELDS:
            hint = " (its own --rewards sets GRPO's rewards)" if name == "rewards" else ""
            raise ValueError(f"--overrides {item!r}: the pipeline sets {name} itself{hint}")
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        out.setdefault(stage, {})[name] = _convert(f"--overrides {target}", fields[name][1], value)
    return out


def _steps(stage: dict, scale: float, overrides: dict | None = None) -> dict:
    """A preset stage's settings with its steps scaled, then ``overrides`` (exact values: not scaled)."""
    stage = dict(stage)
    stage["max_steps"] = max(1, round(stage["max_steps"] * scale))
    stage.update(overrides or {})
    stage["warmup_steps"] = min(stage.get("warmup_steps", 0), stage["max_steps"])
    if "rounds" in stage:  # iterative DPO: every round needs a step
        stage["rounds"] = min(stage["rounds"], stage["max_steps"])
    return stage


# the model each stage starts from
_UPSTREAM = {"pretrain": None, "sft": "pretrain", "grpo": "sft", "dpo": "sft", "r1_zero": "pretrain"}


def _stale_stages(recorded: dict, current: dict) -> list[str]:
    """Stages to train again: those whose own settings differ from the recorded ones, and every stage
    downstream of one of them (``_UPSTREAM`` order: a stage comes after the one it starts from)."""
    stale: list[str] = []
    for name, upstream in _UPSTREAM.items():
        if recorded.get(name) != current.get(name) or upstream in stale:
            stale.append(name)
    return stale


def corpus_documents(rows: list[dict], template: str, seed: int, tagged_share: float = 0.0,
                     chat_share: float = 0.0) -> list[str]:
    """The pretraining text: each problem with its worked solution as a plain document (``Problem: ...
    Solution: ... Answer: ...``), or, for seeded shares of the problems, as a dialogue in ``template``, the
    way real base models' corpora hold chat transcripts: for ``chat_share`` of them a reply that gives the
    answer alone (``The answer is X.``), for ``tagged_share`` a reply that reasons step by step in ``<think>``
    and answers in ``<answer>``. A problem's form hangs on its prompt and the seed alone.

    >>> row = {"prompt": "Calculate $6 + 7$.", "solution": "6 + 7 = 13.", "answer": "13"}
    >>> corpus_documents([row], "plain", seed=0)[0].splitlines()[0]
    'Problem: Calculate $6 + 7$.'
    >>> corpus_documents([row], "plain", seed=0, tagged_share=1.0)
    ['User: Calculate $6 + 7$.\\nAssistant: <think>6 + 7 = 13.</think> <answer>13</answer>']
    >>> corpus_documents([row], "plain", seed=0, chat_share=1.0)
    ['User: Calculate $6 + 7$.\\nAssistant: The answer is 13.']
    """
    import random

    from datagen.api import to_corpus
    from train.template import TEMPLATES, render_completion, render_prompt, worked_reasoning

    if tagged_share < 0 or chat_share < 0 or tagged_share + chat_share > 1:
        raise ValueError(f"tagged_share {tagged_share} and chat_share {chat_share}: shares between 0 and 1 "
                         "that add up to at most 1")
    docs = []
    for row, plain in zip(rows, to_corpus(rows)):
        draw = random.Random(f"corpus:{seed}:{row['prompt']}").random()
        prompt = render_prompt(row["prompt"], TEMPLATES[template])
        if draw < tagged_share:
            docs.append(prompt + render_completion(worked_reasoning(row), row["answer"]))
        elif draw < tagged_share + chat_share:
            docs.append(f"{prompt} The answer is {row['answer']}.")
        else:
            docs.append(plain)
    return docs


def _read_metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage; return the results (also written to ``results.json`` and ``report.md``)."""
    import torch

    from train.dpo import DPOConfig, dpo
    from train.evaluate import evaluate_with_samples
    from train.grpo import GRPOConfig, grpo
    from train.load import load_policy, make_problem_rows
    from train.pretrain import PretrainConfig, pretrain
    from train.sft import SFTConfig, sft
    from train.template import TEMPLATES
    from verifiers.scoring import write_jsonl

    budget = PIPELINES[cfg.preset]
    on_cpu = (cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu"
    if on_cpu and budget.cpu_threads:
        torch.set_num_threads(budget.cpu_threads)
    out = Path(cfg.out_dir)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    common = {"seed": cfg.seed, "device": cfg.device, "progress": cfg.progress, "overwrite": True}

    # stages finished by an earlier run of this folder (--resume): seconds and evaluation of each
    state_path = out / "stages.json"
    overrides = stage_overrides(cfg.overrides)
    # each stage's settings: the preset's, its steps scaled, then the overrides
    budgets = {name: _steps(getattr(budget, name), cfg.scale, overrides.get(name))
               for name in ("pretrain", "sft", "grpo", "dpo")}
    # completions are sampled and evaluated to GRPO's length in every stage
    max_completion = budgets["grpo"]["max_completion_length"]
    settings = {"preset": cfg.preset, "seed": cfg.seed, "scale": cfg.scale, "eval_problems": cfg.eval_problems,
                "max_completion_length": max_completion}
    # what each stage trains with beyond the shared settings (the preset's values with the overrides, so a
    # preset changed between versions counts too): a stage whose own settings changed since the earlier run
    # is trained again under --resume, and so is every stage that starts from its model
    grpo_settings = {**budgets["grpo"], "rewards": cfg.rewards}
    stage_settings = {"pretrain": {**budgets["pretrain"], "tagged_share": budget.tagged_share,
                                   "chat_share": budget.chat_share}, "sft": budgets["sft"], "grpo": grpo_settings,
                      "dpo": budgets["dpo"], "r1_zero": grpo_settings}
    done: dict = json.loads(state_path.read_text()) if cfg.resume and state_path.exists() else {}
    stale: list[str] = []
    if done:
        recorded, recorded_stages = done.pop("settings", None), done.pop("stage_settings", {})
        if recorded != settings:
            raise ValueError(f"--resume: {out} holds a run with other settings than {settings}; "
                             "use the same flags, or another --out-dir")
        stale = _stale_stages(recorded_stages, stage_settings)
        for name in stale:
            if done.pop(name, None) is not None:
                why = ("settings changed since the earlier run" if recorded_stages.get(name) != stage_settings[name]
                       else f"starts from the {_UPSTREAM[name]} model, which is new")
                print(f"  {name:<13} {why}: trained again")
    if not cfg.resume:
        state_path.unlink(missing_ok=True)
    times: dict[str, float] = {name: d["seconds"] for name, d in done.items()}
    results: dict[str, dict] = {name: d["result"] for name, d in done.items() if "result" in d}

    def record(name: str, seconds: float, result: dict | None = None) -> None:
        times[name] = round(seconds, 2)
        done[name] = {"seconds": times[name], **({"result": result} if result is not None else {})}
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"settings": settings, "stage_settings": stage_settings, **done}, indent=1) + "\n")
        tmp.replace(state_path)  # a crash mid-write leaves the previous record

    # 1. data: one held-out set for every stage's evaluation; training problems never include it
    started = time.perf_counter()
    files = ("train.jsonl", "rl.jsonl", "test.jsonl")
    if "data" in done and all((data / f).exists() for f in files):
        from verifiers.scoring import read_jsonl

        train_rows, rl_rows, test_rows = ([row for _, row in read_jsonl(data / f)] for f in files)
    else:
        import random

        from datagen.api import split_rows

        rows = make_problem_rows(budget.tasks, budget.n_problems, cfg.seed, budget.difficulty)
        train_rows, test_rows = split_rows(rows, test_size=budget.test_size, seed=cfg.seed)
        # GRPO's prompts are questions the model never saw solved (not in the pretraining text nor in SFT):
        # reinforcement on memorised questions teaches little that carries over to new ones
        rl_rows = train_rows
        if budget.rl_size > 0:
            train_rows, rl_rows = split_rows(train_rows, test_size=budget.rl_size, seed=cfg.seed + 1)
        distinct = list({r["prompt"]: r for r in test_rows}.values())  # each question once (easy ones repeat)
        random.Random(cfg.seed).shuffle(distinct)  # every task represented, not the first ones generated
        test_rows = distinct[: cfg.eval_problems or budget.eval_problems]
        write_jsonl(train_rows, data / "train.jsonl")
        write_jsonl(rl_rows, data / "rl.jsonl")
        write_jsonl(test_rows, data / "test.jsonl")
        record("data", time.perf_counter() - started)
    rl_text = "the same" if budget.rl_size == 0 else f"{len(rl_rows):,} others"
    print(f"pipeline {cfg.preset}: {len(train_rows):,} problems for pretraining and SFT, {rl_text} for GRPO and "
          f"DPO ({budget.tasks}, difficulty {budget.difficulty}), {len(test_rows)} held out -> {out}")

    template = TEMPLATES[budget.template]

    def evaluate(name: str, folder: Path) -> dict:
        model, tokenizer = load_policy(folder / "final")
        model = model.to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # beside greedy pass@1: accuracy of samples at temperature 1 (what GRPO and DPO train on) and pass@k
        return evaluate_with_samples(model, tokenizer, test_rows, template=template, max_new_tokens=max_completion,
                                     samples=EVAL_SAMPLES, seed=cfg.seed,
                                     workers=budgets["grpo"].get("reward_workers", 1))  # code runs tests: in parallel

    def run(name: str, fn, config) -> Path:
        folder = Path(config.out_dir)
        if name in results and (folder / "final" / "config.json").exists():
            print(f"  {name:<13} kept from the earlier run (--resume)")
        else:
            # a stage cut short continues from its latest checkpoint, unless that was made with other settings
            config.resume = cfg.resume and name not in stale
            began = time.perf_counter()
            fn(config)
            record(name, time.perf_counter() - began, evaluate(name, folder))
            results[name] = done[name]["result"]
        r = results[name]
        print(f"  {name:<13} accuracy {r['accuracy']:.1%}  format {r['format']:.1%}  ({times[name]:.0f} s)")
        return folder

    # the pretraining text (written again each run: --resume retrains pretraining when tagged_share changed)
    corpus = corpus_documents(train_rows, budget.template, cfg.seed, budget.tagged_share, budget.chat_share)
    write_jsonl([{"text": t} for t in corpus], data / "corpus.jsonl")
    pre = run("pretrain", pretrain, PretrainConfig(out_dir=str(out / "pretrain"), preset=budget.model,
                                                   corpus=str(data / "corpus.jsonl"),
                                                   **budgets["pretrain"], **common))
    sft_dir = run("sft", sft, SFTConfig(out_dir=str(out / "sft"), init_from=str(pre / "final"),
                                        problems=str(data / "train.jsonl"), template=budget.template,
                                        eval_problems=0, max_new_tokens=max_completion,
                                        **budgets["sft"], **common))
    grpo_common = dict(problems=str(data / "rl.jsonl"), template=budget.template, rewards=cfg.rewards,
                       eval_problems=0, **budgets["grpo"], **common)
    run("grpo", grpo, GRPOConfig(out_dir=str(out / "grpo"), init_from=str(sft_dir / "final"), **grpo_common))
    if cfg.dpo:
        run("dpo", dpo, DPOConfig(out_dir=str(out / "dpo"), init_from=str(sft_dir / "final"),
                                  problems=str(data / "rl.jsonl"), template=budget.template, eval_problems=0,
                                  **budgets["dpo"], **common))
    if cfg.r1_zero:
        run("r1_zero", grpo, GRPOConfig(out_dir=str(out / "r1_zero"), init_from=str(pre / "final"), **grpo_common))

    summary = {"preset": cfg.preset, "tasks": budget.tasks, "difficulty": budget.difficulty, "overrides": overrides,
               "sft_worked_share": budgets["sft"].get("worked_share", 1.0),
               "eval_problems": len(test_rows), "seconds": {k: round(v, 1) for k, v in times.items()},
               # in recipe order, whatever order --resume trained them in
               "stages": {name: results[name] for name in STAGE_NAMES if name in results}}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    plots = _plots(out, cfg.r1_zero)
    (out / "report.md").write_text(report_markdown(summary, plots))
    print("\n" + results_table(summary))
    print(f"\nreport: {out / 'report.md'}")
    return summary


STAGE_NAMES = {"pretrain": "pretrained", "sft": "SFT", "grpo": "SFT + GRPO", "dpo": "SFT + iterative DPO",
               "r1_zero": "R1-Zero (GRPO, no SFT)"}


def results_table(summary: dict) -> str:
    """Markdown table: greedy accuracy, sampled accuracy and pass@k, format and time per stage, then greedy
    accuracy per task."""
    stages = summary["stages"]
    tasks = sorted({t for r in stages.values() for t in r.get("per_task", {})})
    k = EVAL_SAMPLES
    head = (f"| stage | accuracy | sampled (T=1) | pass@{k} | format | completion tokens | time (s) |"
            + "".join(f" {t} |" for t in tasks))
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(tasks)]

    def share(value) -> str:
        return "-" if value is None else f"{value:.1%}"

    for name, r in stages.items():
        per_task = "".join(f" {r['per_task'].get(t, 0):.1%} |" for t in tasks)
        lines.append(f"| {STAGE_NAMES.get(name, name)} | {r['accuracy']:.1%} | {share(r.get('sampled_accuracy'))} | "
                     f"{share(r.get(f'pass@{k}'))} | {r['format']:.1%} | {r['completion_tokens']:.0f} | "
                     f"{summary['seconds'].get(name, 0):.0f} |{per_task}")
    return "\n".join(lines)


def report_markdown(summary: dict, plots: list[str]) -> str:
    text = [f"# rlvr pipeline: preset {summary['preset']}", "",
            f"Tasks `{summary['tasks']}`, difficulty {summary['difficulty']}; every stage evaluated on the same "
            f"{summary['eval_problems']} held-out problems: accuracy greedy (by each problem's verifier), then of "
            f"{EVAL_SAMPLES} samples per problem at temperature 1 and pass@{EVAL_SAMPLES}; format by the strict "
            "R1-Zero check of the greedy completions.", ""]
    if summary.get("sft_worked_share", 1.0) < 1.0:
        text += [f"SFT is a cold start: {summary['sft_worked_share']:.0%} of its problems show the worked solution in "
                 "`<think>`, the others only `The answer is X.` (`sft.worked_share`).", ""]
    if summary.get("overrides"):
        text += ["Stage settings over the preset's: " + ", ".join(
            f"`{stage}.{k}={v}`" for stage, d in summary["overrides"].items() for k, v in d.items()) + ".", ""]
    text += [results_table(summary), ""]
    stages = summary["stages"]
    if {"sft", "grpo", "dpo"} <= stages.keys():
        gain = {name: 100 * (stages[name]["accuracy"] - stages["sft"]["accuracy"]) for name in ("grpo", "dpo")}
        text += [f"From the same SFT model, on the same prompts: GRPO {gain['grpo']:+.1f} points, iterative DPO "
                 f"{gain['dpo']:+.1f} points of held-out accuracy.", ""]
    text += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(text) + "\n"


def _running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start).

    >>> _running_mean([1.0, 3.0, 5.0, 7.0], 2)
    [1.0, 2.0, 4.0, 6.0]
    """
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


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
            steps, values = [p[0] for p in points], [p[1] for p in points]
            line, = ax.plot(steps, values, alpha=0.3, lw=0.8)
            ax.plot(steps, _running_mean(values, 10), color=line.get_color(), label=label)  # the trend
            ax.set(title=f"GRPO {key.replace('_', ' ')}", xlabel="step")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "grpo.png", dpi=110)
    plt.close(fig)
    made.append("grpo.png")
    rows = [r for r in _read_metrics(out / "dpo") if "loss" in r]
    if rows:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
        for ax, key in zip(axes, ("loss", "rewards/accuracies", "rewards/margins")):
            ax.plot([r["step"] for r in rows], [r[key] for r in rows])
            for r in rows:
                if "round/pairs" in r:  # a new round: fresh pairs from the current policy
                    ax.axvline(r["step"], color="grey", lw=0.6, ls=":")
            ax.set(title=f"iterative DPO {key}", xlabel="step")
        fig.tight_layout()
        fig.savefig(out / "dpo.png", dpi=110)
        plt.close(fig)
        made.append("dpo.png")
    return made


def main(argv: list[str] | None = None) -> int:
    from train.config import run_stage

    return run_stage(PipelineConfig, pipeline, argv, prog="rlvr pipeline", description=__doc__, print_result=False)


if __name__ == "__main__":
    sys.exit(main())

