"""DDP helpers: single-process behaviour, and a real two-process Gloo run on CPU through torchrun."""

import json
import textwrap
from pathlib import Path

import pytest
import torch

from train.dist import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    init_distributed,
    print0,
    shard,
    shutdown,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_single_process(no_torchrun):
    info = init_distributed("cpu")
    assert info == DistInfo(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
    assert info.is_main and not info.is_distributed
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert init_distributed().device == expected
    x = torch.tensor([1.0, 3.0])
    assert all_reduce_mean(x) is x and x.tolist() == [1.0, 3.0]
    assert all_reduce_sum(x) is x and x.tolist() == [1.0, 3.0]
    barrier()
    shutdown()


def test_world_size_one_under_torchrun(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert init_distributed("cpu") == DistInfo()
    assert not torch.distributed.is_initialized()


def test_shard():
    data = list("abcdefg")
    shares = [shard(data, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert shares == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    assert sorted(item for share in shares for item in share) == data
    assert list(shard(7, DistInfo(rank=2, world_size=3))) == [2, 5]
    assert shard(range(4), DistInfo()) == range(4)


def test_print0_only_on_rank_0(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    print0("hidden")
    monkeypatch.setenv("RANK", "0")
    print0("shown", end="!")
    assert capsys.readouterr().out == "shown!"


def test_clear_errors(monkeypatch, no_torchrun):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="environment variable WORLD_SIZE='two' is not an integer"):
        init_distributed("cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="bad torchrun environment: RANK=2, LOCAL_RANK=0, WORLD_SIZE=2"):
        init_distributed("cpu")
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        init_distributed("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' requested but CUDA is not available"):
            init_distributed("cuda")


WORKER = textwrap.dedent("""
    import json, sys, torch
    from train.dist import all_reduce_mean, all_reduce_sum, barrier, init_distributed, print0, shard, shutdown

    info = init_distributed(sys.argv[2] if sys.argv[2] != "auto" else None)
    mean = all_reduce_mean(torch.tensor([info.rank + 1.0, 10.0 * info.rank], device=info.device))
    total = all_reduce_sum(torch.tensor([info.rank + 1], device=info.device))
    print0("hello from the main process")
    barrier()
    result = {"rank": info.rank, "local_rank": info.local_rank, "world_size": info.world_size,
              "backend": torch.distributed.get_backend(), "mean": mean.tolist(), "sum": total.tolist(),
              "shard": list(shard(list(range(5)), info)), "is_main": info.is_main, "device": str(info.device)}
    with open(f"{sys.argv[1]}/rank{info.rank}.json", "w") as f:
        json.dump(result, f)
    shutdown()
""")


@pytest.mark.parametrize(("device", "backend"), [
    ("cpu", "gloo"),
    pytest.param("auto", "nccl", marks=pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")),
])
def test_two_processes(tmp_path, device, backend, torchrun):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    result = torchrun(str(script), str(tmp_path), device, timeout=240)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r, got in enumerate(ranks):
        assert got["rank"] == got["local_rank"] == r and got["world_size"] == 2 and got["backend"] == backend
        assert got["device"] == ("cpu" if backend == "gloo" else f"cuda:{r}")
        assert got["mean"] == [1.5, 5.0] and got["sum"] == [3]
        assert got["is_main"] == (r == 0)
    assert ranks[0]["shard"] == [0, 2, 4] and ranks[1]["shard"] == [1, 3]
    assert result.stdout.count("hello from the main process") == 1
