"""Shared fixtures of the trainer tests: one CPU thread, a small trained tokenizer, tiny model configs."""

import pytest
import torch

from train.model import ModelConfig
from train.tokenizer import train_tokenizer


@pytest.fixture
def single_thread():
    """One intra-op thread: on 2 shared cores two OpenMP threads wait on each other (a matmul of a
    tiny model then takes 50x longer), and one thread makes every CPU result bit-for-bit repeatable."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_thread():
    """``single_thread`` for a whole module (module-scoped fixtures that train use it too)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CORPUS = [f"Problem: {a} + {b}\nAnswer: <think>{a} + {b} = {a + b}</think> <answer>{a + b}</answer>"
          for a in range(40) for b in range(6)] + ["The cat sat on the mat. What is the sum?"] * 20


@pytest.fixture(scope="session")
def tokenizer():
    """A byte-level BPE of about 300 tokens trained on arithmetic text."""
    return train_tokenizer(CORPUS, vocab_size=300)


@pytest.fixture(scope="module")
def policy(tmp_path_factory, tokenizer):
    """A randomly initialised two-layer model with the fixture tokenizer, exported as a Hugging Face folder."""
    from train.hf import export_hf
    from train.model import Transformer

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128)
    folder = tmp_path_factory.mktemp("policy")
    export_hf(Transformer(config), folder, tokenizer)
    return folder


def _bigram_model(tokenizer, successor: dict[int, int], positions: int = 128):
    """A model whose greedy next token is ``successor[last token]``: blocks write nothing to the
    residual stream (zero output projections) and the head maps each embedding to its successor's row."""
    from train.model import Transformer

    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=32, max_position_embeddings=positions,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    model = Transformer(config)
    with torch.no_grad():
        model.embed_tokens.weight.normal_()
        model.layers[0].self_attn.o_proj.weight.zero_()
        model.layers[0].mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for token, nxt in successor.items():
            model.lm_head.weight[nxt] += model.embed_tokens.weight[token]
    return model


@pytest.fixture(scope="session")
def bigram_model():
    """``bigram_model(tokenizer, {token: next token}, positions=128)``: a model that writes a scripted sequence
    greedily."""
    return _bigram_model


@pytest.fixture
def tiny_config(tokenizer):
    """A two-layer grouped-query model over the fixture tokenizer's vocabulary (untied, so the head
    can be edited on its own)."""
    return ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, intermediate_size=48, max_position_embeddings=96,
                       tie_word_embeddings=False)



@pytest.fixture
def triton_interpreter(monkeypatch):
    """The Triton decode kernel (``train.kernels``) run by Triton's CPU interpreter, so the GPU kernel's
    arithmetic is checked here; skipped where Triton or its interpreter (tests/conftest.py) is missing."""
    import os

    pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("Triton's interpreter is not on (a CUDA machine runs the kernel itself)")
    import train.kernels as kernels

    monkeypatch.setattr(kernels, "INTERPRET_ON_CPU", True)
    return kernels


