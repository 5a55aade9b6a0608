"""Crash-safe checkpoints: weights, config, tokenizer, optimizer and scheduler state, RNG states.

A checkpoint is a folder ``out_dir/step_00001000/`` holding

- ``model.safetensors``: the weights (tied weights stored once),
- ``config.json``: the run's config dict,
- ``tokenizer.json``: a copy of the tokenizer, when one is given,
- ``trainer_state.pt``: step, optimizer and scheduler state, the caller's ``state`` (e.g. the data
  position) and the RNG states (``random``, NumPy, torch CPU and every CUDA device).

Everything is written into a hidden sibling folder, flushed to disk and then renamed into place,
so a crash mid-save leaves the previous checkpoints as they were; the newest ``keep_last`` are kept.

    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 1)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     print(save_checkpoint(out, 10, model=model, config={"lr": 0.1}, state={"epoch": 1}).name)
    ...     print(load_checkpoint(latest_checkpoint(out), model=model))
    step_00000010
    {'step': 10, 'state': {'epoch': 1}, 'config': {'lr': 0.1}}

With DDP only rank 0 should save; the RNG states saved are rank 0's.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

__all__ = ["latest_checkpoint", "load_checkpoint", "save_checkpoint", "unwrap_model"]

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
STATE_FILE = "trainer_state.pt"  # written last: a folder without it is incomplete
REQUIRED_FILES = (MODEL_FILE, CONFIG_FILE, STATE_FILE)
_FOLDER = re.compile(r"(\.old-)?step_(\d+)")


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / DataParallel / ``torch.compile`` wrappers (any nesting).

    >>> inner = torch.nn.Linear(2, 2)
    >>> unwrap_model(torch.nn.DataParallel(inner)) is inner
    True
    """
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), torch.nn.Module):  # torch.compile
            model = model._orig_mod
        else:
            return model


