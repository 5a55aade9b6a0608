"""The human-feedback experiment of ``rlvr pipeline --rlhf``: a learned teacher beside a checker.

From the pipeline's SFT model and on its GRPO prompts:

1. ``prefs``: the SFT model's samples, paired by our verifiers (``rlvr prefs``: a correct, well-formed answer over
   a wrong or malformed one): the labels people would give, made by a program;
2. ``rm``: a reward model trained on those pairs from the SFT model (``rlvr rm``); its held-out pairwise accuracy
   is reported;
3. the arms, every one judged by the verifiers on the pipeline's held-out problems:
   (a) GRPO with verifiable rewards (the pipeline's own ``grpo`` stage),
   (b) ``grpo_rm``: GRPO with the reward model alone (``--rewards accuracy=0``: the verifiers judge the samples
       for the log, and weigh nothing),
   (c) ``grpo_mixed``: both, R1's last stage (the pipeline's rewards plus the reward model at ``mix_weight``),
   (d) ``bon_rm``: best-of-n with the reward model (``rlvr bon``, a few rounds).

Each arm's greedy held-out completions are scored by the reward model too (``rm_score``), and for (b)-(d) a plot
shows, over steps (rounds for best-of-n), the reward model's score of the training samples beside their verified
accuracy: where the teacher's score climbs while verified accuracy stalls or falls, the policy has learnt to fool
the teacher, which a checker cannot be.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from train.bon import BonConfig
from train.prefs import PrefsConfig
from train.rm import RMConfig

__all__ = ["ARMS", "RLHF", "UPSTREAM", "RLHFBudget", "rlhf_configs", "rlhf_report", "run_rlhf", "teacher_score"]

# the model (or data) each stage of the experiment starts from, in order
UPSTREAM = {"prefs": "sft", "rm": "prefs", "grpo_rm": "rm", "grpo_mixed": "rm", "bon_rm": "rm"}
ARMS = {"grpo_rm": "GRPO, reward model alone", "grpo_mixed": "GRPO, verifiable + reward model",
        "bon_rm": "best-of-n, reward model"}


PAIRS = "prefs.jsonl"  # a preset's placeholder: the pipeline writes the pairs into its data folder


@dataclass(frozen=True)
class RLHFBudget:
    """What the experiment trains at one pipeline preset; the GRPO arms take the preset's GRPO settings."""

    prefs_problems: int  # GRPO prompts the SFT model samples for pairs
    prefs: PrefsConfig
    rm: RMConfig
    bon: BonConfig
    mix_weight: float = 0.5  # the reward model's weight in the mixed arm


RLHF: dict[str, RLHFBudget] = {
    "tiny": RLHFBudget(
        prefs_problems=256,
        prefs=PrefsConfig(out=PAIRS, num_generations=8, max_new_tokens=64, pairs_per_prompt=2,
                          strategies="correct_vs_incorrect,format_broken"),
        rm=RMConfig(max_steps=60, batch_size=16, lr=1e-4, eval_every=20, warmup_steps=5),
        bon=BonConfig(rounds=2, prompts_per_round=96, num_generations=8, max_completion_length=64,
                      sft_steps=20, batch_size=16, lr=2e-5, max_len=256),
    ),
    # One H100 runs `pipeline --preset small --rlhf --no-dpo --no-r1-zero` in about 15 minutes of device time:
    # pretraining, SFT and GRPO (a) with their evaluations take about 6 of them, the two GRPO arms as long as (a)
    # (300 steps each, since the arms are compared with (a) at the same steps) about 6 more, which leaves about 3
    # for the pairs, the reward model and best-of-n (at 4,096 problems, 400 steps and 3 x 1,024 prompts they took
    # about 5: the whole ran 15-17 minutes). So they are halved, each keeping its proportions: 2,048 problems
    # sampled (about 2,000 pairs), 200 reward-model steps of 32 (three epochs of them, as 400 were of twice the
    # pairs), best-of-n's 3 rounds of 512 prompts x 8 with 50 SFT steps of 64 (the same epochs of the kept answers).
    "small": RLHFBudget(
        prefs_problems=2048,
        prefs=PrefsConfig(out=PAIRS, num_generations=8, pairs_per_prompt=2,
                          strategies="correct_vs_incorrect,format_broken"),
        rm=RMConfig(max_steps=200, batch_size=32, lr=5e-5, eval_every=50),
        bon=BonConfig(rounds=3, prompts_per_round=512, num_generations=8, sft_steps=50,
                      batch_size=64, lr=2e-5),
    ),
    "base": RLHFBudget(
        prefs_problems=8192,
        prefs=PrefsConfig(out=PAIRS, num_generations=8, max_new_tokens=512, pairs_per_prompt=2,
                          strategies="correct_vs_incorrect,format_broken"),
        rm=RMConfig(max_steps=600, batch_size=32, lr=2e-5, eval_every=100,
                    max_length=1024),
        bon=BonConfig(rounds=3, prompts_per_round=2048, num_generations=8, max_completion_length=512,
                      sft_steps=150, batch_size=64, lr=1e-5, max_len=1024),
    ),
}


