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
