"""``rlvr grpo``: reinforcement learning with verifiable rewards (GRPO, DeepSeekMath / R1).

Each step: take ``prompts_per_step`` problems, sample ``num_generations`` completions of each with the
engine, score them with the reward rubric in a process pool (while the GPU computes reference
log-probabilities), turn rewards into group-relative advantages, and take one optimizer step per
``num_iterations`` pass over the batch with the clipped surrogate of ``train.grpo_loss``. Completions
that no verifier could judge (a reward of None) are excluded from the loss, not punished. Names follow
TRL's ``GRPOConfig`` where they exist, and the metrics TRL's ``GRPOTrainer`` logs (:func:`reward_metrics`,
:func:`completion_metrics`, ``train.grpo_loss``'s clip ratios and KL, entropy), over the whole batch.

    rlvr grpo --init-from runs/tiny/sft --tasks arithmetic --difficulty 1-2 --out-dir runs/tiny/grpo
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch

from train.config import run_stage
from train.data import BatchOrder
from train.dist import DistInfo, all_gather_objects, all_reduce_sum
from train.engine import Engine, Generation
from train.grpo_loss import filter_groups, group_advantages, grpo_loss, token_entropy, token_logprobs
from train.run import RLConfig, Run, open_policy
from train.template import TEMPLATES, render_prompt
from verifiers.rewards import Judged

__all__ = ["GRPOConfig", "RewardScorer", "completion_metrics", "grpo", "main", "reward_metrics"]

RewardFunc = Callable[..., list]  # TRL's signature: f(prompts, completions, **columns) -> list[float | None]


@dataclass
class GRPOConfig(RLConfig):
    out_dir: str = field(default="runs/grpo", metadata={"help": "run folder"})
    rewards: str = field(default="accuracy,format=0.5", metadata={
        "help": "rewards by name with weights (verifiers.REWARDS); overlong and cosine_scaled are sized to "
                "--max-completion-length"})
    prompts_per_step: int = field(default=8, metadata={"help": "problems per step (per process)"})
    max_prompt_length: int = field(default=512, metadata={"help": "longer prompts are skipped"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    top_k: int = field(default=0, metadata={"help": "top-k sampling (0: off)"})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient to the initial policy (0: no reference)"})
    epsilon: float = field(default=0.2, metadata={"help": "lower clip range"})
    epsilon_high: float | None = field(default=None, metadata={"help": "upper clip range (DAPO clip-higher)"})
    loss_type: Literal["grpo", "bnpo", "dr_grpo", "dapo"] = field(default="dapo", metadata={"help": "aggregation"})
    scale_rewards: Literal["group", "batch", "none"] = field(default="group", metadata={"help": "advantage scale"})
    num_iterations: int = field(default=1, metadata={"help": "optimizer passes per batch (mu)"})
    mask_truncated_completions: bool = field(default=False, metadata={"help": "no loss on truncated completions"})
    dynamic_sampling: bool = field(default=False, metadata={"help": "drop groups with equal rewards and refill"})
    max_sampling_rounds: int = field(default=4, metadata={"help": "dynamic sampling: generation rounds per step"})
    micro_batch_size: int = field(default=32, metadata={"help": "completions per forward/backward"})
    punish_no_answer: bool = field(default=True, metadata={
        "help": "a completion with no final answer, or whose answer is unreadable and outside the "
                "<think>/<answer> template, scores 0 accuracy (the model's failure); a well-formed answer the "
                "verifier cannot read, or a verifier timeout, stays excluded from the loss"})
    reward_workers: int = field(default=2, metadata={"help": "processes scoring rewards (0: in this process)"})
    reward_model: str | None = field(default=None, metadata={
        "help": "a learned reward beside --rewards, PATH[=WEIGHT]: an rlvr rm run or a Hugging Face sequence "
                "classifier; logged unweighted as rewards/rm/mean (R1's mixed stage: --rewards accuracy,format=0.5 "
                "--reward-model RM=0.5; the reward model alone: --rewards accuracy=0, which only judges)"})
    eval_samples: int = field(default=0, metadata={"help": "also sample k per problem for pass@k (0: off)"})
    lr: float = field(default=1e-5, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warmup steps"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="constant", metadata={"help": "decay shape"})
    max_steps: int = field(default=200, metadata={"help": "GRPO steps"})
    eval_every: int = field(default=50, metadata={"help": "steps between evaluations (0: only at the end)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_generations < 2:
            raise ValueError(f"--num-generations must be at least 2 (advantages compare a group), "
                             f"got {self.num_generations}")
        for name in ("prompts_per_step", "num_iterations", "micro_batch_size", "max_sampling_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if (self.epsilon_high is not None and self.epsilon_high < 0) or self.epsilon < 0:
            raise ValueError("clip ranges must be non-negative")
        if self.rewards:  # checked now, not after the model and data are loaded
            from verifiers.rewards import Rubric

            try:
                Rubric.parse(self.rewards)
            except ValueError as exc:
                raise ValueError(f"--rewards {self.rewards!r}: {exc}") from None
        if self.reward_model is not None:
            from train.learned_reward import parse_reward_model

            _, weight = parse_reward_model(self.reward_model)
            if not math.isfinite(weight):
                raise ValueError(f"--reward-model {self.reward_model!r}: the weight must be a finite number")


# ---------------------------------------------------------------------------------------------
# Rewards, scored in worker processes


def length_options(max_completion_length: int) -> dict:
    """Length-shaped rewards sized to the generation budget (lengths are in tokens): DAPO's overlong
    punishment over the last quarter, the cosine-scaled reward over the whole budget."""
    return {"overlong": {"max_length": max_completion_length, "cache": max(1, max_completion_length // 4)},
            "cosine_scaled": {"max_len": max_completion_length}}


class RewardScorer:
    """Judges completions with a rubric (``"accuracy,format=0.5"``) in ``workers`` spawn-started processes
    (``verifiers.pool.worker_pool``: user verifiers included), plus any TRL-style reward callables in this
    process, each weighted by its ``weight`` attribute (default 1) in the total and logged unweighted.
    ``submit`` returns at once; ``result`` waits. A context manager that closes its pool."""

    def __init__(self, rewards: str, workers: int, funcs: Sequence[RewardFunc] = (), punish_no_answer: bool = True,
                 options: dict | None = None):
        from verifiers.pool import worker_pool
        from verifiers.rewards import Rubric

        self.funcs, self.rubric = list(funcs), None
        if rewards:  # bad names fail here, with the registry's message
            weights = Rubric.parse(rewards).weights
            options = {name: opts for name, opts in (options or {}).items() if name in weights}
            self.rubric = Rubric(weights, options=options, punish_no_answer=punish_no_answer)
        self.pool = worker_pool(workers) if workers > 0 and self.rubric else None

    def __enter__(self) -> RewardScorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, completions: list[str], problems: list[dict], lengths: list[int], group: int) -> list:
        """Start judging, ``group`` completions to a job (the rubric's group rewards see one problem's)."""
        if self.rubric is None:
            return []
        jobs = [(completions[i:i + group], problems[i:i + group], lengths[i:i + group])
                for i in range(0, len(completions), group)]
        if self.pool is None:
            return [self.rubric.score_group(*job) for job in jobs]
        return [self.pool.submit(self.rubric.score_group, *job) for job in jobs]  # the rubric travels with the job

    def result(self, pending: list, prompts: list[str], completions: list[str], problems: list[dict]) -> list[Judged]:
        """Each completion judged; a reward callable's value joins the parts and the total (None if any is)."""
        judged = [j for item in pending for j in (item.result() if isinstance(item, Future) else item)]
        if not judged:  # only callables
            from verifiers import check_format

            judged = [Judged(0.0, well_formed=check_format(c).ok) for c in completions]
        columns = {key: [p.get(key) for p in problems] for key in problems[0]} if problems else {}
        for k, fn in enumerate(self.funcs):
            name = getattr(fn, "__name__", f"reward_{k}")
            values = fn(prompts=prompts, completions=completions, **columns)
            if len(values) != len(completions):
                raise ValueError(f"reward function {name} returned {len(values)} values for {len(completions)}")
            weight = getattr(fn, "weight", 1.0)
            judged = [replace(j, parts={**j.parts, name: v},
                              total=None if j.total is None or v is None else j.total + weight * float(v))
                      for j, v in zip(judged, values)]
        return judged

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _rewards(judged: Sequence[Judged]) -> torch.Tensor:
    """The totals as a tensor, NaN where no reward could be computed (excluded from the loss)."""
    return torch.tensor([math.nan if j.total is None else j.total for j in judged])