def prefs_problems(preset: str, rl_rows: list[dict], out: Path, seed: int) -> None:
    """Write the GRPO prompts the SFT model samples for pairs (a seeded share of them) to
    ``out/data/prefs_problems.jsonl``."""
    from verifiers.problem import write_jsonl

    chosen = list(rl_rows)
    random.Random(seed).shuffle(chosen)
    write_jsonl(chosen[:RLHF[preset].prefs_problems], out / "data" / "prefs_problems.jsonl")


def rlhf_configs(preset: str, grpo, *, out: Path, rewards: str, scale: float, seed: int, device: str | None,
                 progress: bool, report_to: str = "none") -> dict:
    """Each stage's config, in order (``prefs``, ``rm``, then the arms), from the preset's budget and the pipeline's
    ``grpo`` config (its steps already scaled and overridden, its ``report_to`` set); other steps are scaled by
    ``scale`` as the pipeline's own, and the reward model's metrics go to ``report_to`` too."""
    budget = RLHF[preset]
    sft = str(out / "sft" / "final")
    rm_folder = out / "rm" / "final"
    prompts = out / "data" / "prefs_problems.jsonl"
    fixed = dict(seed=seed, device=device, progress=progress, overwrite=True)
    problems = dict(problems=grpo.problems, template=grpo.template, eval_problems=0)

    def steps(n: int) -> int:
        return max(1, round(n * scale))

    return {
        "prefs": dataclasses.replace(budget.prefs, init_from=sft, problems=str(prompts), template=grpo.template,
                                     eval_problems=0, out=str(out / "data" / "prefs.jsonl"),
                                     max_new_tokens=grpo.max_completion_length, seed=seed, device=device,
                                     progress=progress, overwrite=True),
        "rm": dataclasses.replace(budget.rm, init_from=sft, pairs=str(out / "data" / "prefs.jsonl"),
                                  out_dir=str(out / "rm"), template=grpo.template, max_steps=steps(budget.rm.max_steps),
                                  report_to=report_to, **fixed),
        "grpo_rm": dataclasses.replace(grpo, out_dir=str(out / "grpo_rm"), rewards="accuracy=0",
                                       reward_model=str(rm_folder)),
        "grpo_mixed": dataclasses.replace(grpo, out_dir=str(out / "grpo_mixed"), rewards=rewards,
                                          reward_model=f"{rm_folder}={budget.mix_weight}"),
        "bon_rm": dataclasses.replace(budget.bon, init_from=sft, out_dir=str(out / "bon_rm"),
                                      reward_model=str(rm_folder), max_completion_length=grpo.max_completion_length,
                                      sft_steps=steps(budget.bon.sft_steps),
                                      prompts_per_round=max(2, steps(budget.bon.prompts_per_round)), **problems, **fixed),
    }


