"""``rlvr grpo``: reinforcement learning with verifiable rewards (GRPO, DeepSeekMath / R1).

Each step: take ``prompts_per_step`` problems, sample ``num_generations`` completions of each with the
engine, score them with the reward rubric in a process pool (while the GPU computes reference
log-probabilities), turn rewards into group-relative advantages, and take one optimizer step per
``num_iterations`` pass over the batch with the clipped surrogate of ``train.grpo_loss``. Completions
that no verifier could judge (a reward of None) are excluded from the loss, not punished. Names follow
TRL's ``GRPOConfig`` where they exist.

    rlvr grpo --init-from runs/tiny/sft --tasks arithmetic --difficulty 1-2 --out-dir runs/tiny/grpo
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, NamedTuple

import torch

from train.checkpoint import save_checkpoint
from train.config import config_to_dict, run_stage
from train.data import BatchOrder
from train.dist import DistInfo, all_reduce_sum, init_distributed, shutdown
from train.engine import Engine, Generation
from train.grpo_loss import filter_groups, group_advantages, grpo_loss, token_entropy, token_logprobs
from train.load import ProblemSource
from train.loop import StageConfig, resume, setup_training, start_run
from train.template import TEMPLATES, render_prompt

__all__ = ["GRPOConfig", "RewardScorer", "grpo", "main"]

RewardFunc = Callable[..., list]  # TRL's signature: f(prompts, completions, **columns) -> list[float | None]


@dataclass
class GRPOConfig(StageConfig, ProblemSource):
    out_dir: str = field(default="runs/grpo", metadata={"help": "run folder"})
    rewards: str = field(default="accuracy,format=0.5", metadata={
        "help": "rewards by name with weights (verifiers.REWARDS); overlong and cosine_scaled are sized to "
                "--max-completion-length"})
    prompts_per_step: int = field(default=8, metadata={"help": "problems per step (per process)"})
    num_generations: int = field(default=8, metadata={"help": "completions sampled per problem (the group)"})
    max_prompt_length: int = field(default=512, metadata={"help": "longer prompts are skipped"})
    max_completion_length: int = field(default=256, metadata={"help": "new tokens per completion"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
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
                "classifier; logged unweighted as reward/rm (R1's mixed stage: --rewards accuracy,format=0.5 "
                "--reward-model RM=0.5; the reward model alone: --rewards accuracy=0, which only judges)"})
    eval_samples: int = field(default=0, metadata={"help": "also sample k per problem for pass@k (0: off)"})
    lr: float = field(default=1e-5, metadata={"help": "peak learning rate"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warmup steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="constant", metadata={"help": "decay shape"})
    max_steps: int = field(default=200, metadata={"help": "GRPO steps"})
    log_every: int = field(default=1, metadata={"help": "steps between metrics lines"})
    eval_every: int = field(default=50, metadata={"help": "steps between evaluations (0: only at the end)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_source()
        if self.num_generations < 2:
            raise ValueError(f"--num-generations must be at least 2 (advantages compare a group), "
                             f"got {self.num_generations}")
        for name in ("prompts_per_step", "max_completion_length", "num_iterations", "micro_batch_size",
                     "max_sampling_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive for sampling, got {self.temperature}")
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

            path, weight = parse_reward_model(self.reward_model)
            if not Path(path).is_dir():
                raise ValueError(f"--reward-model {self.reward_model!r}: no folder {path}")
            if not math.isfinite(weight):
                raise ValueError(f"--reward-model {self.reward_model!r}: the weight must be a finite number")


# ---------------------------------------------------------------------------------------------
# Rewards, scored in worker processes


_RUBRIC = None
_PUNISH_NO_ANSWER = True


def _init_worker(spec: str, punish_no_answer: bool, options: dict | None = None) -> None:
    global _RUBRIC, _PUNISH_NO_ANSWER
    from verifiers.rewards import Rubric

    weights = Rubric.parse(spec).weights
    options = {name: opts for name, opts in (options or {}).items() if name in weights}
    _RUBRIC, _PUNISH_NO_ANSWER = Rubric(weights, options=options), punish_no_answer


def length_options(max_completion_length: int) -> dict:
    """Length-shaped rewards sized to the generation budget (lengths are in tokens): DAPO's overlong
    punishment over the last quarter, the cosine-scaled reward over the whole budget."""
    return {"overlong": {"max_length": max_completion_length, "cache": max(1, max_completion_length // 4)},
            "cosine_scaled": {"max_len": max_completion_length}}


def _score_chunk(job: tuple[list[str], list[dict], list[int]]) -> list[tuple[float | None, dict, bool | None, bool]]:
    from verifiers import check_format

    completions, problems, lengths = job
    scores = _RUBRIC.score_group(completions, problems, lengths)
    out = []
    for completion, s in zip(completions, scores):
        total, parts = s.total, dict(s.parts)
        correct = None if s.verdict is None or not s.verdict.judged else bool(s.verdict.correct)
        well_formed = check_format(completion).ok
        # No final answer, or an answer outside the template, is the model's failure: 0, not "unjudged".
        # Only a well-formed answer the verifier cannot read (or a timeout) stays out of the loss.
        failed = s.verdict is not None and (s.verdict.status == "no_answer" or (not s.verdict.judged and not well_formed))
        if _PUNISH_NO_ANSWER and failed:
            correct = False
            if parts.get("accuracy", 0.0) is None:
                parts["accuracy"] = 0.0
            if all(v is not None for v in parts.values()):
                total = round(sum(_RUBRIC.weights[name] * v for name, v in parts.items()), 12)
        out.append((total, parts, correct, well_formed))
    return out


class RewardScorer:
    """Scores completions with a rubric (``"accuracy,format=0.5"``) in ``workers`` processes, plus any
    TRL-style reward callables in this process, each weighted by its ``weight`` attribute (default 1) in the
    total and logged unweighted. ``submit`` returns at once; ``result`` waits."""

    def __init__(self, spec: str, workers: int, funcs: Sequence[RewardFunc] = (), punish_no_answer: bool = True,
                 options: dict | None = None):
        from verifiers.rewards import Rubric

        if spec:
            Rubric.parse(spec)  # bad names fail here, with the registry's message
        self.spec, self.funcs = spec, list(funcs)
        self.pool = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                         initargs=(spec, punish_no_answer, options)) if workers > 0 and spec else None)
        if self.pool is None and spec:
            _init_worker(spec, punish_no_answer, options)

    def submit(self, completions: list[str], problems: list[dict], lengths: list[int], group: int) -> list:
        jobs = [(completions[i:i + group], problems[i:i + group], lengths[i:i + group])
                for i in range(0, len(completions), group)]
        if not self.spec:
            return [None] * len(jobs)
        if self.pool is None:
            return [_score_chunk(job) for job in jobs]
        return [self.pool.submit(_score_chunk, job) for job in jobs]

    def result(self, pending: list, prompts: list[str], completions: list[str], problems: list[dict]):
        """``(totals, parts, correct, well_formed)`` per completion; a total is None if any reward is."""
        rows = []
        for item in pending:
            rows += item.result() if isinstance(item, Future) else (item or [])
        if not rows:  # only callables
            from verifiers import check_format

            rows = [(0.0, {}, None, check_format(c).ok) for c in completions]
        totals = [r[0] for r in rows]
        parts = [dict(r[1]) for r in rows]
        for k, fn in enumerate(self.funcs):
            name = getattr(fn, "__name__", f"reward_{k}")
            columns = {key: [p.get(key) for p in problems] for key in problems[0]} if problems else {}
            values = fn(prompts=prompts, completions=completions, **columns)
            if len(values) != len(completions):
                raise ValueError(f"reward function {name} returned {len(values)} values for {len(completions)}")
            weight = getattr(fn, "weight", 1.0)
            for i, v in enumerate(values):
                parts[i][name] = v
                totals[i] = None if totals[i] is None or v is None else totals[i] + weight * float(v)
        return totals, parts, [r[2] for r in rows], [r[3] for r in rows]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# The batch the loss sees


def build_batch(prompt_ids: list[list[int]], generations: list[Generation], pad_id: int, *, multiple: int = 64):
    """Right-padded ``prompt + completion`` rows: inputs, targets and the completion mask over targets.

    Rows are padded to a multiple of ``multiple`` tokens so a compiled model sees few shapes.
    """
    rows = [prompt_ids[g.prompt_index] + g.token_ids for g in generations]
    width = -(-max(len(r) for r in rows) // multiple) * multiple + 1
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width - 1), dtype=torch.float32)
    for i, (row, g) in enumerate(zip(rows, generations)):
        ids[i, :len(row)] = torch.tensor(row)
        start = len(prompt_ids[g.prompt_index]) - 1  # target index of the first completion token
        mask[i, start:start + len(g.token_ids)] = 1.0
    return ids[:, :-1], ids[:, 1:], mask


def completion_logprobs(model, prompts: list[list[int]], generations: list[Generation], *, pad_id: int,
                        temperature: float, micro_batch_size: int, autocast, device) -> list[torch.Tensor]:
    """Each completion's token log-probs under ``model`` (no gradient), one 1-D tensor per completion.

    Used for the old policy (``num_iterations > 1``) and the reference (``beta > 0``) while the reward
    workers score the same completions.
    """
    inputs, targets, _ = build_batch(prompts, generations, pad_id)
    rows = []
    with torch.no_grad(), autocast:
        for i in range(0, len(generations), micro_batch_size):
            chunk = slice(i, i + micro_batch_size)
            logprobs = sequence_logprobs(model, inputs[chunk].to(device), targets[chunk].to(device), temperature)[0]
            for lp, g in zip(logprobs, generations[chunk]):
                start = len(prompts[g.prompt_index]) - 1
                rows.append(lp[start:start + len(g.token_ids)])
    return rows


def _place(rows: list[torch.Tensor], prompts: list[list[int]], generations: list[Generation], like: torch.Tensor):
    """Per-completion log-probs laid out as the batch's targets (zeros elsewhere)."""
    out = torch.zeros_like(like)
    for i, (row, g) in enumerate(zip(rows, generations)):
        start = len(prompts[g.prompt_index]) - 1
        out[i, start:start + len(row)] = row
    return out