# ---------------------------------------------------------------------------------------------
# Rollouts and the batch the loss sees


@dataclass
class Rollout:
    """One round of sampling: ``num_generations`` completions of each problem, grouped by problem."""

    prompts: list[list[int]]  # token ids, one per problem
    generations: list[Generation]
    problems: list[dict]  # the problem of each completion
    prompt_texts: list[str]  # the templated prompt of each completion (what reward callables get)
    pending: list  # its rewards, being judged


@dataclass
class Group:
    """One problem's completions as the step keeps them (each list has one entry per completion)."""

    prompt: list[int]
    generations: list[Generation]
    judged: list[Judged]  # a total of None: excluded from the loss
    old_logprobs: list[torch.Tensor | None]  # per completion, when num_iterations > 1
    ref_logprobs: list[torch.Tensor | None]  # per completion, when beta > 0


def build_batch(prompts: list[list[int]], completions: list[list[int]], pad_id: int, *, multiple: int = 64):
    """Right-padded ``prompt + completion`` rows (``prompts[i]`` is the prompt of ``completions[i]``): inputs,
    targets and the completion mask over targets.

    Rows are padded to a multiple of ``multiple`` tokens so a compiled model sees few shapes.
    """
    rows = [p + c for p, c in zip(prompts, completions, strict=True)]
    width = -(-max(len(r) for r in rows) // multiple) * multiple + 1
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width - 1), dtype=torch.float32)
    for i, (row, prompt, completion) in enumerate(zip(rows, prompts, completions)):
        ids[i, :len(row)] = torch.tensor(row)
        start = len(prompt) - 1  # target index of the first completion token
        mask[i, start:start + len(completion)] = 1.0
    return ids[:, :-1], ids[:, 1:], mask


