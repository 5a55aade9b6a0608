"""Where a stage's metrics go besides ``metrics.jsonl``: ``--report-to none|tensorboard|trackio|wandb``.

Each is an optional extra (``pip install 'rlvr[tensorboard]'``) and works offline: TensorBoard writes event
files to ``OUT/tensorboard``, Trackio to its local store (``trackio show``; a Space only when the user set
``TRACKIO_SPACE_ID``), and Weights & Biases runs in offline mode under ``OUT/wandb`` unless ``WANDB_MODE``
says otherwise (``wandb sync`` uploads it later). Rows are logged as the metrics file gets them; nested
values (``eval_per_task``) as ``key/name``, text and missing values left out.

>>> scalars({"step": 3, "loss": 0.5, "skipped": True, "eval_per_task": {"add": 1.0}, "note": "x", "kl": None})
{'loss': 0.5, 'eval_per_task/add': 1.0}
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

__all__ = ["REPORT_TO", "Reporter", "check_report_to", "open_reporter", "scalars"]

ReportTo = Literal["none", "tensorboard", "trackio", "wandb"]
REPORT_TO: tuple[str, ...] = ("none", "tensorboard", "trackio", "wandb")


def check_report_to(name: str) -> None:
    """ValueError unless ``name`` is a known destination whose package is installed.

    >>> check_report_to("none")
    >>> check_report_to("mlflow")
    Traceback (most recent call last):
    ...
    ValueError: --report-to 'mlflow': expected one of none, tensorboard, trackio, wandb
    """
    if name not in REPORT_TO:
        raise ValueError(f"--report-to {name!r}: expected one of {', '.join(REPORT_TO)}")
    if name != "none" and importlib.util.find_spec(name) is None:
        raise ValueError(f"--report-to {name} needs the {name} package, which is not installed: "
                         f"pip install 'rlvr[{name}]' (or pip install {name})")


def scalars(row: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics row by name, nested dicts flattened (``step`` is the x axis, not a value)."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
            out[prefix + key] = float(value)
    return out


class Reporter:
    """``--report-to none``: logs nothing. The others log a row's :func:`scalars` at a step."""

    def log(self, row: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class _TensorBoard(Reporter):
    def __init__(self, out_dir: Path, step: int):
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run drops the events the crashed one logged after its checkpoint
        self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=step + 1 if step else None)

    def log(self, row: dict, step: int) -> None:
        for key, value in scalars(row).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()  # a running stage's curves appear as it trains

    def close(self) -> None:
        self.writer.close()


class _Trackio(Reporter):
    def __init__(self, name: str, config: dict):
        import trackio

        self.trackio = trackio
        trackio.init(project=os.environ.get("TRACKIO_PROJECT", "rlvr"), name=name, config=config, resume="allow")

    def log(self, row: dict, step: int) -> None:
        self.trackio.log(scalars(row), step=step)

    def close(self) -> None:
        self.trackio.finish()


class _Wandb(Reporter):
    def __init__(self, out_dir: Path, name: str, config: dict):
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "rlvr"), name=name, config=config,
                              dir=str(out_dir), mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, row: dict, step: int) -> None:
        self.run.log(scalars(row), step=step)

    def close(self) -> None:
        self.run.finish()


def open_reporter(report_to: str, out_dir: str | Path, *, name: str, config: dict, step: int = 0) -> Reporter:
    """The reporter for ``--report-to`` of a run in ``out_dir`` named ``name`` with settings ``config``,
    starting after ``step`` (a resumed run)."""
    check_report_to(report_to)
    out_dir = Path(out_dir)
    if report_to == "tensorboard":
        return _TensorBoard(out_dir, step)
    if report_to == "trackio":
        return _Trackio(name, config)
    if report_to == "wandb":
        return _Wandb(out_dir, name, config)
    return Reporter()
