"""One run of a training stage: everything a stage does around its own steps.

Every stage (pretraining and SFT through ``train.loop.train_loop``, GRPO, DPO, and the stages to come)
opens its policy with :func:`open_policy` (or builds a model), makes its data, and then trains inside a
:class:`Run`, which

- starts the run folder, or resumes it from its latest checkpoint (weights, optimizer, schedule, RNG
  states and the stage's own ``state``), refusing to mix a fresh run into an earlier one's checkpoints;
- saves the tokenizer, and sets up the optimizer, schedule, compilation, DDP and autocast;
- after each step (:meth:`Run.end_step`) appends the metrics row to ``metrics.jsonl`` (and to ``--report-to``'s
  TensorBoard, Trackio or W&B), moves the progress bar and writes crash-safe checkpoints;
- evaluates the policy on held-out problems (:meth:`Run.evaluate`), saving the judged completions to
  ``completions.jsonl``;
- exports the model as a Hugging Face folder ``final/`` (with the chat template of the stage's prompt template
  and a model card) and leaves the process group.

A stage's file keeps only what is its own: its config, its data, and one step.

    with Run(cfg, "mystage", model, tokenizer, info) as run:
        while run.step < cfg.max_steps:
            row = my_step(run.forward, run.optimizer)
            run.scheduler.step()
            run.step += 1
            run.end_step({"step": run.step, **row}, state={})
        run.export()
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from train.config import config_to_dict
from train.dist import DistInfo, barrier, init_distributed, shutdown
from train.load import ProblemSource, load_policy
from train.optim import build_optimizer, build_scheduler
from train.report import ReportTo, check_report_to, open_reporter

__all__ = ["RLConfig", "Run", "StageConfig", "compiles", "open_policy", "setup_training", "start_run",
           "use_cuda_graphs"]


@dataclass
class StageConfig:
    """Optimisation, logging and checkpointing settings common to every stage."""

    out_dir: str = field(default="runs/stage", metadata={"help": "run folder: checkpoints, metrics.jsonl, final/"})
    max_steps: int = field(default=500, metadata={"help": "optimizer steps"})
    lr: float = field(default=3e-3, metadata={"help": "peak learning rate (AdamW)"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final learning rate / peak"})
    warmup_steps: int = field(default=50, metadata={"help": "linear warmup steps"})
    schedule: Literal["cosine", "wsd", "constant"] = field(default="cosine", metadata={"help": "decay shape"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay on matrices"})
    optimizer: Literal["adamw", "muon"] = field(default="adamw", metadata={"help": "muon: Muon on hidden matrices"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm (0: no clipping)"})
    eval_every: int = field(default=100, metadata={"help": "steps between held-out evaluations (0: only at the end)"})
    save_every: int = field(default=0, metadata={"help": "steps between checkpoints (0: only at the end)"})
    keep_last: int = field(default=2, metadata={"help": "checkpoints kept"})
    log_every: int = field(default=10, metadata={"help": "steps between metrics lines"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint in out_dir"})
    overwrite: bool = field(default=False, metadata={"help": "start afresh in an out_dir that holds an earlier run"})
    seed: int = field(default=0, metadata={"help": "seed for initialisation, data order and sampling"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda if available)"})
    compile: bool | None = field(default=None, metadata={"help": "torch.compile the model (default: on GPU)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    report_to: ReportTo = field(default="none", metadata={
        "help": "also log the metrics to tensorboard (OUT/tensorboard), trackio (its local store) or wandb "
                "(offline unless WANDB_MODE is set): optional extras, pip install 'rlvr[NAME]'"})

    def __post_init__(self) -> None:
        check_report_to(self.report_to)  # a missing package is named now, not after the data and model load
        for name in ("max_steps", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_every", "save_every", "keep_last"):  # checked now, not at the first save
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.warmup_steps > self.max_steps:
            self.warmup_steps = self.max_steps


@dataclass
class RLConfig(StageConfig, ProblemSource):
    """A stage that learns from completions its policy samples (GRPO, iterative DPO): their defaults."""

    num_generations: int = field(default=8, metadata={"help": "completions sampled per problem"})
    max_completion_length: int = field(default=256, metadata={"help": "new tokens per sampled completion"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    log_every: int = field(default=1, metadata={"help": "steps between metrics lines"})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_generations", "max_completion_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive for sampling, got {self.temperature}")


def open_policy(cfg: ProblemSource) -> tuple[DistInfo, torch.nn.Module, object]:
    """``(info, model, tokenizer)`` for a stage that starts from a policy (``cfg.init_from``): the process
    group joined, this rank's sampling seeded (``seed + rank``: each rank samples its own completions), and
    the policy on this process's device."""
    if not cfg.init_from:
        raise ValueError("--init-from is required: the policy to train (a run, checkpoint or Hugging Face folder)")
    info = init_distributed(cfg.device)
    torch.manual_seed(cfg.seed + info.rank)
    model, tokenizer = load_policy(cfg.init_from)
    return info, model.to(info.device), tokenizer


