"""``rlvr pipeline``: the whole recipe in one command, with a report.

generate problems -> train the tokenizer and pretrain -> SFT on worked solutions (a cold start: worked for
a share of the problems, the answer alone for the rest) -> GRPO with verifiable rewards on questions kept out of
pretraining and SFT, beside it iterative DPO from the same SFT model (the comparison) and the R1-Zero path
(GRPO straight from the pretrained model, template and rule-based rewards only). Every stage's model is
evaluated on the same held-out problems; the report folder gets ``report.md`` (accuracy and format per stage
and task, time per stage), ``results.json`` and PNG plots (loss curves; reward, accuracy and completion length
over GRPO steps).

What lets R1-Zero start. A model pretrained from scratch on plain "Problem: ... Solution: ..." text has never
seen the template or the tags: no sample earns a reward and GRPO has nothing to reinforce (the small preset
stayed at 4% with 0% format). Real base models start because their pretraining text already holds chat
transcripts, some of them reasoning step by step in tagged blocks. The presets' corpora do the same
(``corpus_documents``): a share of the training problems (``tagged_share``) is written as the template's
dialogue whose reply reasons in ``<think>`` and answers in ``<answer>``, and another share (``chat_share``)
as a dialogue whose reply gives the answer alone. Nothing else changes: no demonstrations in the RL stage,
the RL and held-out questions are in no document, the rewards are the same accuracy and format rules, and
the pretrained model is evaluated as it is. GRPO then has both behaviours to choose from, and the reward
picks the tagged, reasoned one.

Code: the ``code`` preset (its comment in ``PIPELINES`` says why a preset of its own): GRPO rewarded by the
problems' tests, run in the sandbox by the reward workers; the report's accuracy is held-out pass@1 (every
test passes).

    rlvr pipeline --preset tiny                 # CPU, 2 cores, minutes: what `make demo` runs
    rlvr pipeline --preset small --out-dir runs/small   # one GPU, about a quarter of an hour
    rlvr pipeline --preset code --out-dir runs/code     # one GPU: code, rewarded by sandboxed tests
    rlvr pipeline --preset small --rlhf --no-dpo --no-r1-zero --out-dir runs/rlhf   # the human-feedback experiment

The report folder also holds every stage's run (checkpoints included). What ``docs/results/NAME/`` keeps of a
run is its report, plots, results, settings and each stage's metrics:

    mkdir -p docs/results/NAME/metrics && cp runs/small/{report.md,results.json,stages.json,*.png} docs/results/NAME/
    for f in runs/small/*/metrics.jsonl; do cp "$f" docs/results/NAME/metrics/"$(basename "$(dirname "$f")")".jsonl; done
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from train.config import check_values, config_to_dict
from train.dpo import DPOConfig
from train.grpo import GRPOConfig
from train.pretrain import PretrainConfig
from train.report import ReportTo, check_report_to
from train.rlhf import UPSTREAM as RLHF_UPSTREAM
from train.rm import RMConfig
from train.sft import SFTConfig, sft_reasoning

__all__ = ["PIPELINES", "Budget", "PipelineConfig", "cold_start_kinds", "corpus_documents", "kind_accuracy", "main",
           "pipeline", "problem_kind", "results_table", "running_mean", "split_problems", "stage_overrides"]


@dataclass(frozen=True)
class Budget:
    """What one pipeline preset trains: its data, and each stage's settings where they differ from the
    stage's own defaults (the pipeline sets the run folders, the policies and the problems)."""

    tasks: str
    difficulty: str
    n_problems: int
    eval_problems: int
    template: str
    test_size: float  # share of distinct prompts held out
    # share of the other prompts kept for GRPO and DPO only: questions the model never saw solved. 0: they
    # train on the SFT questions (the tiny preset's single-digit facts are too few to hold a quarter out)
    rl_size: float
    pretrain: PretrainConfig  # its preset names the model's size
    sft: SFTConfig
    grpo: GRPOConfig
    dpo: DPOConfig  # iterative DPO from the same SFT model, on the same prompts as GRPO: the comparison
    # shares of the pretraining documents written as the template's dialogue (corpus_documents): replies that
    # reason in <think> and answer in <answer>, and replies that give the answer alone. What lets R1-Zero start
    tagged_share: float = 0.0
    chat_share: float = 0.0
    # the column that decides a problem's split (datagen.split_rows): "answer" keeps every problem of one
    # reference program on one side, so a held-out code problem's program was never trained on
    split_by: str = "prompt"
    # share of the kinds of problem (``problem_kind``: a code problem's reference program shape, else its task)
    # whose training problems SFT shows, a seeded choice; the others are in the pretraining text and among
    # GRPO's prompts, never in SFT. 1: SFT shows every kind. A narrow cold start, as R1's few thousand examples
    # are: what RL then carries to the kinds SFT never showed is measured apart (``kind_accuracy``)
    sft_kinds: float = 1.0