def completion_logprobs(model, prompts: list[list[int]], completions: list[list[int]], *, pad_id: int,
                        temperature: float, micro_batch_size: int, autocast, device) -> list[torch.Tensor]:
    """Each completion's token log-probs under ``model`` (no gradient), one 1-D tensor per completion.

    Used for the old policy (``num_iterations > 1``) and the reference (``beta > 0``) while the reward
    workers score the same completions.
    """
    inputs, targets, _ = build_batch(prompts, completions, pad_id)
    rows = []
    with torch.no_grad(), autocast:
        for i in range(0, len(completions), micro_batch_size):
            chunk = slice(i, i + micro_batch_size)
            logprobs = per_token_logprobs(model, inputs[chunk].to(device), targets[chunk].to(device), temperature)[0]
            for lp, prompt, completion in zip(logprobs, prompts[chunk], completions[chunk]):
                rows.append(lp[len(prompt) - 1:len(prompt) - 1 + len(completion)])
    return rows


def _place(rows: list[torch.Tensor], prompts: list[list[int]], like: torch.Tensor):
    """Per-completion log-probs laid out as the batch's targets (zeros elsewhere)."""
    out = torch.zeros_like(like)
    for i, (row, prompt) in enumerate(zip(rows, prompts)):
        out[i, len(prompt) - 1:len(prompt) - 1 + len(row)] = row
    return out


def per_token_logprobs(model, inputs: torch.Tensor, targets: torch.Tensor, temperature: float,
                       with_entropy: bool = False):
    """Per-token log-probs of ``targets`` (temperature-scaled, as sampled), optionally the entropy."""
    logits = model(inputs).float() / temperature
    logprobs = token_logprobs(logits, targets)
    entropy = token_entropy(logits.detach()) if with_entropy else None
    return logprobs, entropy