def start_run(out_dir: Path, resume: bool, overwrite: bool, is_main: bool) -> Path | None:
    """The checkpoint to resume from, if any. A fresh run refuses a folder holding an earlier run's
    checkpoints unless ``overwrite`` (then they are deleted): otherwise a later resume would pick up
    the old run's weights."""
    found = latest_checkpoint(out_dir)
    if resume:
        if found is None and is_main:
            print(f"--resume: no checkpoint in {out_dir}, starting from scratch")
        return found
    if found is not None:
        if not overwrite:
            raise ValueError(f"{out_dir} holds checkpoints of an earlier run (latest {found.name}); pass --resume to "
                             "continue it, --overwrite to start afresh, or another --out-dir")
        if is_main:
            for old in out_dir.glob("step_*"):
                shutil.rmtree(old, ignore_errors=True)
            (out_dir / "metrics.jsonl").unlink(missing_ok=True)
    return None


def compiles(cfg: StageConfig, device: torch.device) -> bool:
    """Whether a stage compiles its model: as ``cfg.compile`` says, by default on GPU.

    >>> compiles(StageConfig(), torch.device("cpu")), compiles(StageConfig(compile=True), torch.device("cpu"))
    (False, True)
    """
    return device.type == "cuda" if cfg.compile is None else cfg.compile


def setup_training(cfg: StageConfig, model: torch.nn.Module, info: DistInfo, *, compile_mode: str | None = None):
    """``(optimizer, scheduler, forward, autocast)`` for a stage: AdamW or Muon with the schedule,
    the model compiled on GPU (or as ``cfg.compile`` says; ``compile_mode`` is ``torch.compile``'s ``mode``)
    and wrapped in DDP under torchrun, and bf16 autocast on GPU."""
    device = info.device
    optimizer = build_optimizer(model, name=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = build_scheduler(optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.max_steps,
                                schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio)
    forward = torch.compile(model, mode=compile_mode) if compiles(cfg, device) else model
    if info.is_distributed:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device.index] if device.type == "cuda" else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    return optimizer, scheduler, forward, autocast


def use_cuda_graphs(cfg: StageConfig, info: DistInfo) -> bool:
    """Whether a stage's training steps replay CUDA graphs: as ``cfg.cuda_graphs`` says, by default on one
    compiled CUDA process (compile the forward with ``mode="reduce-overhead"`` then). At 420-token pairs the host
    takes about as long to launch a step's kernels as the GPU to run them; replaying graphs made DPO's steps 5%
    faster on an H200 (docs/BENCHMARKS.md 5.4)."""
    compiled = compiles(cfg, info.device)
    if cfg.cuda_graphs is None:
        return info.device.type == "cuda" and compiled and not info.is_distributed
    if cfg.cuda_graphs and (info.device.type != "cuda" or not compiled):
        raise ValueError(f"--cuda-graphs needs a CUDA device and --compile (device {info.device}, "
                         f"compile {compiled})")
    if cfg.cuda_graphs and info.is_distributed:
        raise ValueError("--cuda-graphs is not supported under torchrun (DDP's gradient hooks run outside the "
                         "graphs); leave it unset")
    return cfg.cuda_graphs


