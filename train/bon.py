"""``rlvr bon``: best-of-n. Sample ``n`` completions per problem, keep the best, and train on the kept ones.

The recipe's "pick the better one and train on the good ones" (rejection-sampling fine-tuning, as in Llama 2
and InstructGPT's best-of-n). Each of ``--rounds`` rounds takes ``--prompts-per-round`` training problems, samples
``--num-generations`` completions of each from the current policy, and keeps one per problem:

- with ``--reward-model PATH``: the completion the reward model scores highest (the teacher picks);
- without: the completion the verifiers score highest under ``--rewards``, and only when it is judged correct
  (a problem whose samples are all wrong gives nothing).

The kept completions are written as an SFT set, ``rounds/NNN/sft.jsonl``: the problem rows with a
``completion`` column (TRL's prompt-completion form), which ``rlvr sft`` trains on as it is. Then the round
fine-tunes the policy on it for ``--sft-steps`` (``rounds/NNN/sft/``), and the next round samples from that
model; ``final/`` is the last round's. With ``--sft-steps 0`` (one round) only the set is written, for
``rlvr sft --problems`` to train on. Every sample is also judged by the verifiers, and ``metrics.jsonl`` has,
per round, the samples' verified accuracy and (with a reward model) their mean reward-model score beside the
held-out accuracy of the round's model: where the teacher's score climbs and verified accuracy does not, it is
being fooled. A round folder with ``done`` in it is kept by ``--resume``.

    rlvr bon --init-from runs/tiny/sft --reward-model runs/tiny/rm --rounds 2 --out-dir runs/tiny/bon
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from train.config import run_stage
from train.load import ProblemSource

__all__ = ["BonConfig", "bon", "main", "pick_best"]


@dataclass
class BonConfig(ProblemSource):
    out_dir: str = field(default="runs/bon", metadata={"help": "run folder"})
    reward_model: str | None = field(default=None, metadata={
        "help": "pick by this reward model (a run, checkpoint or HF folder); without it, by the verifiers"})
    rewards: str = field(default="accuracy,format=0.5", metadata={
        "help": "without --reward-model: the verifier rewards that rank the samples (verifiers.REWARDS)"})
    rounds: int = field(default=1, metadata={"help": "sample, pick, fine-tune; repeat from the new model"})
    prompts_per_round: int = field(default=512, metadata={"help": "training problems sampled per round"})
    num_generations: int = field(default=8, metadata={"help": "completions sampled per problem (n)"})
    max_completion_length: int = field(default=256, metadata={"help": "new tokens per completion"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    sft_steps: int = field(default=100, metadata={"help": "SFT steps per round on its kept completions (0: only "
                                                           "write the set; one round)"})
    batch_size: int = field(default=32, metadata={"help": "SFT sequences per micro-batch"})
    lr: float = field(default=1e-4, metadata={"help": "SFT peak learning rate"})
    warmup_steps: int = field(default=5, metadata={"help": "SFT linear warmup steps"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="cosine", metadata={"help": "SFT decay shape"})
    max_len: int = field(default=512, metadata={"help": "SFT: longest example in tokens (longer ones are skipped)"})
    seed: int = field(default=0, metadata={"help": "seed for the problems, sampling and training"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda if available)"})
    compile: bool | None = field(default=None, metadata={"help": "torch.compile the SFT model (default: on GPU)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    resume: bool = field(default=False, metadata={"help": "keep the finished rounds of an earlier run in out_dir"})
    overwrite: bool = field(default=False, metadata={"help": "start afresh in an out_dir that holds an earlier run"})

    def __post_init__(self) -> None:
        for name in ("rounds", "prompts_per_round", "max_completion_length", "batch_size", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.num_generations < 2:
            raise ValueError(f"--num-generations must be at least 2 (best of one is no choice), "
                             f"got {self.num_generations}")
        if self.sft_steps < 0:
            raise ValueError(f"--sft-steps must be at least 0, got {self.sft_steps}")
        if self.sft_steps == 0 and self.rounds > 1:
            raise ValueError("--sft-steps 0 only writes the first round's set: a second round would sample the "
                             "same model again; pass --rounds 1")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive for sampling, got {self.temperature}")
        if not self.reward_model:
            from verifiers.rewards import Rubric

            try:
                Rubric.parse(self.rewards)
            except ValueError as exc:
                raise ValueError(f"--rewards {self.rewards!r}: {exc}") from None


def pick_best(scores: list[float | None], eligible: list[bool] | None = None) -> int | None:
    """Index of the highest score among the eligible samples (the first on ties), None when none is eligible or
    scored.

    >>> pick_best([0.1, 0.7, 0.7, None]), pick_best([0.1, 0.7], eligible=[True, False]), pick_best([None])
    (1, 0, None)
    """
    best = None
    for i, score in enumerate(scores):
        if score is not None and (eligible is None or eligible[i]) and (best is None or score > scores[best]):
            best = i
    return best


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 5) if values else None


def sample_round(model, tokenizer, rows: list[dict], cfg: BonConfig, *, template: str, rubric,
                 reward=None) -> tuple[list[dict], dict]:
    """Sample ``num_generations`` completions of each problem row and keep the best; ``(SFT rows, stats)``.

    Every sample is judged by ``rubric`` (a ``verifiers.rewards.Rubric``); ``reward`` (a reward function such as
    ``train.learned_reward.LearnedReward``) picks when given, else the rubric's total among the samples judged
    correct.
    """
    from train.engine import Engine
    from train.template import render_prompt

    engine = Engine(model, tokenizer, max_batch_size=max(64, cfg.num_generations), compile=False)
    prompts = [render_prompt(r["prompt"], template) for r in rows]
    generations = engine.generate(prompts, num_samples=cfg.num_generations, max_new_tokens=cfg.max_completion_length,
                                  temperature=cfg.temperature, top_p=cfg.top_p)
    texts = [g.text for g in generations]
    problems = [rows[g.prompt_index] for g in generations]
    n = cfg.num_generations
    judged = [j for k in range(0, len(texts), n)  # a group at a time: group rewards compare one problem's samples
              for j in rubric.score_group(texts[k:k + n], problems[k:k + n],
                                          [len(g.token_ids) for g in generations[k:k + n]])]
    if reward is not None:
        scores = reward([prompts[g.prompt_index] for g in generations], texts)
    else:
        scores = [j.total for j in judged]
    kept = []
    for k, row in enumerate(rows):
        group = slice(k * n, (k + 1) * n)
        eligible = None if reward is not None else [j.correct is True for j in judged[group]]
        best = pick_best(scores[group], eligible)
        if best is not None:
            i = k * n + best
            kept.append({**row, "completion": texts[i], "score": scores[i], "correct": judged[i].correct})
    stats = {"problems": len(rows), "samples": len(texts), "kept": len(kept),
             "sample_accuracy": _mean([float(bool(j.correct)) for j in judged]),
             "sample_format": _mean([float(j.well_formed) for j in judged]),
             "kept_accuracy": _mean([float(bool(r["correct"])) for r in kept]),
             "sample_score": _mean(scores), "kept_score": _mean([r["score"] for r in kept])}
    if reward is not None:  # the teacher's own view, for the reward-hacking plot
        stats["sample_rm_score"] = stats["sample_score"]
    return kept, stats


def bon(cfg: BonConfig) -> dict:
    """Run best-of-n for ``cfg.rounds`` rounds; returns the last round's metrics row."""
    from train.evaluate import evaluate_policy
    from train.learned_reward import LearnedReward
    from train.load import load_policy, problem_splits
    from train.sft import SFTConfig, sft
    from train.template import TEMPLATES
    from verifiers.problem import write_jsonl
    from verifiers.rewards import Rubric

    if not cfg.init_from:  # required when the stage runs: a preset leaves it to the pipeline
        raise ValueError("--init-from is required: the policy to sample from")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(cfg.out_dir)
    if out.exists() and any(out.iterdir()) and not (cfg.resume or cfg.overwrite):
        raise ValueError(f"{out} holds an earlier run; pass --resume to continue it, --overwrite to start afresh, "
                         "or another --out-dir")
    if cfg.overwrite and not cfg.resume:
        shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    template = TEMPLATES[cfg.template]
    train_rows, test_rows = problem_splits(cfg, cfg.seed)
    order = list(range(len(train_rows)))
    random.Random(cfg.seed).shuffle(order)
    reward = LearnedReward(cfg.reward_model, device=device) if cfg.reward_model else None
    # with a teacher, the verifiers only judge (for the log); without, their rewards rank the samples
    rubric = Rubric(["accuracy"] if reward is not None else Rubric.parse(cfg.rewards).weights, punish_no_answer=True)
    metrics_path = out / "metrics.jsonl"
    history = [json.loads(line) for line in metrics_path.read_text().splitlines()] if cfg.resume and \
        metrics_path.exists() else []
    policy, last = cfg.init_from, {}
    for k in range(cfg.rounds):
        folder = out / "rounds" / f"{k:03d}"
        trained = folder / "sft" / "final"
        if cfg.resume and (folder / "done").exists():  # finished by an earlier run: its model goes on
            if cfg.sft_steps:
                policy = str(trained)
            last = next((r for r in history if r["round"] == k + 1), last)
            continue
        history = [r for r in history if r["round"] <= k]  # rounds after a missing one are redone
        torch.manual_seed(cfg.seed * 1000 + k)
        model, tokenizer = load_policy(policy)
        model = model.to(device)
        start = k * cfg.prompts_per_round
        rows = [train_rows[order[(start + i) % len(order)]] for i in range(cfg.prompts_per_round)]
        kept, stats = sample_round(model, tokenizer, rows, cfg, template=template, rubric=rubric, reward=reward)
        del model
        if not kept:
            raise ValueError(f"round {k + 1}: no completion was kept from {stats['samples']} samples "
                             f"(verified accuracy {stats['sample_accuracy']}); sample more (--num-generations) or "
                             "start from a model that answers correctly at times")
        write_jsonl(kept, folder / "sft.jsonl")
        row = {"round": k + 1, **stats}
        if cfg.sft_steps:
            sft(SFTConfig(init_from=policy, problems=str(folder / "sft.jsonl"), out_dir=str(folder / "sft"),
                          template=cfg.template, eval_problems=0, max_steps=cfg.sft_steps,
                          batch_size=min(cfg.batch_size, len(kept)),  # a small round trains on what it kept
                          lr=cfg.lr, warmup_steps=cfg.warmup_steps, schedule=cfg.schedule, max_len=cfg.max_len,
                          max_new_tokens=cfg.max_completion_length, seed=cfg.seed + k, device=cfg.device,
                          compile=cfg.compile, progress=cfg.progress, overwrite=True, resume=cfg.resume))
            policy = str(trained)
            if test_rows:
                model, tokenizer = load_policy(policy)
                result = evaluate_policy(model.to(device), tokenizer, test_rows, template=template,
                                         max_new_tokens=cfg.max_completion_length)
                row.update({"eval_accuracy": result["accuracy"], "eval_format": result["format"]})
                del model
        history.append(row)
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in history))
        (folder / "done").touch()
        last = row
        print(f"bon round {k + 1}/{cfg.rounds}: kept {stats['kept']} of {stats['problems']} problems "
              f"(sample accuracy {stats['sample_accuracy']}, kept {stats['kept_accuracy']})"
              + (f"; held-out accuracy {row['eval_accuracy']:.1%}" if "eval_accuracy" in row else ""))
    if cfg.sft_steps:
        shutil.rmtree(out / "final", ignore_errors=True)
        shutil.copytree(policy, out / "final")
    return last


def main(argv: list[str] | None = None) -> int:
    return run_stage(BonConfig, bon, argv, prog="rlvr bon", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
