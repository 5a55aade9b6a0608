"""``rlvr serve``: load the model(s), build the app, listen until Ctrl-C.

    rlvr serve --model runs/demo/grpo --runs runs                 # http://127.0.0.1:8000/
    rlvr serve --model runs/demo/sft --model-b runs/demo/grpo --problems runs/demo/data/test.jsonl
    rlvr serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"   # reachable from other machines
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServeConfig", "main", "serve"]


@dataclass
class ServeConfig:
    model: str | None = field(default=None, metadata={
        "help": "the model to chat with: a run's stage folder, a checkpoint, or a local Hugging Face folder"})
    model_b: str | None = field(default=None, metadata={"help": "a second model for Compare (sides drawn at random)"})
    runs: str = field(default="runs", metadata={"help": "the folder of runs the Runs page shows"})
    pairs_out: str = field(default="prefs.jsonl", metadata={"help": "where Compare appends the picked pairs"})
    problems: str | None = field(default=None, metadata={"help": "problems (JSONL/Parquet) Compare draws prompts from"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on; beyond loopback needs --token"})
    port: int = field(default=8000, metadata={"help": "port (0: any free one)"})
    token: str | None = field(default=None, metadata={
        "help": "a secret every request must carry (default: the RLVR_TOKEN environment variable)"})
    device: str | None = field(default=None, metadata={"help": "cpu or cuda (default: cuda if available)"})
    template: str = field(default="", metadata={"help": "the pages' default template (default: the model's own)"})
    batch_size: int = field(default=8, metadata={"help": "chats decoded together; more wait their turn"})
    max_new_tokens: int = field(default=1024, metadata={"help": "the longest reply a request may ask for"})
    max_context: int = field(default=2048, metadata={"help": "the longest prompt + reply"})
    max_queue: int = field(default=64, metadata={"help": "requests that may wait; more get 429"})

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = os.environ.get("RLVR_TOKEN") or None
        if self.token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{8,256}", self.token):
            raise ValueError("--token: 8 to 256 characters of A-Z a-z 0-9 . _ ~ -")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must lie in [0, 65535], got {self.port}")
        if min(self.batch_size, self.max_new_tokens, self.max_context) < 1 or self.max_queue < 0:
            raise ValueError("--batch-size, --max-new-tokens and --max-context must be positive, --max-queue not "
                             "negative")
        if not is_loopback(self.host) and self.token is None:
            raise ValueError(f"--host {self.host} listens beyond this machine: pass --token T (or set RLVR_TOKEN); "
                             "every request must then carry it")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("::1")
    (True, True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _model_folder(path: str) -> Path:
    """``path`` itself, unless it is a pipeline run folder: then a clear error naming its stages."""
    from train.checkpoint import latest_checkpoint

    folder = Path(path)
    if (folder / "config.json").exists() or latest_checkpoint(folder) is not None or not folder.is_dir():
        return folder  # load_policy explains what is wrong with anything else
    stages = sorted(p.name for p in folder.iterdir() if (p / "final" / "config.json").exists() or
                    latest_checkpoint(p) is not None)
    if stages:
        raise ValueError(f"--model {path} is a pipeline run: name one of its stages, e.g. --model "
                         f"{folder / stages[-1]} (stages: {', '.join(stages)})")
    return folder


def trained_template(path: str | Path) -> str | None:
    """The template a stage trained the model with, from its checkpoint's config (None if not recorded)."""
    from train.checkpoint import latest_checkpoint

    folder = Path(path)
    for candidate in (folder, latest_checkpoint(folder), latest_checkpoint(folder.parent)):
        config = candidate / "config.json" if candidate is not None else None
        if config is not None and config.exists():
            try:
                template = json.loads(config.read_text()).get("train", {}).get("template")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(template, str) and template:
                return template
    return None


def load_generator(path: str, cfg: ServeConfig):
    """An :class:`train.web.bridge.EngineBridge` over the model at ``path`` on ``cfg.device``."""
    import torch

    from train.load import load_policy
    from train.web.bridge import EngineBridge

    model, tokenizer = load_policy(_model_folder(path))
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)
    return EngineBridge(model, tokenizer, name=path, rows=cfg.batch_size, max_context=cfg.max_context,
                        max_new_tokens=cfg.max_new_tokens, max_queue=cfg.max_queue)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(cfg: ServeConfig) -> int:
    """Serve until interrupted; returns 0 after a clean shutdown."""
    import uvicorn

    from train.web.app import create_app
    from verifiers.problem import read_problem_rows

    problems = read_problem_rows(cfg.problems) if cfg.problems else None
    generators = [load_generator(p, cfg) for p in (cfg.model, cfg.model_b) if p]
    template = cfg.template or (trained_template(cfg.model) if cfg.model else None) or "r1_zero"
    try:
        app = create_app(generator=generators[0] if generators else None,
                         generator_b=generators[1] if len(generators) > 1 else None, runs=cfg.runs,
                         pairs_out=cfg.pairs_out, problems=problems, token=cfg.token,
                         loopback=is_loopback(cfg.host), template=template)
        sock = _listen(cfg.host, cfg.port)
    except Exception:
        for g in generators:
            g.close()
        raise
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=5))
    handle_exit = server.handle_exit

    def on_signal(sig, frame) -> None:
        for g in generators:
            g.stop()  # open streams end now, so the graceful shutdown need not wait for them
        handle_exit(sig, frame)

    server.handle_exit = on_signal
    port = sock.getsockname()[1]
    shown = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    print(f"rlvr serve: http://{shown}:{port}/{'?token=...' if cfg.token else ''}  "
          f"(model {cfg.model or 'none'}{', ' + cfg.model_b if cfg.model_b else ''}; runs {cfg.runs}; "
          f"pairs -> {cfg.pairs_out}; template {template}). Ctrl-C stops.", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the signal again once it has shut down
        pass
    finally:
        sock.close()
    print("rlvr serve: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("rlvr serve needs the serve extra: pip install 'rlvr[serve]'", file=sys.stderr)
        return 2
    from train.config import run_stage

    return run_stage(ServeConfig, serve, argv, prog="rlvr serve", description=__doc__, print_result=False)


if __name__ == "__main__":
    sys.exit(main())