def _cut_metrics(out_dir: Path, step: int) -> Path:
    """metrics.jsonl, with lines after ``step`` dropped so a resumed run does not repeat them."""
    path = out_dir / "metrics.jsonl"
    if path.exists():
        kept = [line for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        path.write_text("".join(line + "\n" for line in kept))
    return path


class Run:
    """A stage's run from its start (or resume) to its export; a context manager that leaves the process
    group however the run ends.

    Opening it starts ``cfg.out_dir`` (see :func:`start_run`), saves the tokenizer, sets up training
    (``optimizer``, ``scheduler``, ``forward``: the compiled and/or DDP-wrapped model, ``autocast``) and
    restores the latest checkpoint when resuming: ``step`` is the step reached, ``state`` the stage's own
    state saved with it (empty when fresh), ``resumed`` whether there was one. ``postfix`` names the
    metrics shown beside the progress bar. ``model_config`` is recorded in each checkpoint's config
    (default: ``model.config.to_dict()``). ``scratch`` names what else in the run folder belongs to one run
    of the stage (DPO's ``rounds``): a fresh run starts without it. ``last_row`` is the last metrics row
    logged (the model card's results).
    """

    def __init__(self, cfg: StageConfig, stage: str, model: torch.nn.Module, tokenizer, info: DistInfo, *,
                 compile_mode: str | None = None, model_config: dict | None = None, postfix: Sequence[str] = (),
                 scratch: Sequence[str] = ()):
        self.cfg, self.model, self.tokenizer, self.info = cfg, model, tokenizer, info
        self.out_dir = Path(cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = start_run(self.out_dir, cfg.resume, cfg.overwrite, info.is_main)  # an earlier run's: refused or removed
        if checkpoint is None and info.is_main:
            for name in scratch:
                shutil.rmtree(self.out_dir / name, ignore_errors=True)
        barrier()  # no rank reads the folder before rank 0 has cleared it
        self.tokenizer_file = self.out_dir / "tokenizer.json"
        if info.is_main:
            tokenizer.save(self.tokenizer_file)
        self.optimizer, self.scheduler, self.forward, self.autocast = setup_training(cfg, model, info,
                                                                                     compile_mode=compile_mode)
        self.step, self.state, self.resumed = 0, {}, checkpoint is not None
        if checkpoint is not None:
            loaded = load_checkpoint(checkpoint, model=model, optimizer=self.optimizer, scheduler=self.scheduler,
                                     map_location=info.device)
            self.step, self.state = loaded["step"], loaded["state"]
        self.metrics_path = _cut_metrics(self.out_dir, self.step) if info.is_main else None
        self.record = {"stage": stage, "model": model.config.to_dict() if model_config is None else model_config,
                       "train": config_to_dict(cfg)}
        self.postfix = tuple(postfix)
        self.last_row: dict = {}
        self.reporter = open_reporter(cfg.report_to, self.out_dir, name=str(self.out_dir), config=self.record,
                                      step=self.step) if info.is_main else None
        self.bar = None
        if info.is_main and cfg.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=cfg.max_steps, initial=self.step, desc=stage, unit="step", dynamic_ncols=True)
        self._engine = None  # the evaluation engine, made at the first evaluation
        model.train()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def evaluating(self) -> bool:
        """Whether the step just taken ends with an evaluation: every ``eval_every`` steps and at the last."""
        return self.step == self.cfg.max_steps or bool(self.cfg.eval_every and self.step % self.cfg.eval_every == 0)

    def end_step(self, row: dict | None, state: dict, *, save: bool = False) -> None:
        """After step ``self.step``: append ``row`` to the metrics (every ``log_every`` steps and at
        evaluations; ``None``: nothing to log this step), move the progress bar, and save a checkpoint
        holding ``state`` every ``save_every`` steps, at the last step, and when ``save`` is set."""
        cfg = self.cfg
        if row is not None:
            self.last_row = row
            if self.metrics_path is not None and (self.step % cfg.log_every == 0 or self.evaluating):
                with self.metrics_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                self.reporter.log(row, self.step)
            if self.bar is not None:
                self.bar.set_postfix({k: row[k] for k in self.postfix if row.get(k) is not None})
        if self.bar is not None:
            self.bar.update(1)
        if self.info.is_main and (save or self.step == cfg.max_steps or (cfg.save_every and self.step % cfg.save_every == 0)):
            save_checkpoint(self.out_dir, self.step, model=self.model, optimizer=self.optimizer,
                            scheduler=self.scheduler, config=self.record, tokenizer_file=self.tokenizer_file,
                            state=state, keep_last=cfg.keep_last)

    def evaluate(self, problems: Sequence[dict], *, template: str, max_new_tokens: int, samples: int = 0,
                 temperature: float = 1.0, prefix: str = "") -> dict:
        """The policy's held-out metrics (``train.evaluate.held_out_evaluation``: greedy accuracy, format, ...;
        with ``samples`` > 1 also of completions sampled at ``temperature``, leaving the RNG as it was), their
        keys prefixed with ``prefix``; ``{}`` without problems. The judged completions replace
        ``completions.jsonl`` in the run folder."""
        from train.engine import Engine
        from train.evaluate import held_out_evaluation, write_completions

        if not problems:
            return {}
        # an occasional evaluation does not repay compiling the decode step; one engine keeps its graphs
        self._engine = self._engine or Engine(self.model, self.tokenizer, compile=False)
        result = held_out_evaluation(self.model, self.tokenizer, problems, template=template, samples=samples,
                                     max_new_tokens=max_new_tokens, temperature=temperature, engine=self._engine)
        write_completions(self.out_dir / "completions.jsonl", result.completions)
        return {prefix + key: value for key, value in result.metrics.items()}

    def export(self) -> None:
        """Write the model as a Hugging Face folder ``final/`` (rank 0), its tokenizer with the chat template of
        the stage's prompt template (pretraining's: R1-Zero, the template a base model is prompted with), and a
        model card of the run's settings and last metrics."""
        if self.info.is_main:
            from train.hf import export_hf, write_model_card

            folder = export_hf(self.model, self.out_dir / "final", self.tokenizer,
                               template=getattr(self.cfg, "template", "r1_zero"))
            write_model_card(folder, stage=self.record["stage"], settings=self.record["train"], metrics=self.last_row)

    def close(self) -> None:
        """Close the progress bar and leave the process group (``with Run(...)`` does this at the end)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.reporter is not None:
            self.reporter.close()
            self.reporter = None
        self.forward = None  # DDP's destructor still talks to the process group: free it before leaving the group
        shutdown()