def sequence_logprobs(model, inputs: torch.Tensor, targets: torch.Tensor, temperature: float,
                      with_entropy: bool = False):
    """Per-token log-probs of ``targets`` (temperature-scaled, as sampled), optionally the entropy."""
    logits = model(inputs).float() / temperature
    logprobs = token_logprobs(logits, targets)
    entropy = token_entropy(logits.detach()) if with_entropy else None
    return logprobs, entropy


# ---------------------------------------------------------------------------------------------


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 5) if values else None


def grpo(cfg: GRPOConfig, reward_funcs: Sequence[RewardFunc] = ()) -> dict:
    """Run GRPO; returns the last metrics row. ``reward_funcs``: extra TRL-style callables (weight 1)."""
    from train.evaluate import evaluate_policy
    from train.load import load_policy, problem_splits

    if not cfg.rewards and not reward_funcs and not cfg.reward_model:
        raise ValueError("no rewards: --rewards is empty and no reward model or reward functions were given")
    info: DistInfo = init_distributed(cfg.device)
    device = info.device
    if cfg.reward_model:  # batched by whole groups, on this process's device, outside the policy's graph
        from train.learned_reward import LearnedReward, parse_reward_model

        path, weight = parse_reward_model(cfg.reward_model)
        groups = max(1, cfg.micro_batch_size // cfg.num_generations)
        reward_funcs = [*reward_funcs, LearnedReward(path, device=device, weight=weight,
                                                     batch_size=groups * cfg.num_generations)]
    torch.manual_seed(cfg.seed + info.rank)  # each rank samples its own completions
    model, tokenizer = load_policy(cfg.init_from)
    model = model.to(device)
    ref_model = None
    if cfg.beta > 0:
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    train_rows, test_rows = problem_splits(cfg, cfg.seed)
    template = TEMPLATES[cfg.template]
    prompt_texts = [render_prompt(r["prompt"], template) for r in train_rows]
    prompt_ids_all = tokenizer.encode_batch(prompt_texts, bos=True)
    keep = [i for i, p in enumerate(prompt_ids_all) if len(p) <= cfg.max_prompt_length]
    if not keep:
        raise ValueError(f"every prompt is longer than --max-prompt-length {cfg.max_prompt_length}")
    train_rows = [train_rows[i] for i in keep]
    prompt_texts = [prompt_texts[i] for i in keep]
    prompt_ids_all = [prompt_ids_all[i] for i in keep]

    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = start_run(out_dir, cfg.resume, cfg.overwrite, info.is_main)  # an earlier run's: refused or removed
    tokenizer_file = out_dir / "tokenizer.json"
    if info.is_main:
        tokenizer.save(tokenizer_file)
    optimizer, scheduler, forward, autocast = setup_training(cfg, model, info)
    order = BatchOrder(len(train_rows), cfg.prompts_per_step, cfg.seed, info.rank, info.world_size)
    step, metrics_path = resume(checkpoint, model=model, optimizer=optimizer, scheduler=scheduler, order=order,
                                out_dir=out_dir, info=info)
    config_record = {"stage": "grpo", "model": model.config.to_dict(), "train": config_to_dict(cfg)}

    engine = Engine(model, tokenizer, max_batch_size=max(256, cfg.prompts_per_step * cfg.num_generations))
    eval_engine = Engine(model, tokenizer, compile=False)  # greedy evaluation now and then: no compilation
    scorer = RewardScorer(cfg.rewards, cfg.reward_workers, reward_funcs, cfg.punish_no_answer,
                          length_options(cfg.max_completion_length))
    if info.is_main:
        print(f"grpo: {len(train_rows):,} training problems, {len(test_rows)} held out; "
              f"{cfg.prompts_per_step} x {cfg.num_generations} completions per step; rewards {cfg.rewards}; "
              f"{model.num_parameters() / 1e6:.2f}M parameters on {device}")

    def evaluate() -> dict:
        result = evaluate_policy(model, tokenizer, test_rows, template=template, max_new_tokens=cfg.max_completion_length,
                                 engine=eval_engine)
        out = {"eval_accuracy": result.get("accuracy"), "eval_format": result.get("format"),
               "eval_per_task": result.get("per_task")}
        if cfg.eval_samples > 1:
            # sampled on a fork of the RNG: a run that evaluates (e.g. at its last step, then is resumed) must
            # go on sampling the same training completions as one that did not
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                sampled = evaluate_policy(model, tokenizer, test_rows, template=template, engine=eval_engine,
                                          max_new_tokens=cfg.max_completion_length, num_samples=cfg.eval_samples,
                                          temperature=cfg.temperature)
            out[f"eval_pass@{cfg.eval_samples}"] = sampled.get(f"pass@{cfg.eval_samples}")
        return out

    logprob_args = dict(pad_id=tokenizer.pad_id, temperature=cfg.temperature, micro_batch_size=cfg.micro_batch_size,
                        autocast=autocast, device=device)

    def sample_round(indices: list[int]):
        problems = [train_rows[i] for i in indices]
        prompts = [prompt_ids_all[i] for i in indices]
        generations = engine.generate(prompts, num_samples=cfg.num_generations,
                                      max_new_tokens=cfg.max_completion_length, temperature=cfg.temperature,
                                      top_p=cfg.top_p, top_k=cfg.top_k)
        group_problems = [problems[g.prompt_index] for g in generations]
        group_prompts = [prompt_texts[indices[g.prompt_index]] for g in generations]
        texts = [g.text for g in generations]
        pending = scorer.submit(texts, group_problems, [len(g.token_ids) for g in generations], cfg.num_generations)
        return prompts, generations, texts, group_problems, group_prompts, pending

    bar = None
    if info.is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, desc="grpo", unit="step", dynamic_ncols=True)
    last: dict = {}
    try:
        while step < cfg.max_steps:
            start = time.perf_counter()
            # 1. sample groups (dynamic sampling: keep groups whose rewards differ, refill)
            kept: list[tuple] = []
            gen_time, rounds, dropped = 0.0, 0, 0
            while rounds < (cfg.max_sampling_rounds if cfg.dynamic_sampling else 1):
                rounds += 1
                t0 = time.perf_counter()
                prompts, generations, texts, group_problems, group_prompts, pending = sample_round(order.next())
                gen_time += time.perf_counter() - t0
                # the GPU computes old-policy and reference log-probs while the workers score the rewards
                old_rows, ref_rows = [None] * len(generations), [None] * len(generations)
                if cfg.num_iterations > 1:
                    old_rows = completion_logprobs(model, prompts, generations, **logprob_args)
                if ref_model is not None:
                    ref_rows = completion_logprobs(ref_model, prompts, generations, **logprob_args)
                totals, parts, correct, formats = scorer.result(pending, group_prompts, texts, group_problems)
                rewards = torch.tensor([math.nan if t is None else t for t in totals])
                valid = ~torch.isnan(rewards)
                groups = list(range(len(prompts)))
                if cfg.dynamic_sampling:
                    keep_mask = filter_groups(rewards, cfg.num_generations, valid).tolist()
                    dropped += keep_mask.count(False)
                    groups = [k for k in groups if keep_mask[k]]
                for k in groups:
                    sl = slice(k * cfg.num_generations, (k + 1) * cfg.num_generations)
                    kept.append(Group(prompts[k], generations[sl], rewards[sl], valid[sl], parts[sl], correct[sl],
                                      formats[sl], old_rows[sl], ref_rows[sl]))
                if len(kept) >= cfg.prompts_per_step:
                    break
            kept = kept[: cfg.prompts_per_step]
            if info.is_distributed and cfg.dynamic_sampling:
                # the ranks train together or not at all: a rank left with no groups would skip the collectives
                # (token count, gradient all-reduce) that the others wait in
                ranks_with_groups = all_reduce_sum(torch.tensor(float(bool(kept)), device=device))
                if int(ranks_with_groups) < info.world_size:
                    kept = []
            step += 1
            row: dict = {"step": step}
            if kept:
                row.update(_train_on(kept, cfg, model=model, forward=forward, optimizer=optimizer,
                                     pad_id=tokenizer.pad_id, autocast=autocast, info=info, device=device))
            else:
                row["skipped"] = True  # every group had equal rewards: nothing to learn from this step
            scheduler.step()
            elapsed = time.perf_counter() - start
            completion_tokens = sum(len(g.token_ids) for k in kept for g in k.generations)
            row.update({"lr": float(f"{scheduler.get_last_lr()[0]:.4g}"), "step_time": round(elapsed, 3),
                        "generation_time": round(gen_time, 3),
                        "tokens_per_s": round(completion_tokens * info.world_size / elapsed, 1),
                        "sampling_rounds": rounds, "dropped_groups": dropped})
            if info.is_main and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps):
                row.update(evaluate())
            if info.is_main and (step % cfg.log_every == 0 or "eval_accuracy" in row):
                with metrics_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
            last = row
            if bar is not None:
                bar.set_postfix({k: row[k] for k in ("reward", "accuracy", "eval_accuracy") if row.get(k) is not None})
                bar.update(1)
            if info.is_main and (step == cfg.max_steps or (cfg.save_every and step % cfg.save_every == 0)):
                save_checkpoint(out_dir, step, model=model, optimizer=optimizer, scheduler=scheduler,
                                config=config_record, tokenizer_file=tokenizer_file,
                                state={"data": order.state()}, keep_last=cfg.keep_last)
    finally:
        scorer.close()
        if bar is not None:
            bar.close()
    if info.is_main:
        from train.hf import export_hf

        export_hf(model, out_dir / "final", tokenizer)
    del forward  # DDP's destructor still talks to the process group: free it before leaving the group
    shutdown()
    return last