def teacher_score(policy: Path, reward_model: Path, problems: list[dict], *, template: str, max_new_tokens: int,
                  device) -> float:
    """The reward model's mean score of ``policy``'s greedy completions of ``problems`` (the held-out set): how
    good the teacher thinks the policy's answers are, beside how many the verifiers find correct."""
    from train.engine import Engine
    from train.learned_reward import LearnedReward
    from train.load import load_policy
    from train.template import render_prompt

    model, tokenizer = load_policy(policy)
    prompts = [render_prompt(p["prompt"], template) for p in problems]
    generations = Engine(model.to(device), tokenizer, compile=False).generate(
        prompts, max_new_tokens=max_new_tokens, temperature=0.0)
    scores = LearnedReward(reward_model, device=device)([prompts[g.prompt_index] for g in generations],
                                                        [g.text for g in generations])
    return sum(scores) / len(scores)


def run_rlhf(configs: dict, *, results: dict, record: Callable[[str, float, dict], None], retrain: Callable[[str], bool],
             evaluate: Callable[[Path], dict], score: Callable[[Path], float]) -> None:
    """Run the experiment's stages that ``results`` (an earlier run's, under ``--resume``) lacks: ``configs`` from
    :func:`rlhf_configs`. ``record(name, seconds, result)`` keeps each stage's result, ``retrain(name)`` says whether
    a stage cut short must start again (its settings changed), ``evaluate(folder)`` judges a run's ``final/`` on the
    held-out problems and ``score(policy)`` is :func:`teacher_score` of a policy folder."""
    from train.bon import bon
    from train.grpo import grpo
    from train.prefs import prefs
    from train.rm import rm

    for name, fn in {"prefs": prefs, "rm": rm, "grpo_rm": grpo, "grpo_mixed": grpo, "bon_rm": bon}.items():
        config = configs[name]
        made = Path(config.out) if name == "prefs" else Path(config.out_dir) / "final" / "config.json"
        if name in results and made.exists():
            print(f"  {name:<13} kept from the earlier run (--resume)")
            continue
        if name != "prefs":  # a stage cut short continues from its latest checkpoint (bon: its finished rounds)
            config.resume = not retrain(name)
        began = time.perf_counter()
        row = fn(config)
        if name == "prefs":
            result = {k: row[k] for k in ("pairs", "prompts", "accuracy", "format", "pairs_by_reason")}
            shown = f"{row['pairs']:,} pairs from {row['prompts']:,} problems (sample accuracy {row['accuracy']:.1%})"
        elif name == "rm":
            result = {k: v for k, v in row.items() if k.startswith("eval_")}
            shown = f"held-out pairwise accuracy {result.get('eval_accuracy', 0):.1%}"
        else:
            folder = Path(config.out_dir)
            result = {**evaluate(folder), "rm_score": score(folder / "final")}
            shown = f"accuracy {result['accuracy']:.1%}  teacher score {result['rm_score']:+.3f}"
        record(name, time.perf_counter() - began, result)
        results[name] = result
        print(f"  {name:<13} {shown}")