def _rollout(indices: list[int], problems: list[dict], prompt_texts: list[str], prompt_ids: list[list[int]],
             engine: Engine, scorer: RewardScorer, cfg: GRPOConfig) -> Rollout:
    """Sample the groups of the problems ``indices`` and start judging them."""
    prompts = [prompt_ids[i] for i in indices]
    generations = engine.generate(prompts, num_samples=cfg.num_generations, max_new_tokens=cfg.max_completion_length,
                                  temperature=cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k)
    owners = [indices[g.prompt_index] for g in generations]
    group_problems = [problems[i] for i in owners]
    pending = scorer.submit([g.text for g in generations], group_problems, [len(g.token_ids) for g in generations],
                            cfg.num_generations)
    return Rollout(prompts, generations, group_problems, [prompt_texts[i] for i in owners], pending)


def _groups(rollout: Rollout, scorer: RewardScorer, cfg: GRPOConfig, *, model, ref_model, logprob_args: dict
            ) -> tuple[list[Group], int]:
    """The rollout's groups, judged, and how many dynamic sampling dropped (their rewards all equal).

    The GPU computes old-policy and reference log-probs while the workers judge the completions.
    """
    generations, n = rollout.generations, len(rollout.generations)
    prompts = [rollout.prompts[g.prompt_index] for g in generations]
    completions = [g.token_ids for g in generations]
    old = completion_logprobs(model, prompts, completions, **logprob_args) if cfg.num_iterations > 1 else [None] * n
    ref = completion_logprobs(ref_model, prompts, completions, **logprob_args) if ref_model is not None else [None] * n
    judged = scorer.result(rollout.pending, rollout.prompt_texts, [g.text for g in generations], rollout.problems)
    kept = list(range(len(rollout.prompts)))
    if cfg.dynamic_sampling:
        rewards = _rewards(judged)
        signal = filter_groups(rewards, cfg.num_generations, ~torch.isnan(rewards)).tolist()
        kept = [k for k in kept if signal[k]]
    size = cfg.num_generations
    groups = [Group(rollout.prompts[k], *(x[k * size:(k + 1) * size] for x in (generations, judged, old, ref)))
              for k in kept]
    return groups, len(rollout.prompts) - len(kept)


# ---------------------------------------------------------------------------------------------