def _fsync(path: Path) -> None:
    """Flush a file (or, on POSIX, a folder's entries) to disk."""
    if path.is_dir() and os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        name, keys, pos, has_gauss, cached = np.random.get_state()
        states["numpy"] = (name, keys.tolist(), pos, has_gauss, cached)  # plain values load with weights_only
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    if "numpy" in states:
        try:
            import numpy as np
        except ImportError:
            pass
        else:
            name, keys, pos, has_gauss, cached = states["numpy"]
            np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in states and torch.cuda.is_available():
        cuda_states = states["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def _checkpoints(out_dir: Path) -> dict[int, Path]:
    """Step -> complete checkpoint folder. A ``.old-step_N`` folder counts only if ``step_N`` is
    missing: a re-save of step N was cut short between its two renames."""
    found: dict[int, Path] = {}
    if not out_dir.is_dir():
        return found
    for folder in out_dir.iterdir():
        match = _FOLDER.fullmatch(folder.name)
        if match and folder.is_dir() and _is_complete(folder):
            step = int(match[2])
            if match[1] is None or step not in found:
                found[step] = folder
    return found


def _clean_up(out_dir: Path) -> None:
    """Remove what crashed saves left behind: temporary folders, and put back a replaced checkpoint."""
    for folder in out_dir.glob(".tmp-step_*"):
        shutil.rmtree(folder, ignore_errors=True)
    for old in out_dir.glob(".old-step_*"):
        final = out_dir / old.name.removeprefix(".old-")
        if final.exists() or not _is_complete(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, final)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The complete checkpoint folder of the highest step in ``out_dir``, or None.

    Temporary and incomplete folders are ignored.

    >>> latest_checkpoint("no/such/run") is None
    True
    """
    found = _checkpoints(Path(out_dir))
    return found[max(found)] if found else None


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    config: dict | None = None,
    tokenizer_file: str | Path | None = None,
    state: dict | None = None,
    keep_last: int | None = 3,
) -> Path:
    """Write ``out_dir/step_{step:08d}/`` atomically and keep only the newest ``keep_last`` checkpoints.

    ``keep_last`` of 0 or None keeps all; the checkpoint just written is always kept. Saving a step
    that already exists replaces it. ``state`` should hold plain Python values and tensors.
    Returns the checkpoint folder.
    """
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, got {step!r}")
    if keep_last is not None and keep_last < 0:
        raise ValueError(f"keep_last must be >= 0 or None, got {keep_last}")
    try:
        config_text = json.dumps(config or {}, indent=2)
    except TypeError as exc:
        raise ValueError(f"config is not JSON-serialisable: {exc}") from None
    if tokenizer_file is not None and not Path(tokenizer_file).is_file():
        raise FileNotFoundError(f"tokenizer_file {tokenizer_file}: no such file")
    from safetensors.torch import save_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_up(out_dir)
    name = f"step_{step:08d}"
    final, tmp, old = out_dir / name, out_dir / f".tmp-{name}", out_dir / f".old-{name}"
    tmp.mkdir()
    try:
        save_model(unwrap_model(model), str(tmp / MODEL_FILE), metadata={"format": "pt"})
        (tmp / CONFIG_FILE).write_text(config_text)
        if tokenizer_file is not None:
            shutil.copyfile(tokenizer_file, tmp / TOKENIZER_FILE)
        trainer_state = {
            "step": step,
            "state": state or {},
            "optimizer": None if optimizer is None else optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "rng": _rng_states(),
        }
        torch.save(trainer_state, tmp / STATE_FILE)
        for file in tmp.iterdir():
            _fsync(file)
        _fsync(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # a folder cannot be renamed over a non-empty one: move the old one aside first
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    if keep_last:
        steps = sorted(_checkpoints(out_dir))
        for old_step in steps[:-keep_last]:
            if old_step != step:
                shutil.rmtree(out_dir / f"step_{old_step:08d}", ignore_errors=True)
    return final


def _load_weights(path: Path, model: torch.nn.Module) -> None:
    """Load ``model.safetensors`` into ``model``; ValueError naming a mismatched or missing parameter."""
    from safetensors import safe_open
    from safetensors.torch import load_model

    file = path / MODEL_FILE
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    with safe_open(str(file), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            shape = tuple(f.get_slice(name).get_shape())
            if name in expected and shape != expected[name]:
                raise ValueError(f"{file}: parameter {name!r} has shape {list(shape)} in the checkpoint "
                                 f"but {list(expected[name])} in the model")
    missing, unexpected = load_model(model, str(file), strict=False)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing from the checkpoint: {', '.join(sorted(missing))}")
        if unexpected:
            problems.append(f"not in the model: {', '.join(sorted(unexpected))}")
        raise ValueError(f"{file} does not fit {type(model).__name__}; parameters " + "; ".join(problems))


def load_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    map_location: str | torch.device = "cpu",
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint folder into ``model`` (and ``optimizer``, ``scheduler``); restore the RNG states.

    Returns ``{"step": int, "state": dict, "config": dict}``. Raises FileNotFoundError for a missing
    or incomplete folder and ValueError when the weights or optimizer state do not fit.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {path}")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        hint = " (a run folder? pass latest_checkpoint(folder))" if _checkpoints(path) else ""
        raise FileNotFoundError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}{hint}")
    try:
        trainer_state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"checkpoint {path}: {STATE_FILE} cannot be read safely: {exc}") from None
    _load_weights(path, unwrap_model(model))
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if trainer_state[name] is None:
            raise ValueError(f"checkpoint {path} has no {name} state (it was saved without one)")
        try:
            obj.load_state_dict(trainer_state[name])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ValueError(f"checkpoint {path}: the {name} state does not fit: {exc}") from None
    if restore_rng:
        _restore_rng_states(trainer_state["rng"])
    config = json.loads((path / CONFIG_FILE).read_text())
    return {"step": trainer_state["step"], "state": trainer_state["state"], "config": config}