def _metrics(folder: Path) -> list[dict]:
    path = folder / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def rlhf_report(out: Path, stages: dict[str, dict], names: dict[str, str]) -> tuple[list[str], list[str]]:
    """The experiment's part of the report: markdown lines (the table and the conclusion) and its plots."""
    rm_rows = [r for r in _metrics(out / "rm") if r.get("eval_accuracy") is not None]
    rm_accuracy = rm_rows[-1]["eval_accuracy"] if rm_rows else None
    arms = [name for name in ("sft", "grpo", *ARMS) if name in stages]
    text = ["## Human feedback: a learned teacher beside a checker", "",
            "From the same SFT model and the same prompts. The reward model was trained on pairs the verifiers made "
            "from the SFT model's samples" + (f"; its held-out pairwise accuracy is {rm_accuracy:.1%}."
                                              if rm_accuracy is not None else "."),
            "Every arm is judged by the verifiers on the held-out problems; `teacher score` is the reward model's "
            "mean score of the same greedy answers.", "",
            "| arm | verified accuracy | sampled (T=1) | format | teacher score |", "|---|---:|---:|---:|---:|"]
    for name in arms:
        r = stages[name]
        score = r.get("rm_score")
        sampled = r.get("sampled_accuracy")
        text.append(f"| {names.get(name, name)} | {r['accuracy']:.1%} | "
                    f"{'-' if sampled is None else f'{sampled:.1%}'} | {r['format']:.1%} | "
                    f"{'-' if score is None else f'{score:+.3f}'} |")
    if "sft" in stages and arms[1:]:
        base = stages["sft"]
        moves = []
        for name in arms[1:]:
            r = stages[name]
            gain = 100 * (r["accuracy"] - base["accuracy"])
            teacher = (r.get("rm_score") or 0) - (base.get("rm_score") or 0)
            moves.append(f"{names.get(name, name)}: {gain:+.1f} points verified, teacher score {teacher:+.3f}")
        fooled = [names.get(n, n) for n in arms[1:] if (stages[n].get("rm_score") or 0) > (base.get("rm_score") or 0)
                  and stages[n]["accuracy"] <= base["accuracy"]]
        text += ["", "Against the SFT model: " + "; ".join(moves) + ".",
                 ("Reward hacking: " + "; ".join(fooled) + " raised the teacher's score without raising verified "
                  "accuracy.") if fooled else
                 "No arm raised the teacher's score while its verified accuracy stayed or fell."]
    plots = _plot(out)
    return text + [""] + [f"![{Path(p).stem}]({p})" for p in plots], plots


def _plot(out: Path) -> list[str]:
    """The teacher's score of the training samples beside their verified accuracy, per arm, over steps (GRPO) and
    rounds (best-of-n)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from train.pipeline import running_mean

    series = {}
    for name in ("grpo_rm", "grpo_mixed"):
        rows = [r for r in _metrics(out / name) if r.get("rewards/rm/mean") is not None]
        if rows:
            series[name] = ([r["step"] for r in rows], [r["rewards/rm/mean"] for r in rows],
                            [r.get("accuracy") for r in rows], "step")
    rows = _metrics(out / "bon_rm")
    if rows:
        series["bon_rm"] = ([r["round"] for r in rows], [r.get("sample_rm_score") for r in rows],
                            [r.get("sample_accuracy") for r in rows], "round")
    if not series:
        return []
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6), squeeze=False)
    for ax, (name, (x, score, accuracy, unit)) in zip(axes[0], series.items()):
        smooth = running_mean if unit == "step" else (lambda values, _: values)
        ax.plot(x, smooth(score, 10), ".-", color="tab:red", label="teacher score (samples)")
        ax.set(title=ARMS[name], xlabel=unit)
        ax.set_ylabel("reward-model score", color="tab:red")
        right = ax.twinx()
        kept = [(a, b) for a, b in zip(x, accuracy) if b is not None]
        right.plot([a for a, _ in kept], smooth([b for _, b in kept], 10), "x--", color="tab:blue",
                   label="verified accuracy (samples)")
        right.set_ylabel("verified accuracy", color="tab:blue")
        evals = [r for r in _metrics(out / name) if r.get("eval_accuracy") is not None and unit == "step"]
        if evals:
            right.plot([r["step"] for r in evals], [r["eval_accuracy"] for r in evals], "o", color="tab:blue",
                       label="held-out accuracy")
        lines = ax.get_lines() + right.get_lines()  # one legend for both axes (their lines may coincide)
        right.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="best")  # the top axes: drawn last
    fig.tight_layout()
    fig.savefig(out / "rlhf.png", dpi=110)
    plt.close(fig)
    return ["rlhf.png"]