class Group(NamedTuple):
    """One prompt's sampled completions as the step keeps them (each list has one entry per completion)."""

    prompt: list[int]
    generations: list[Generation]
    rewards: torch.Tensor  # NaN where no reward could be computed
    valid: torch.Tensor
    parts: list[dict]
    correct: list[bool | None]
    formats: list[bool]
    old_logprobs: list[torch.Tensor | None]  # per completion, when num_iterations > 1
    ref_logprobs: list[torch.Tensor | None]  # per completion, when beta > 0


def _train_on(kept: list[Group], cfg: GRPOConfig, *, model, forward, optimizer, pad_id, autocast,
              info: DistInfo, device) -> dict:
    """Advantages, then ``num_iterations`` optimizer passes over the batch; returns the step's metrics."""
    prompts = [k.prompt for k in kept]
    generations = [g for k in kept for g in k.generations]
    for i, g in enumerate(generations):  # re-index prompts within the kept batch
        g.prompt_index = i // cfg.num_generations
    rewards = torch.cat([k.rewards for k in kept])
    valid = torch.cat([k.valid for k in kept])
    parts = [p for k in kept for p in k.parts]
    correct = [c for k in kept for c in k.correct]
    formats = [f for k in kept for f in k.formats]
    advantages = group_advantages(torch.nan_to_num(rewards), cfg.num_generations, scale_rewards=cfg.scale_rewards,
                                  valid=valid)
    inputs, targets, mask = build_batch(prompts, generations, pad_id)
    truncated = torch.tensor([g.finish_reason == "length" for g in generations])
    row_ok = valid & ~truncated if cfg.mask_truncated_completions else valid
    mask = mask * row_ok[:, None].float()  # excluded completions: no loss at all
    n = len(generations)
    chunks = [slice(i, min(i + cfg.micro_batch_size, n)) for i in range(0, n, cfg.micro_batch_size)]
    inputs, targets, mask, advantages = inputs.to(device), targets.to(device), mask.to(device), advantages.to(device)
    tokens_here = mask.sum()
    num_items = all_reduce_sum(tokens_here.clone()) / info.world_size  # DAPO's global token mean, DDP-averaged

    old_rows = [r for k in kept for r in k.old_logprobs]
    ref_rows = [r for k in kept for r in k.ref_logprobs]
    old = ([_place(old_rows, prompts, generations, mask)[c] for c in chunks] if old_rows[0] is not None
           else [None] * len(chunks))
    ref = ([_place(ref_rows, prompts, generations, mask)[c] for c in chunks] if ref_rows[0] is not None
           else [None] * len(chunks))
    stats: dict[str, list[float]] = {}
    grad_norm = torch.zeros(())
    for _ in range(cfg.num_iterations):
        for c, old_lp, ref_lp in zip(chunks, old, ref):
            last_chunk = c is chunks[-1]
            sync = last_chunk or not info.is_distributed
            with forward.no_sync() if not sync else contextlib.nullcontext(), autocast:
                logprobs, entropy = sequence_logprobs(forward, inputs[c], targets[c], cfg.temperature,
                                                      with_entropy=True)
                loss, metrics = grpo_loss(logprobs, old_lp, advantages[c], mask[c], ref_logprobs=ref_lp,
                                          beta=cfg.beta, epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high,
                                          loss_type=cfg.loss_type, max_completion_length=cfg.max_completion_length,
                                          num_items_in_batch=num_items)
                if cfg.loss_type != "dapo":  # per-micro-batch means: average them over the batch
                    loss = loss / len(chunks)
            loss.backward()
            weight = float(mask[c].sum())
            for key, value in metrics.items():
                stats.setdefault(key, []).append(float(value) * weight)
            stats.setdefault("entropy", []).append(float((entropy * mask[c]).sum()))
            stats.setdefault("_tokens", []).append(weight)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    tokens = sum(stats.pop("_tokens")) or 1.0
    lengths = [len(g.token_ids) for g in generations]
    judged = [c for c in correct if c is not None]
    row = {
        "reward": _mean([None if not v else float(r) for r, v in zip(rewards.tolist(), valid.tolist())]),
        "accuracy": round(sum(judged) / len(judged), 5) if judged else None,
        "format": round(sum(formats) / len(formats), 5),
        "unjudged": round(1 - len(judged) / n, 5) if any(k == "accuracy" for k in parts[0]) else None,
        "completion_length": round(sum(lengths) / n, 2),
        "completion_length_max": max(lengths),
        "truncated": round(float(truncated.float().mean()), 5),
        "grad_norm": round(float(grad_norm), 4),
    }
    for name in parts[0] if parts else []:
        row[f"reward/{name}"] = _mean([p.get(name) for p in parts])
    for key, values in stats.items():
        row[key] = round(sum(values) / tokens, 6)
    if info.is_distributed:  # every rank joins each reduction, also where its own value is None
        for key in ("reward", "accuracy", "format", "completion_length"):
            value = row.get(key)
            pair = torch.tensor([value or 0.0, float(value is not None)], device=device)
            total, count = all_reduce_sum(pair).tolist()
            row[key] = round(total / count, 5) if count else None
    return row


def main(argv: list[str] | None = None) -> int:
    return run_stage(GRPOConfig, grpo, argv, prog="rlvr grpo", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
