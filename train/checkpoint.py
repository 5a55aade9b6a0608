"""Crash-safe checkpoints: weights, config, tokenizer, optimizer and scheduler state, RNG states.

A checkpoint is a folder ``out_dir/step_00001000/`` holding

- ``model.safetensors``: the weights (tied weights stored once), or, for a sharded model (``--parallel fsdp``),
  ``sharded/``: the weights and the optimizer state as each rank's shards, written by every rank together with
  ``torch.distributed.checkpoint`` (DCP); it loads into a sharded model on any number of ranks and into a plain
  one in a single process (``--init-from`` a checkpoint, ``--resume`` under DDP),
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

With DDP only rank 0 should save; a sharded model is saved by every rank (``sharded=True``), on a file system
they share. The RNG states saved are rank 0's.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = ["latest_checkpoint", "load_checkpoint", "model_keys", "save_checkpoint", "unwrap_model"]

MODEL_FILE = "model.safetensors"
SHARDED_DIR = "sharded"  # the DCP folder of a sharded checkpoint: the model's and the optimizer's shards
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
STATE_FILE = "trainer_state.pt"  # written last: a folder without it is incomplete
REQUIRED_FILES = (MODEL_FILE, CONFIG_FILE, STATE_FILE)  # MODEL_FILE or SHARDED_DIR/.metadata
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


def _is_sharded(folder: Path) -> bool:
    return (folder / SHARDED_DIR / ".metadata").is_file()


def _missing(folder: Path) -> list[str]:
    weights = [] if _is_sharded(folder) else [MODEL_FILE]
    return [name for name in (*weights, CONFIG_FILE, STATE_FILE) if not (folder / name).is_file()]


def _is_complete(folder: Path) -> bool:
    return not _missing(folder)


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
    sharded: bool = False,
) -> Path:
    """Write ``out_dir/step_{step:08d}/`` atomically and keep only the newest ``keep_last`` checkpoints.

    ``keep_last`` of 0 or None keeps all; the checkpoint just written is always kept. Saving a step
    that already exists replaces it. ``state`` should hold plain Python values and tensors.
    ``sharded``: ``model`` is sharded (``train.fsdp``) and every rank calls this together; each writes its shards
    of the weights and of the optimizer state, rank 0 the rest. Returns the checkpoint folder.
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
    name = f"step_{step:08d}"
    final, tmp, old = out_dir / name, out_dir / f".tmp-{name}", out_dir / f".old-{name}"
    main = not sharded or torch.distributed.get_rank() == 0
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _clean_up(out_dir)
        tmp.mkdir()
    if sharded:
        torch.distributed.barrier()  # the folder exists before any rank writes into it
    try:
        if sharded:
            _save_sharded(tmp / SHARDED_DIR, model, optimizer)
        if main:
            if not sharded:
                save_model(unwrap_model(model), str(tmp / MODEL_FILE), metadata={"format": "pt"})
            (tmp / CONFIG_FILE).write_text(config_text)
            if tokenizer_file is not None:
                shutil.copyfile(tokenizer_file, tmp / TOKENIZER_FILE)
            trainer_state = {
                "step": step,
                "state": state or {},
                "optimizer": None if optimizer is None or sharded else optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "rng": _rng_states(),
            }
            torch.save(trainer_state, tmp / STATE_FILE)
            for file in [*tmp.rglob("*"), tmp]:  # files first, then their folders
                _fsync(file)
    except BaseException:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if main:
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
    if sharded:
        torch.distributed.barrier()  # no rank looks for the checkpoint before it is in place
    return final


def _save_sharded(folder: Path, model: torch.nn.Module, optimizer: Any) -> None:
    """Every rank writes its shards of the weights (and optimizer state) into ``folder`` (DCP)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if optimizer is None:
        state = {"model": get_model_state_dict(model)}
    else:
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
    dcp.save(state, checkpoint_id=folder)


def _sharded_keys(path: Path) -> set[str]:
    """The flattened keys a DCP folder holds (``model.<parameter>``, ``optimizer.state.<parameter>.exp_avg``...)."""
    from torch.distributed.checkpoint import FileSystemReader

    return set(FileSystemReader(str(path / SHARDED_DIR)).read_metadata().state_dict_metadata)


def _load_sharded(path: Path, model: torch.nn.Module, optimizer: Any) -> None:
    """Read ``sharded/`` into ``model`` (and ``optimizer``): a sharded model's ranks each read their shards
    together; a plain model reads the whole weights in this process alone."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        get_state_dict,
        set_model_state_dict,
        set_state_dict,
    )

    from train.fsdp import is_sharded

    no_dist = not is_sharded(model)
    if no_dist:  # DCP warns that it reads in one process, which is what a plain model asks for
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")
    keys = _sharded_keys(path)
    expected = {name: tuple(t.shape) for name, t in get_model_state_dict(model).items()}
    missing = sorted(name for name in expected if f"model.{name}" not in keys)
    unexpected = sorted(k.removeprefix("model.") for k in keys if k.startswith("model.") and k[6:] not in expected)
    if missing or unexpected:
        problems = ([f"missing from the checkpoint: {', '.join(missing)}"] if missing else []) + (
            [f"not in the model: {', '.join(unexpected)}"] if unexpected else [])
        raise ValueError(f"{path / SHARDED_DIR} does not fit {type(model).__name__}; parameters " + "; ".join(problems))
    try:
        if optimizer is None:
            model_state = get_model_state_dict(model)
            dcp.load({"model": model_state}, checkpoint_id=path / SHARDED_DIR, no_dist=no_dist)
            set_model_state_dict(model, model_state)
            return
        if not any(k.startswith("optimizer.") for k in keys):
            raise ValueError(f"checkpoint {path} has no optimizer state (it was saved without one)")
        model_state, optimizer_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(state, checkpoint_id=path / SHARDED_DIR, no_dist=no_dist)
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    except (RuntimeError, KeyError, dcp.CheckpointException) as exc:
        raise ValueError(f"checkpoint {path}: the sharded state does not fit: {exc}") from None


def model_keys(path: str | Path) -> set[str]:
    """The parameter names a checkpoint folder's weights hold, in either format."""
    path = Path(path)
    if _is_sharded(path):
        return {k.removeprefix("model.") for k in _sharded_keys(path) if k.startswith("model.")}
    from safetensors import safe_open

    with safe_open(str(path / MODEL_FILE), framework="pt") as f:
        return set(f.keys())


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
    missing = _missing(path)
    if missing:
        hint = " (a run folder? pass latest_checkpoint(folder))" if _checkpoints(path) else ""
        raise FileNotFoundError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}{hint}")
    try:
        trainer_state = torch.load(path / STATE_FILE, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"checkpoint {path}: {STATE_FILE} cannot be read safely: {exc}") from None
    from train.fsdp import is_sharded

    model = unwrap_model(model)
    if _is_sharded(path):
        _load_sharded(path, model, optimizer)
        optimizer = None  # restored with the weights
    elif is_sharded(model):
        raise ValueError(f"checkpoint {path} was saved by an unsharded run (--parallel ddp or one process): resume "
                         "it with --parallel ddp, or start a --parallel fsdp run from it with --init-from")
    else:
        _load_weights(path, model)
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