PIPELINES: dict[str, Budget] = {
    # CPU, 2 cores: under 10 minutes. Arithmetic facts (difficulty 1) and chains of two of them (difficulty 2:
    # three single-digit operands, about 4,000 distinct questions), so 200 distinct questions are held out and
    # a quarter of the rest kept for GRPO and DPO. A cold start as small's, with half the SFT problems worked:
    # the SFT model answers many questions at once although its worked solutions are right far more often, and
    # GRPO learns from the reward that working the steps pays. That gap exists only once the model copies
    # operands from the question into its steps, which it learns suddenly, at a step that varies with the seed
    # and the CPU's rounding: with difficulty 1 mixed in (single steps on the question's two operands) the first
    # step's copy arrives by about 800 pretraining steps, but the second step's (the first operand after a
    # parenthesised step, the third after a left-to-right one) can still be missing at 1,000 (15-23% on some
    # seeds and rounding paths). SFT's loss falls on the completions alone, so its worked steps train exactly
    # that copy: 300 SFT steps with 30% worked left seed 2 +9.5 points; 600 steps gave +69.5/+41.5/+36.5 on seeds
    # 0-2 but -2.5 on seed 1 with one thread (another rounding path), where half the problems worked gave +18.5
    # at no cost in time (docs/BENCHMARKS.md 5.9). Torch's own thread count: on two idle cores two threads step
    # 1.8x faster than one. The corpus shares are small's, so R1-Zero starts the same way.
    "tiny": Budget(
        tasks="arithmetic", difficulty="1-2", n_problems=12000, eval_problems=200, template="plain", test_size=0.1,
        rl_size=0.25,
        pretrain=PretrainConfig(max_steps=1000, batch_size=16, seq_len=256, lr=6e-3, warmup_steps=20),
        sft=SFTConfig(max_steps=600, warmup_steps=10, max_len=256, worked_share=0.5),
        grpo=GRPOConfig(max_steps=40, prompts_per_step=16, max_completion_length=96, lr=5e-5, reward_workers=0),
        dpo=DPOConfig(rounds=2, max_steps=30, prompts_per_round=96, lr=2e-5, rpo_alpha=1.0, max_completion_length=96,
                      warmup_steps=3),
        tagged_share=0.1, chat_share=0.2,
    ),
    # One GPU, about a quarter of an hour: the math mix at low difficulty, the R1-Zero template.
    "small": Budget(
        tasks="arithmetic,fractions,linear_equation,number_theory,sequence,word_problem", difficulty="1-3",
        n_problems=120000, eval_problems=500, template="r1_zero", test_size=0.02, rl_size=0.25,
        pretrain=PretrainConfig(preset="small", max_steps=1500, batch_size=64, seq_len=512, warmup_steps=100),
        # an R1-style cold start: SFT shows the worked solution for 30% of its problems and only the answer
        # for the rest, so GRPO has a choice to learn from reward alone: whether reasoning pays. (With every
        # solution worked, the SFT model is near its ceiling at this size and GRPO moved it by -4 to +2
        # points: docs/BENCHMARKS.md 5.5.)
        sft=SFTConfig(max_steps=600, batch_size=64, lr=5e-4, warmup_steps=30, worked_share=0.3),
        grpo=GRPOConfig(max_steps=300, prompts_per_step=32, lr=5e-5, reward_workers=8),
        dpo=DPOConfig(rounds=3, max_steps=150, prompts_per_round=1024, batch_size=32, lr=2e-5, rpo_alpha=1.0),
        # R1-Zero's start: 10% of the problems as tagged, reasoned dialogues and 20% as answer-only ones, so the
        # pretrained model mostly answers directly in the template and now and then reasons in the tags (the
        # mix of the SFT cold start, in the pretraining text instead of a stage of its own)
        tagged_share=0.1, chat_share=0.2,
    ),
    # One GPU: code, GRPO rewarded by the problems' tests run in the sandbox (the reward workers run it, and
    # the evaluations judge in as many processes). A preset of its own rather than code tasks in "small": a
    # code reward is a sandboxed run of tens of milliseconds where a math answer is a string check, code
    # completions are longer, and mixed into small's 500 held-out questions code would get about 80 of them (a
    # standard error near 5 points, too coarse for its effect), while small's math results stay comparable
    # with their history. The split is by reference program (split by prompt, 489 of 500 held-out problems had
    # their program in the SFT set), a tenth of the programs held out, a quarter of the rest kept for GRPO.
    # The cold start is narrow: SFT shows the problems of 30% of the kinds of program (``sft_kinds``); the
    # others are only in the pretraining text, as plain documents (no dialogue shares: a dialogue of every kind
    # there would be SFT under another name), and among GRPO's prompts. With every kind in SFT the SFT model
    # scored 90.4% held-out pass@1 (docs/BENCHMARKS.md 5.10): the generators' programs come in few shapes (67
    # at difficulty 1-3, names and constants masked), and the pretraining text holds every one, so SFT only
    # taught the template and left GRPO nothing to gain. What GRPO does with the kinds SFT never showed is
    # the measure, reported apart (``kind_accuracy``).
    "code": Budget(
        tasks="code_function,code_stdio", difficulty="1-3", n_problems=60000, eval_problems=500, template="r1_zero",
        test_size=0.1, rl_size=0.25, split_by="answer",
        pretrain=PretrainConfig(preset="small", max_steps=1500, batch_size=64, seq_len=512, warmup_steps=100),
        sft=SFTConfig(max_steps=300, batch_size=64, lr=5e-4, warmup_steps=30),
        grpo=GRPOConfig(max_steps=300, prompts_per_step=32, lr=5e-5, reward_workers=8),
        dpo=DPOConfig(rounds=3, max_steps=150, prompts_per_round=256, batch_size=32, lr=2e-5, rpo_alpha=1.0),
        sft_kinds=0.3,
    ),
    "base": Budget(
        tasks="math", difficulty="1-5", n_problems=400000, eval_problems=1000, template="r1_zero", test_size=0.01, rl_size=0.25,
        pretrain=PretrainConfig(preset="base", max_steps=4000, seq_len=2048, lr=1.5e-3, warmup_steps=200),
        sft=SFTConfig(max_steps=1500, batch_size=64, lr=3e-4, warmup_steps=50, max_len=768),
        grpo=GRPOConfig(max_steps=300, prompts_per_step=32, max_completion_length=512, reward_workers=12),
        dpo=DPOConfig(rounds=3, max_steps=300, prompts_per_round=2048, batch_size=32, lr=1e-5, rpo_alpha=1.0,
                      max_completion_length=512),
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
    rlhf: bool = field(default=False, metadata={
        "help": "also run the human-feedback experiment from the SFT model (train.rlhf): a reward model on "
                "verifier-made pairs, then GRPO on it alone, GRPO on it mixed with the verifiable rewards, and "
                "best-of-n with it, each judged by the verifiers beside the reward model's own score"})
    rewards: str = field(default="accuracy,format=0.5", metadata={"help": "GRPO rewards by name with weights"})
    scale: float = field(default=1.0, metadata={"help": "multiply every stage's steps (e.g. 0.1 for a smoke run)"})
    overrides: list[str] = field(default_factory=list, metadata={
        "help": "stage settings over the preset's, as STAGE.FIELD=VALUE (stages pretrain, sft, grpo, dpo, and rm "
                "under --rlhf; fields as the stage's own flags; grpo.* applies to the R1-Zero run too), e.g. "
                "grpo.max_steps=500 grpo.temperature=1.2"})
    eval_problems: int | None = field(default=None, metadata={"help": "held-out questions (default: the preset's)"})
    tagged_share: float | None = field(default=None, metadata={
        "help": "share of the pretraining problems written as the template's dialogue, reasoning in <think> and "
                "answering in <answer> (default: the preset's)"})
    chat_share: float | None = field(default=None, metadata={
        "help": "share written as the template's dialogue with the answer alone (default: the preset's)"})
    sft_kinds: float | None = field(default=None, metadata={
        "help": "share of the kinds of problem (a code problem's program shape, else its task) whose problems SFT "
                "shows, a seeded choice; the others only in the pretraining text and GRPO's prompts (a narrow cold "
                "start; default: the preset's)"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})
    report_to: ReportTo = field(default="none", metadata={
        "help": "every stage also logs to tensorboard, trackio or wandb (offline), as the stages' --report-to"})
    resume: bool = field(default=False, metadata={
        "help": "keep the stages an earlier run of this out-dir finished (model and evaluation) and run the rest; "
                "a stage cut short continues from its latest checkpoint; a stage whose --overrides (or --rewards) "
                "changed trains again, with every stage that starts from its model"})

    def __post_init__(self) -> None:
        check_report_to(self.report_to)
        if not self.out_dir:
            self.out_dir = f"runs/pipeline-{self.preset}"
        if self.scale <= 0:
            raise ValueError(f"--scale must be positive, got {self.scale}")
        if self.eval_problems is not None and self.eval_problems < 1:
            raise ValueError(f"--eval-problems must be at least 1, got {self.eval_problems}")
        stage_overrides(self.overrides)  # checked now, not after the earlier stages have trained
        if self.sft_kinds is not None:
            _check_kinds_share(self.sft_kinds)
        _check_shares(**self.corpus_shares())

    def corpus_shares(self) -> dict[str, float]:
        """The pretraining text's shares of dialogues (``corpus_documents``): the flags', else the preset's."""
        budget = PIPELINES[self.preset]
        return {"tagged_share": budget.tagged_share if self.tagged_share is None else self.tagged_share,
                "chat_share": budget.chat_share if self.chat_share is None else self.chat_share}


# what the pipeline itself sets for every stage: not open to --overrides
_PIPELINE_FIELDS = {"out_dir", "init_from", "problems", "tasks", "n_problems", "difficulty", "pairs", "corpus",
                    "template", "seed", "device", "progress", "overwrite", "resume", "eval_problems", "preset",
                    "max_new_tokens", "rewards", "report_to"}
# settings that do not change what a stage learns (paths: the folder may have moved; how often it logs and saves
# checkpoints, and how many it keeps): a resumed pipeline does not retrain a stage for them
_UNRECORDED = ("out_dir", "init_from", "problems", "corpus", "device", "progress", "overwrite", "resume", "report_to",
               "log_every", "save_every", "keep_last")
_CONFIGS = {"pretrain": PretrainConfig, "sft": SFTConfig, "grpo": GRPOConfig, "dpo": DPOConfig,
            "rm": RMConfig}  # rm: the reward model of --rlhf


def stage_overrides(items: list[str]) -> dict[str, dict]:
    """``["grpo.max_steps=500", "sft.lr=3e-4"]`` -> ``{"grpo": {"max_steps": 500}, "sft": {"lr": 0.0003}}``,
    each value checked against the stage config's field type; ``ValueError`` naming a bad item.

    >>> stage_overrides(["grpo.max_steps=500", "grpo.temperature=1.2", "dpo.pack_pairs=true"])
    {'grpo': {'max_steps': 500, 'temperature': 1.2}, 'dpo': {'pack_pairs': True}}
    """
    import yaml

    out: dict[str, dict] = {}
    for item in items:
        target, sep, text = item.partition("=")
        stage, dot, name = target.strip().partition(".")
        name = name.replace("-", "_")
        if not sep or not dot or not name:
            raise ValueError(f"--overrides {item!r}: expected STAGE.FIELD=VALUE, e.g. grpo.max_steps=500")
        if stage not in _CONFIGS:
            raise ValueError(f"--overrides {item!r}: unknown stage {stage!r}; choose from {', '.join(_CONFIGS)}")
        if name not in {f.name for f in dataclasses.fields(_CONFIGS[stage])}:
            raise ValueError(f"--overrides {item!r}: {_CONFIGS[stage].__name__} has no field {name!r}")
        if name in _PIPELINE_FIELDS:
            hint = " (its own --rewards sets GRPO's rewards)" if name == "rewards" else ""
            raise ValueError(f"--overrides {item!r}: the pipeline sets {name} itself{hint}")
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        try:
            out.setdefault(stage, {}).update(check_values(_CONFIGS[stage], {name: value}))
        except ValueError as exc:
            raise ValueError(f"--overrides {target}: {exc}") from None
    return out


def _stage(preset, scale: float, overrides: dict, **fixed):
    """A preset stage's config: its steps scaled, then ``overrides`` (exact values: not scaled), then what
    the pipeline sets (``fixed``)."""
    values = {"max_steps": max(1, round(preset.max_steps * scale)), **overrides}
    if isinstance(preset, DPOConfig):  # iterative DPO: every round needs a step
        values["rounds"] = min(values.get("rounds", preset.rounds), values["max_steps"])
    return dataclasses.replace(preset, **values, **fixed)  # the warmup shrinks to fit the steps


# the model each stage starts from
_UPSTREAM = {"pretrain": None, "sft": "pretrain", "grpo": "sft", "dpo": "sft", "r1_zero": "pretrain", **RLHF_UPSTREAM}


def _stale_stages(recorded: dict, current: dict) -> list[str]:
    """Stages to train again: those whose own settings differ from the recorded ones, and every stage
    downstream of one of them (``_UPSTREAM`` order: a stage comes after the one it starts from)."""
    stale: list[str] = []
    for name, upstream in _UPSTREAM.items():
        kept = recorded.get(name)  # an earlier version's record may hold keys now unrecorded
        if kept is not None:
            kept = {k: v for k, v in kept.items() if k not in _UNRECORDED}
        if kept != current.get(name) or upstream in stale:
            stale.append(name)
    return stale


def _check_shares(tagged_share: float, chat_share: float) -> None:
    if tagged_share < 0 or chat_share < 0 or tagged_share + chat_share > 1:
        raise ValueError(f"--tagged-share {tagged_share} and --chat-share {chat_share}: shares between 0 and 1 "
                         "that add up to at most 1")


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

    _check_shares(tagged_share, chat_share)
    docs = []
    for row, plain in zip(rows, to_corpus(rows)):
        draw = random.Random(f"corpus:{seed}:{row['prompt']}").random()
        prompt = render_prompt(row["prompt"], TEMPLATES[template])
        if draw < tagged_share:
            docs.append(prompt + render_completion(worked_reasoning(row), row["answer"]))
        elif draw < tagged_share + chat_share:
            docs.append(f"{prompt} {sft_reasoning(row, worked_share=0.0)}")  # SFT's answer-only reply
        else:
            docs.append(plain)
    return docs


def split_problems(budget: Budget, rows: list[dict], seed: int,
                   eval_problems: int | None = None) -> tuple[list[dict], list[dict], list[dict]]:
    """``(train, rl, held_out)`` as a pipeline of ``budget`` splits its generated ``rows``: ``budget.test_size``
    held out (by ``budget.split_by``), ``budget.rl_size`` of the rest kept for GRPO and DPO only (``rl`` is
    ``train`` itself when it is 0), and of the held-out side ``eval_problems`` (default: the budget's) distinct
    questions in a seeded order.

    >>> rows = [{"prompt": f"q{i % 50}", "answer": str(i)} for i in range(200)]
    >>> train, rl, held_out = split_problems(PIPELINES["tiny"], rows, seed=0, eval_problems=3)
    >>> len(held_out), {r["prompt"] for r in held_out} & {r["prompt"] for r in train + rl}
    (3, set())
    """
    import random

    from datagen.api import split_rows

    train_rows, test_rows = split_rows(rows, test_size=budget.test_size, seed=seed, by=budget.split_by)
    # GRPO's prompts are questions the model never saw solved (not in the pretraining text nor in SFT):
    # reinforcement on memorised questions teaches little that carries over to new ones
    rl_rows = train_rows
    if budget.rl_size > 0:
        train_rows, rl_rows = split_rows(train_rows, test_size=budget.rl_size, seed=seed + 1, by=budget.split_by)
    distinct = list({r["prompt"]: r for r in test_rows}.values())  # each question once (easy ones repeat)
    random.Random(seed).shuffle(distinct)  # every task represented, not the first ones generated
    return train_rows, rl_rows, distinct[: eval_problems or budget.eval_problems]


def problem_kind(row: dict) -> str:
    """The kind of problem ``row`` is: a code problem's template (the shape of its reference program), else its
    task.

    >>> problem_kind({"task": "arithmetic"}), problem_kind({"task": "code_function", "meta": '{"template": "rev"}'})
    ('arithmetic', 'code_function/rev')
    """
    meta = row.get("meta")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    template = meta.get("template") if isinstance(meta, dict) else None
    return f"{row.get('task', '?')}/{template}" if template else str(row.get("task", "?"))


def _check_kinds_share(share: float) -> None:
    if not 0 < share <= 1:
        raise ValueError(f"--sft-kinds must be in (0, 1], got {share}")


def cold_start_kinds(kinds: Iterable[str], share: float, seed: int) -> set[str]:
    """The kinds of problem (``problem_kind`` of each training row) whose problems SFT trains on: all of them at
    ``share`` 1, else a seeded ``share`` of the distinct kinds (at least one), whatever their order.

    >>> kinds = list("abcdabcd")
    >>> sorted(cold_start_kinds(kinds, 1.0, seed=0)), len(cold_start_kinds(kinds, 0.5, seed=0))
    (['a', 'b', 'c', 'd'], 2)
    """
    import random

    _check_kinds_share(share)
    kinds = sorted(set(kinds))
    if share >= 1:
        return set(kinds)
    return set(random.Random(f"cold-start:{seed}").sample(kinds, max(1, round(share * len(kinds)))))


def kind_accuracy(completions: list, kinds: set[str]) -> dict[str, float | None]:
    """Greedy held-out accuracy on the kinds of problem SFT showed (``cold_start_kinds``) and on the others.

    >>> from types import SimpleNamespace as N
    >>> done = [N(problem={"task": t}, sample=0, judged=N(correct=c)) for t, c in (("a", 1), ("a", 0), ("b", 1))]
    >>> kind_accuracy(done, {"a"})
    {'sft_kinds_accuracy': 0.5, 'other_kinds_accuracy': 1.0}
    """
    counts = {True: [0, 0], False: [0, 0]}
    for c in completions:
        if c.sample == 0:
            tally = counts[problem_kind(c.problem) in kinds]
            tally[0] += bool(c.judged.correct)
            tally[1] += 1
    return {f"{name}_accuracy": round(right / total, 4) if total else None
            for name, (right, total) in (("sft_kinds", counts[True]), ("other_kinds", counts[False]))}


def _read_metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage; return the results (also written to ``results.json`` and ``report.md``)."""
    import torch

    from train.dpo import dpo
    from train.evaluate import held_out_evaluation, write_completions
    from train.grpo import grpo
    from train.hf import write_model_card
    from train.load import load_policy, make_problem_rows
    from train.pretrain import pretrain
    from train.sft import sft
    from train.template import TEMPLATES
    from verifiers.problem import read_jsonl, write_jsonl

    budget = PIPELINES[cfg.preset]
    kinds_share = budget.sft_kinds if cfg.sft_kinds is None else cfg.sft_kinds
    out = Path(cfg.out_dir)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    overrides = stage_overrides(cfg.overrides)
    # completions are sampled and evaluated to GRPO's length in every stage
    max_completion = overrides.get("grpo", {}).get("max_completion_length", budget.grpo.max_completion_length)
    run = dict(seed=cfg.seed, device=cfg.device, progress=cfg.progress, overwrite=True, report_to=cfg.report_to)
    common = dict(template=budget.template, eval_problems=0, **run)  # the pipeline evaluates every stage itself
    rl_problems = dict(problems=str(data / "rl.jsonl"), **common)
    # each stage's settings: the preset's, its steps scaled, then the overrides, then the pipeline's
    configs = {
        "pretrain": _stage(budget.pretrain, cfg.scale, overrides.get("pretrain", {}), out_dir=str(out / "pretrain"),
                           corpus=str(data / "corpus.jsonl"), **run),
        "sft": _stage(budget.sft, cfg.scale, overrides.get("sft", {}), out_dir=str(out / "sft"),
                      init_from=str(out / "pretrain" / "final"),
                      problems=str(data / ("train.jsonl" if kinds_share >= 1 else "sft.jsonl")),
                      max_new_tokens=max_completion, **common),
        "grpo": _stage(budget.grpo, cfg.scale, overrides.get("grpo", {}), out_dir=str(out / "grpo"),
                       init_from=str(out / "sft" / "final"), rewards=cfg.rewards, **rl_problems),
        "dpo": _stage(budget.dpo, cfg.scale, overrides.get("dpo", {}), out_dir=str(out / "dpo"),
                      init_from=str(out / "sft" / "final"), **rl_problems),
        "r1_zero": _stage(budget.grpo, cfg.scale, overrides.get("grpo", {}), out_dir=str(out / "r1_zero"),
                          init_from=str(out / "pretrain" / "final"), rewards=cfg.rewards, **rl_problems),
    }
    if cfg.rlhf:  # the experiment's stages start from the SFT model, on GRPO's prompts and settings
        from train.rlhf import rlhf_configs

        configs.update(rlhf_configs(cfg.preset, configs["grpo"], out=out, rewards=cfg.rewards, scale=cfg.scale,
                                    seed=cfg.seed, device=cfg.device, progress=cfg.progress, report_to=cfg.report_to))
        configs["rm"] = dataclasses.replace(configs["rm"], **overrides.get("rm", {}))
    settings = {"preset": cfg.preset, "seed": cfg.seed, "scale": cfg.scale, "eval_problems": cfg.eval_problems,
                "max_completion_length": max_completion}
    # what each stage trains with: a stage whose settings changed since the earlier run (an override, or a
    # preset changed between versions) is trained again under --resume, and so is every stage that starts
    # from its model
    stage_settings = {name: {k: v for k, v in config_to_dict(c).items() if k not in _UNRECORDED}
                      for name, c in configs.items()}
    # the pretraining text is the pretraining stage's too (corpus_documents)
    shares = cfg.corpus_shares()
    stage_settings["pretrain"].update(shares)
    stage_settings["sft"]["sft_kinds"] = kinds_share  # which problems SFT shows
    state_path = out / "stages.json"  # stages finished by an earlier run of this folder: seconds and evaluation
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
        train_rows, rl_rows, test_rows = ([row for _, row in read_jsonl(data / f)] for f in files)
    else:
        rows = make_problem_rows(budget.tasks, budget.n_problems, cfg.seed, budget.difficulty)
        train_rows, rl_rows, test_rows = split_problems(budget, rows, cfg.seed, cfg.eval_problems)
        write_jsonl(train_rows, data / "train.jsonl")
        write_jsonl(rl_rows, data / "rl.jsonl")
        write_jsonl(test_rows, data / "test.jsonl")
        record("data", time.perf_counter() - started)
    # written again by every run (it is quick): --resume retrains pretraining when the corpus shares changed
    corpus = corpus_documents(train_rows, budget.template, cfg.seed, **shares)
    write_jsonl([{"text": t} for t in corpus], data / "corpus.jsonl")
    sft_kinds: set[str] = set()
    if kinds_share < 1:  # a narrow cold start: SFT sees the chosen kinds' problems only
        row_kinds = [problem_kind(r) for r in train_rows]
        sft_kinds = cold_start_kinds(row_kinds, kinds_share, cfg.seed)
        sft_rows = [r for r, kind in zip(train_rows, row_kinds) if kind in sft_kinds]
        write_jsonl(sft_rows, Path(configs["sft"].problems))
        print(f"  SFT shows {len(sft_kinds)} of {len(set(row_kinds))} kinds of problem ({len(sft_rows):,} problems): "
              + ", ".join(sorted(sft_kinds)))
    rl_text = "the same" if budget.rl_size == 0 else f"{len(rl_rows):,} others"
    print(f"pipeline {cfg.preset}: {len(train_rows):,} problems for pretraining and SFT, {rl_text} for GRPO and "
          f"DPO ({budget.tasks}, difficulty {budget.difficulty}), {len(test_rows)} held out -> {out}")

    template = TEMPLATES[budget.template]

    def evaluate(folder: Path) -> dict:
        """The stage's held-out results; its judged completions go to ``folder/completions.jsonl``."""
        model, tokenizer = load_policy(folder / "final")
        model = model.to(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # beside greedy pass@1: accuracy of samples at temperature 1 (what GRPO and DPO train on) and pass@k
        result = held_out_evaluation(model, tokenizer, test_rows, template=template, max_new_tokens=max_completion,
                                     samples=EVAL_SAMPLES, seed=cfg.seed,
                                     workers=configs["grpo"].reward_workers)  # code runs tests: in parallel
        write_completions(folder / "completions.jsonl", result.completions)
        if kinds_share < 1:  # what the stage does on the kinds SFT never showed, apart
            return {**result.metrics, **kind_accuracy(result.completions, sft_kinds)}
        return result.metrics

    stages = {"pretrain": pretrain, "sft": sft, "grpo": grpo, **({"dpo": dpo} if cfg.dpo else {}),
              **({"r1_zero": grpo} if cfg.r1_zero else {})}
    for name, fn in stages.items():
        config = configs[name]
        folder = Path(config.out_dir)
        if name in results and (folder / "final" / "config.json").exists():
            print(f"  {name:<13} kept from the earlier run (--resume)")
        else:
            # a stage cut short continues from its latest checkpoint, unless that was made with other settings
            config.resume = cfg.resume and name not in stale
            began = time.perf_counter()
            last = fn(config)
            record(name, time.perf_counter() - began, evaluate(folder))
            results[name] = done[name]["result"]
            write_model_card(folder / "final", stage=name, settings=config_to_dict(config), metrics=last,
                             evaluation={"eval_problems": len(test_rows), **results[name]})
        r = results[name]
        print(f"  {name:<13} accuracy {r['accuracy']:.1%}  format {r['format']:.1%}  ({times[name]:.0f} s)")
    rlhf_text: list[str] = []
    if cfg.rlhf:
        from functools import partial

        from train.rlhf import ARMS, prefs_problems, rlhf_report, run_rlhf, teacher_score

        prefs_problems(cfg.preset, rl_rows, out, cfg.seed)
        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        score = partial(teacher_score, reward_model=out / "rm" / "final", problems=test_rows, template=template,
                        max_new_tokens=max_completion, device=device)
        run_rlhf(configs, results=results, record=record, retrain=lambda name: not cfg.resume or name in stale,
                 evaluate=evaluate, score=score)
        # the same teacher's view of the SFT model and of GRPO on verifiable rewards, for comparison
        compared = {name: {**results[name], "rm_score": score(out / name / "final")} for name in ("sft", "grpo")}
        rlhf_text, _ = rlhf_report(out, {**compared, **{name: results[name] for name in ARMS}},
                                   {**STAGE_NAMES, **ARMS})

    summary = {"preset": cfg.preset, "tasks": budget.tasks, "difficulty": budget.difficulty, "overrides": overrides,
               "sft_worked_share": configs["sft"].worked_share, "sft_kinds": kinds_share,
               "eval_problems": len(test_rows), "seconds": {k: round(v, 1) for k, v in times.items()},
               # in recipe order, whatever order --resume trained them in
               "stages": {name: results[name] for name in STAGE_NAMES if name in results}}
    if cfg.rlhf:
        summary["rlhf"] = {"pairs": results["prefs"], "reward_model": results["rm"],
                           "arms": {name: compared.get(name, results.get(name)) for name in ("sft", "grpo", *ARMS)}}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    plots = _plots(out, cfg.r1_zero)
    (out / "report.md").write_text(report_markdown(summary, plots) + "".join(line + "\n" for line in rlhf_text))
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
    kinds = any(r.get("other_kinds_accuracy") is not None for r in stages.values())  # a narrow cold start
    head = (f"| stage | accuracy | sampled (T=1) | pass@{k} | format | completion tokens | time (s) |"
            + "".join(f" {t} |" for t in tasks) + (" SFT's kinds | other kinds |" if kinds else ""))
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(tasks) + 2 * kinds)]

    def share(value) -> str:
        return "-" if value is None else f"{value:.1%}"

    for name, r in stages.items():
        per_task = "".join(f" {r['per_task'].get(t, 0):.1%} |" for t in tasks)
        if kinds:
            per_task += f" {share(r.get('sft_kinds_accuracy'))} | {share(r.get('other_kinds_accuracy'))} |"
        lines.append(f"| {STAGE_NAMES.get(name, name)} | {r['accuracy']:.1%} | {share(r.get('sampled_accuracy'))} | "
                     f"{share(r.get(f'pass@{k}'))} | {r['format']:.1%} | {r['completion_tokens']:.0f} | "
                     f"{summary['seconds'].get(name, 0):.0f} |{per_task}")
    return "\n".join(lines)


def report_markdown(summary: dict, plots: list[str]) -> str:
    text = [f"# rlvr pipeline: preset {summary['preset']}", "",
            f"Tasks `{summary['tasks']}`, difficulty {summary['difficulty']}; every stage evaluated on the same "
            f"{summary['eval_problems']} held-out problems: accuracy greedy (by each problem's verifier; for code, "
            f"pass@1: every test passes in the sandbox), then of {EVAL_SAMPLES} samples per problem at temperature 1 "
            f"and pass@{EVAL_SAMPLES}; format by the strict R1-Zero check of the greedy completions.", ""]
    if summary.get("sft_worked_share", 1.0) < 1.0:
        text += [f"SFT is a cold start: {summary['sft_worked_share']:.0%} of its problems show the worked solution in "
                 "`<think>`, the others only `The answer is X.` (`sft.worked_share`).", ""]
    if summary.get("sft_kinds", 1.0) < 1.0:
        text += [f"SFT is a narrow cold start: it shows the problems of {summary['sft_kinds']:.0%} of the kinds of "
                 "problem (for code, the shapes of the reference programs), a seeded choice; the others are in the "
                 "pretraining text and among GRPO's prompts only. The last two columns split the held-out accuracy "
                 "by whether SFT showed the problem's kind.", ""]
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


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and the ``window - 1`` before it (fewer at the start).

    >>> running_mean([1.0, 3.0, 5.0, 7.0], 2)
    [1.0, 2.0, 4.0, 6.0]
    """
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


# the GRPO metrics plotted (TRL's names, and our accuracy) and their titles
GRPO_PLOTS = {"reward": "reward", "accuracy": "accuracy", "completions/mean_length": "completion length (tokens)"}


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
        for ax, (key, title) in zip(axes, GRPO_PLOTS.items()):
            points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
            steps, values = [p[0] for p in points], [p[1] for p in points]
            line, = ax.plot(steps, values, alpha=0.3, lw=0.8)
            ax.plot(steps, running_mean(values, 10), color=line.get_color(), label=label)  # the trend
            ax.set(title=f"GRPO {title}", xlabel="step")
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