@pytest.fixture
def torchrun():
    """``torchrun(*args, cwd=, timeout=)``: ``python -m torch.distributed.run`` with 2 processes on the arguments,
    from the project root on ``PYTHONPATH``, one thread each and no rank variables inherited; asserts that it
    succeeded and returns the completed process (its output for the test to read)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    project = Path(__file__).resolve().parents[2]

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
        for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
        result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                 "2", *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


def thought_words(completion: str) -> int | None:
    """Words between ``<think>`` and ``</think>`` (the fixture's stand-in for tokens), None without them."""
    if "</think>" not in completion:
        return None
    return len(completion.split("</think>")[0].split("<think>")[-1].split())


def write_completions(folder, judged: list[tuple[dict, str, int]]) -> None:
    """``folder/completions.jsonl`` in the format the web app reads (train/web/runs.py): one judged held-out
    completion a line, from ``(problem row, completion, sample)`` triples judged by the problem's verifier."""
    import json

    from verifiers import check_format, judge

    with open(folder / "completions.jsonl", "w") as f:
        for problem, completion, sample in judged:
            verdict = judge(completion, problem)
            f.write(json.dumps({"id": problem["id"], "task": problem["task"], "prompt": problem["prompt"],
                                "answer": problem["answer"], "completion": completion, "sample": sample,
                                "temperature": 0.0 if sample == 0 else 1.0, "tokens": len(completion.split()),
                                "thought_tokens": thought_words(completion),
                                "finish_reason": "stop", "status": verdict.status, "reason": verdict.reason,
                                "extracted": verdict.extracted, "well_formed": check_format(completion).ok}) + "\n")


@pytest.fixture(scope="session")
def web_run(tmp_path_factory, tokenizer):
    """A finished run as ``rlvr pipeline`` leaves it, under ``runs/demo``: report.md and results.json (made by the
    pipeline's own functions), a plot, metrics of two stages, and judged held-out completions of both; its
    ``sft`` stage holds a tiny random model (a checkpoint recording the ``plain`` template, and ``final/``).
    Returns the runs folder."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from train.checkpoint import save_checkpoint
    from train.hf import export_hf
    from train.model import Transformer
    from train.pipeline import report_markdown

    root = tmp_path_factory.mktemp("runs")
    run = root / "demo"
    (run / "grpo").mkdir(parents=True)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=256)
    model = Transformer(config)
    tokenizer_file = tokenizer.save(root / "tokenizer.json")
    save_checkpoint(run / "sft", 10, model=model, tokenizer_file=tokenizer_file,
                    config={"stage": "sft", "model": config.to_dict(), "train": {"template": "plain"}})
    export_hf(model, run / "sft" / "final", tokenizer)
    for stage, key in (("sft", "loss"), ("grpo", "reward")):
        with open(run / stage / "metrics.jsonl", "w") as f:
            for step in range(1, 21):
                f.write(json.dumps({"step": step, key: round(2.0 / step, 4), "lr": 1e-3}) + "\n")
    problems = [{"id": f"p{i}", "task": task, "prompt": f"What is {i} + {i}?", "answer": str(2 * i), "verifier": "math"}
                for i, task in enumerate(["arithmetic", "arithmetic", "fractions"])]
    write_completions(run / "sft", [(problems[0], " <think>0 + 0 = 0</think> <answer>0</answer>", 0),
                                    (problems[1], " <think>1 + 1 = 3</think> <answer>3</answer>", 0),
                                    (problems[2], " <think>hmm</think>", 0)])
    write_completions(run / "grpo", [(p, f" <think>{p['prompt']}</think> <answer>{p['answer']}</answer>", s)
                                     for p in problems for s in (0, 1)])
    stages = {name: {"accuracy": acc, "format": 1.0, "completion_tokens": 12.0, "per_task": {"arithmetic": acc},
                     "sampled_accuracy": acc, "pass@4": acc} for name, acc in (("sft", 0.333), ("grpo", 1.0))}
    summary = {"preset": "tiny", "tasks": "arithmetic", "difficulty": "1-2", "eval_problems": 3,
               "seconds": {"sft": 12.0, "grpo": 30.0}, "stages": stages}
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 2, 1])
    fig.savefig(run / "loss.png", dpi=50)
    plt.close(fig)
    (run / "results.json").write_text(json.dumps(summary))
    (run / "report.md").write_text(report_markdown(summary, ["loss.png"]))
    return root


class ScriptedGenerator:
    """The engine bridge's interface (``name``, ``max_new_tokens``, ``stream``, ``stop``, ``close``) with replies
    from a script, one piece per token after ``delay`` seconds, reasoning counted as the bridge counts it:
    deterministic streams for the browser tests. Successive streams take successive replies of ``replies``."""

    def __init__(self, replies: list[list[str]], *, delay: float = 0.05, name: str = "scripted",
                 max_new_tokens: int = 64):
        self.replies, self.delay, self.name, self.max_new_tokens = replies, delay, name, max_new_tokens
        self.streams = 0

    def stream(self, prompt: str, sampling):
        from train.web.bridge import RequestError

        if sampling.max_new_tokens > self.max_new_tokens:
            raise RequestError(f"max_tokens {sampling.max_new_tokens} is above this server's limit "
                               f"({self.max_new_tokens})")
        reply = self.replies[self.streams % len(self.replies)]
        self.streams += 1
        return self._events(reply[:sampling.max_new_tokens])

    async def _events(self, pieces: list[str]):
        import asyncio

        yield {"type": "start", "prompt_tokens": 1}
        thought, think_from = None, 0
        for n, piece in enumerate(pieces, 1):
            await asyncio.sleep(self.delay)
            event = {"type": "token", "text": piece, "n": n}
            if piece == "<think>":
                think_from = n
            elif piece == "</think>":
                thought = event["thought"] = n - 1 - think_from
            yield event
        yield {"type": "done", "text": "".join(pieces), "n": len(pieces), "thought": thought, "finish": "stop",
               "ttft": self.delay, "seconds": self.delay * len(pieces)}

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def scripted_generator():
    """The :class:`ScriptedGenerator` class."""
    return ScriptedGenerator


@pytest.fixture
def live_server():
    """``live_server(app) -> base URL``: the app served by uvicorn on a free loopback port, in a thread, until
    the test ends."""
    import socket
    import threading
    import time

    import uvicorn

    servers = []

    def start(app) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread, sock))
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread, sock in servers:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