def grpo(cfg: GRPOConfig, reward_funcs: Sequence[RewardFunc] = ()) -> dict:
    """Run GRPO; returns the last metrics row. ``reward_funcs``: extra TRL-style callables (weighted by their
    ``weight`` attribute, default 1)."""
    from train.load import problem_splits

    if not cfg.rewards and not reward_funcs and not cfg.reward_model:
        raise ValueError("no rewards: --rewards is empty and no reward model or reward functions were given")
    info, model, tokenizer = open_policy(cfg)
    ref_model = copy.deepcopy(model).eval().requires_grad_(False) if cfg.beta > 0 else None
    if cfg.reward_model:  # scored by whole groups, on this process's device, outside the policy's graph
        from train.learned_reward import LearnedReward, parse_reward_model

        path, weight = parse_reward_model(cfg.reward_model)
        if not Path(path).is_dir():  # checked when the stage runs: a pipeline trains it after the config is made
            raise ValueError(f"--reward-model {cfg.reward_model!r}: no folder {path}")
        groups = max(1, cfg.micro_batch_size // cfg.num_generations)
        reward_funcs = [*reward_funcs, LearnedReward(path, device=info.device, weight=weight,
                                                     batch_size=groups * cfg.num_generations)]
    train_rows, test_rows = problem_splits(cfg, cfg.seed)
    template = TEMPLATES[cfg.template]
    prompt_texts = [render_prompt(r["prompt"], template) for r in train_rows]
    prompt_ids = tokenizer.encode_batch(prompt_texts, bos=True)
    keep = [i for i, p in enumerate(prompt_ids) if len(p) <= cfg.max_prompt_length]
    if not keep:
        raise ValueError(f"every prompt is longer than --max-prompt-length {cfg.max_prompt_length}")
    train_rows, prompt_texts, prompt_ids = ([x[i] for i in keep] for x in (train_rows, prompt_texts, prompt_ids))

    with Run(cfg, "grpo", model, tokenizer, info, postfix=("reward", "accuracy", "eval_accuracy")) as run, \
            RewardScorer(cfg.rewards, cfg.reward_workers, reward_funcs, cfg.punish_no_answer,
                         length_options(cfg.max_completion_length)) as scorer:
        order = BatchOrder(len(train_rows), cfg.prompts_per_step, cfg.seed, info.rank, info.world_size)
        if run.state:
            order.load_state(run.state["data"])
        engine = Engine(model, tokenizer, max_batch_size=max(256, cfg.prompts_per_step * cfg.num_generations))
        logprob_args = dict(pad_id=tokenizer.pad_id, temperature=cfg.temperature,
                            micro_batch_size=cfg.micro_batch_size, autocast=run.autocast, device=info.device)
        if info.is_main:
            print(f"grpo: {len(train_rows):,} training problems, {len(test_rows)} held out; "
                  f"{cfg.prompts_per_step} x {cfg.num_generations} completions per step; rewards {cfg.rewards}; "
                  f"{model.num_parameters() / 1e6:.2f}M parameters on {info.device}")
        last: dict = {}
        while run.step < cfg.max_steps:
            start = time.perf_counter()
            # 1. sample groups (dynamic sampling: keep the groups whose rewards differ, and sample again)
            kept: list[Group] = []
            generation_time, rounds, dropped = 0.0, 0, 0
            while rounds < (cfg.max_sampling_rounds if cfg.dynamic_sampling else 1) and len(kept) < cfg.prompts_per_step:
                rounds += 1
                began = time.perf_counter()
                rollout = _rollout(order.next(), train_rows, prompt_texts, prompt_ids, engine, scorer, cfg)
                generation_time += time.perf_counter() - began
                groups, flat = _groups(rollout, scorer, cfg, model=model, ref_model=ref_model,
                                       logprob_args=logprob_args)
                kept, dropped = kept + groups, dropped + flat
            kept = kept[: cfg.prompts_per_step]
            if info.is_distributed and cfg.dynamic_sampling:
                # the ranks train together or not at all: a rank left with no groups would skip the collectives
                # (token count, gradient all-reduce) that the others wait in
                ranks_with_groups = all_reduce_sum(torch.tensor(float(bool(kept)), device=info.device))
                if int(ranks_with_groups) < info.world_size:
                    kept = []
            # 2. learn from them
            run.step += 1
            row: dict = {"step": run.step}
            if kept:
                row.update(_train_on(kept, cfg, model=model, forward=run.forward, optimizer=run.optimizer,
                                     pad_id=tokenizer.pad_id, autocast=run.autocast, info=info, device=info.device))
            else:
                row["skipped"] = True  # every group had equal rewards: nothing to learn from this step
            run.scheduler.step()
            elapsed = time.perf_counter() - start
            completion_tokens = sum(len(g.token_ids) for k in kept for g in k.generations)
            row.update({"lr": float(f"{run.scheduler.get_last_lr()[0]:.4g}"), "step_time": round(elapsed, 3),
                        "generation_time": round(generation_time, 3),
                        "tokens_per_s": round(completion_tokens * info.world_size / elapsed, 1),
                        "sampling_rounds": rounds, "dropped_groups": dropped})
            if info.is_main and run.evaluating:
                row.update(run.evaluate(test_rows, template=template, max_new_tokens=cfg.max_completion_length,
                                        samples=cfg.eval_samples, temperature=cfg.temperature, prefix="eval_"))
            run.end_step(row, {"data": order.state()})
            last = row
        run.export()
    return last


def _train_on(kept: list[Group], cfg: GRPOConfig, *, model, forward, optimizer, pad_id, autocast,
              info: DistInfo, device) -> dict:
    """Advantages, then ``num_iterations`` optimizer passes over the batch; returns the step's metrics."""
    generations = [g for k in kept for g in k.generations]
    prompts = [k.prompt for k in kept for _ in k.generations]  # the prompt of each completion
    judged = [j for k in kept for j in k.judged]
    rewards = _rewards(judged)
    valid = ~torch.isnan(rewards)
    advantages = group_advantages(torch.nan_to_num(rewards), cfg.num_generations, scale_rewards=cfg.scale_rewards,
                                  valid=valid)
    inputs, targets, mask = build_batch(prompts, [g.token_ids for g in generations], pad_id)
    truncated = torch.tensor([g.finish_reason == "length" for g in generations])
    row_ok = valid & ~truncated if cfg.mask_truncated_completions else valid
    mask = mask * row_ok[:, None].float()  # excluded completions: no loss at all
    n = len(generations)
    chunks = [slice(i, min(i + cfg.micro_batch_size, n)) for i in range(0, n, cfg.micro_batch_size)]
    inputs, targets, mask, advantages = inputs.to(device), targets.to(device), mask.to(device), advantages.to(device)
    tokens_here = mask.sum()
    num_items = all_reduce_sum(tokens_here.clone()) / info.world_size  # DAPO's global token mean, DDP-averaged

    def placed(rows: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
        return [_place(rows, prompts, mask)[c] for c in chunks] if rows[0] is not None else [None] * len(chunks)

    old = placed([r for k in kept for r in k.old_logprobs])
    ref = placed([r for k in kept for r in k.ref_logprobs])
    stats: dict[str, list[float]] = {}
    grad_norm, loss_sum = torch.zeros(()), 0.0
    for _ in range(cfg.num_iterations):
        for c, old_lp, ref_lp in zip(chunks, old, ref):
            last_chunk = c is chunks[-1]
            sync = last_chunk or not info.is_distributed
            with forward.no_sync() if not sync else contextlib.nullcontext(), autocast:
                logprobs, entropy = per_token_logprobs(forward, inputs[c], targets[c], cfg.temperature,
                                                       with_entropy=True)
                loss, metrics = grpo_loss(logprobs, old_lp, advantages[c], mask[c], ref_logprobs=ref_lp,
                                          beta=cfg.beta, epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high,
                                          loss_type=cfg.loss_type, max_completion_length=cfg.max_completion_length,
                                          num_items_in_batch=num_items)
                if cfg.loss_type != "dapo":  # per-micro-batch means: average them over the batch
                    loss = loss / len(chunks)
            loss.backward()
            loss_sum += float(loss.detach())  # the micro-batch losses add up to the batch's
            weight = float(mask[c].sum())
            for key, value in metrics.items():
                stats.setdefault(key, []).append(float(value) * weight)
            stats.setdefault("entropy", []).append(float((entropy * mask[c]).sum()))
            stats.setdefault("_tokens", []).append(weight)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    # the whole batch's metrics: every rank's completions, token sums and loss (each rank joins the same
    # collectives, also one whose completions were all unjudged)
    local = [(j, len(g.token_ids), g.finish_reason == "length") for j, g in zip(judged, generations)]
    batch = [item for part in all_gather_objects(local) for item in part] if info.is_distributed else local
    keys = list(stats)
    sums = torch.tensor([sum(stats[k]) for k in keys] + [loss_sum], dtype=torch.float64)
    if info.is_distributed:
        sums = all_reduce_sum(sums.to(device)).cpu() / torch.tensor([1.0] * len(keys) + [info.world_size])
    tokens = float(sums[keys.index("_tokens")]) or 1.0
    all_judged = [j for j, _, _ in batch]
    correct = [j.correct for j in all_judged if j.correct is not None]
    row = {"loss": round(float(sums[-1]) / cfg.num_iterations, 6), "grad_norm": round(float(grad_norm), 4),
           **reward_metrics(all_judged, cfg.num_generations, cfg.scale_rewards),
           **completion_metrics([n for _, n, _ in batch], [t for _, _, t in batch]),
           "accuracy": round(sum(correct) / len(correct), 5) if correct else None,
           "unjudged": round(1 - len(correct) / len(batch), 5) if "accuracy" in all_judged[0].parts else None,
           "format": round(sum(j.well_formed for j in all_judged) / len(batch), 5)}
    for key in keys:
        if key != "_tokens":
            row[key] = round(float(sums[keys.index(key)]) / tokens, 6)
    return row


def _number(value: torch.Tensor) -> float | None:
    """A metric's value, None where it is undefined (NaN: no values, or one value's std): JSON has no NaN."""
    value = float(value)
    return None if math.isnan(value) else round(value, 6)


def _nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """TRL's ``nanstd``: the Bessel-corrected std of the non-NaN values, NaN where there are fewer than two."""
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    variance = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    variance = variance * torch.where(count > 1, count / (count - 1).clamp(min=1), torch.nan)
    return variance.sqrt().squeeze() if dim is None else variance.sqrt().squeeze(dim)


def reward_metrics(judged: Sequence[Judged], group_size: int, scale_rewards: str = "group") -> dict:
    """TRL's reward metrics of a batch of groups (``GRPOTrainer``, TRL 1.16): ``rewards/{name}/mean`` and
    ``rewards/{name}/std`` of each reward's unweighted values, ``reward`` and ``reward_std`` of the weighted
    totals, all over the completions where they are defined (TRL's nanmean and Bessel-corrected nanstd); and
    ``frac_reward_zero_std``, the share of completions whose advantage had a std of 0 to divide by: their
    group's (``scale_rewards`` group or none), or the batch's (batch). A total is undefined (excluded from the
    loss) where any reward is; a group with fewer than two defined totals has no std (not 0), as in TRL.

    >>> from verifiers.rewards import Judged
    >>> batch = [Judged(t, {"accuracy": t}) for t in (1.0, 0.0, 1.0, 1.0)]
    >>> m = reward_metrics(batch, group_size=2)
    >>> m["rewards/accuracy/mean"], m["reward"], m["reward_std"], m["frac_reward_zero_std"]
    (0.75, 0.75, 0.5, 0.5)
    """
    nan = math.nan
    totals = torch.tensor([nan if j.total is None else float(j.total) for j in judged], dtype=torch.float64)
    row: dict = {}
    for name in judged[0].parts:
        values = torch.tensor([nan if j.parts.get(name) is None else float(j.parts[name]) for j in judged],
                              dtype=torch.float64)
        row[f"rewards/{name}/mean"] = _number(torch.nanmean(values))
        row[f"rewards/{name}/std"] = _number(_nanstd(values))
    row["reward"], row["reward_std"] = _number(torch.nanmean(totals)), _number(_nanstd(totals))
    if scale_rewards == "batch":
        std = _nanstd(totals).expand(len(totals))
    else:
        std = _nanstd(totals.view(-1, group_size), dim=1).repeat_interleave(group_size)
    row["frac_reward_zero_std"] = _number(torch.isclose(std, torch.zeros_like(std)).double().mean())
    return row


def completion_metrics(lengths: Sequence[int], truncated: Sequence[bool]) -> dict:
    """TRL's ``completions/*`` metrics: lengths in tokens (mean, min, max) of all completions and of those that
    ended by themselves, and ``clipped_ratio``, the share cut at ``max_completion_length``. No completion
    ended by itself: the terminated lengths are 0, as in TRL.

    >>> completion_metrics([4, 8, 2], [False, True, False])["completions/mean_terminated_length"]
    3.0
    """
    lengths_t = torch.tensor(lengths, dtype=torch.float64)
    clipped = torch.tensor(truncated, dtype=torch.bool)
    ended = lengths_t[~clipped] if (~clipped).any() else torch.zeros(1, dtype=torch.float64)
    return {"completions/mean_length": _number(lengths_t.mean()), "completions/min_length": _number(lengths_t.min()),
            "completions/max_length": _number(lengths_t.max()),
            "completions/clipped_ratio": _number(clipped.double().mean()),
            "completions/mean_terminated_length": _number(ended.mean()),
            "completions/min_terminated_length": _number(ended.min()),
            "completions/max_terminated_length": _number(ended.max())}


def main(argv: list[str] | None = None) -> int:
    return run_stage(GRPOConfig, grpo, argv, prog="rlvr grpo", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
