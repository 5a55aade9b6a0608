"""Checkpoints: exact round trip, RNG states, pruning, crash safety, tied weights, clear errors."""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, unwrap_model


class Tied(torch.nn.Module):
    def __init__(self, vocab=11, dim=6):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.norm = torch.nn.LayerNorm(dim)
        self.lm_head = torch.nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        return self.lm_head(self.norm(self.embed(ids)))


def make(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    return model, optimizer, scheduler


def train(model, optimizer, scheduler, steps):
    losses = []
    for _ in range(steps):
        x = torch.randn(5, 4)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def test_round_trip_and_exact_resume(tmp_path):
    model, optimizer, scheduler = make(0)
    train(model, optimizer, scheduler, 3)
    path = save_checkpoint(tmp_path, 3, model=model, optimizer=optimizer, scheduler=scheduler,
                           config={"lr": 0.01, "betas": [0.9, 0.95]}, state={"position": 15, "epoch": 0})
    assert path == tmp_path / "step_00000003"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "trainer_state.pt"]
    assert json.loads((path / "config.json").read_text()) == {"lr": 0.01, "betas": [0.9, 0.95]}
    expected = train(model, optimizer, scheduler, 3)

    model2, optimizer2, scheduler2 = make(1)
    info = load_checkpoint(path, model=model2, optimizer=optimizer2, scheduler=scheduler2)
    assert info == {"step": 3, "state": {"position": 15, "epoch": 0}, "config": {"lr": 0.01, "betas": [0.9, 0.95]}}
    assert scheduler2.last_epoch == 3 and optimizer2.param_groups[0]["lr"] == pytest.approx(1e-2 / 4)
    # the RNG was restored too, so training on gives the very same losses and weights
    assert train(model2, optimizer2, scheduler2, 3) == expected
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(optimizer.state.values(), optimizer2.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def test_rng_states_restored(tmp_path):
    model = torch.nn.Linear(2, 2)
    torch.manual_seed(3)
    random.seed(3)
    np.random.seed(3)
    save_checkpoint(tmp_path, 0, model=model)
    after_save = (torch.rand(4), random.random(), np.random.rand(3))
    torch.manual_seed(99)
    random.seed(99)
    np.random.seed(99)
    load_checkpoint(tmp_path / "step_00000000", model=model)
    after_load = (torch.rand(4), random.random(), np.random.rand(3))
    assert torch.equal(after_save[0], after_load[0])
    assert after_save[1] == after_load[1]
    assert np.array_equal(after_save[2], after_load[2])
    load_checkpoint(tmp_path / "step_00000000", model=model, restore_rng=False)
    assert not torch.equal(torch.rand(4), after_save[0])


def test_keep_last_prunes_old_checkpoints(tmp_path):
    model = torch.nn.Linear(2, 2)
    for step in range(1, 6):
        save_checkpoint(tmp_path / "a", step * 10, model=model, keep_last=2)
        save_checkpoint(tmp_path / "b", step * 10, model=model, keep_last=0)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["step_00000040", "step_00000050"]
    assert len(list((tmp_path / "b").iterdir())) == 5
    assert latest_checkpoint(tmp_path / "a") == tmp_path / "a" / "step_00000050"
    # the checkpoint just written is never pruned, even when older ones have higher steps
    save_checkpoint(tmp_path / "a", 5, model=model, keep_last=1)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["step_00000005", "step_00000050"]


def test_saving_a_step_again_replaces_it(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 7, model=model, state={"v": 1})
    save_checkpoint(tmp_path, 7, model=model, state={"v": 2}, tokenizer_file=write_tokenizer(tmp_path))
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["step_00000007"]
    assert (tmp_path / "step_00000007" / "tokenizer.json").read_text() == '{"model": {}}'
    assert load_checkpoint(tmp_path / "step_00000007", model=model)["state"] == {"v": 2}


def write_tokenizer(tmp_path):
    path = tmp_path / "tok.json"
    path.write_text('{"model": {}}')
    return path


def test_crash_mid_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 1, model=model, state={"good": True})
    seen = []

    def crash(obj, file, *args, **kwargs):
        seen.extend(p.name for p in Path(file).parent.iterdir())
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 2, model=model)
    assert "model.safetensors" in seen  # the crash came after files were written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001"]
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000001"
    monkeypatch.undo()
    assert load_checkpoint(latest_checkpoint(tmp_path), model=model)["state"] == {"good": True}


def test_killed_process_mid_save_keeps_the_last_good_checkpoint(tmp_path):
    script = textwrap.dedent(f"""
        import os, torch
        from train.checkpoint import save_checkpoint
        model = torch.nn.Linear(2, 2)
        save_checkpoint({str(tmp_path)!r}, 1, model=model, state={{"good": True}})
        torch.save = lambda *args, **kwargs: os._exit(9)   # the process dies mid-save, no clean-up
        save_checkpoint({str(tmp_path)!r}, 2, model=model)
    """)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 9, result.stderr
    assert (tmp_path / ".tmp-step_00000002" / "model.safetensors").is_file()
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000001"
    model = torch.nn.Linear(2, 2)
    assert load_checkpoint(latest_checkpoint(tmp_path), model=model)["state"] == {"good": True}
    save_checkpoint(tmp_path, 3, model=model)  # the next save clears the leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001", "step_00000003"]


def test_crash_between_the_renames_of_a_resave(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 4, model=model, state={"v": 1})
    # a re-save of step 4 died after moving the old folder aside, before moving the new one in
    os.replace(tmp_path / "step_00000004", tmp_path / ".old-step_00000004")
    (tmp_path / ".tmp-step_00000004").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / ".old-step_00000004"
    save_checkpoint(tmp_path, 5, model=model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000004", "step_00000005"]
    assert load_checkpoint(tmp_path / "step_00000004", model=model)["state"] == {"v": 1}


def test_incomplete_folders_are_ignored(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 1, model=model)
    (tmp_path / "step_00000009").mkdir()
    (tmp_path / "step_00000009" / "model.safetensors").write_bytes(b"")
    (tmp_path / "notes_00000010").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / "step_00000001"


def test_tied_embeddings_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Tied()
    path = save_checkpoint(tmp_path, 1, model=model)
    other = Tied()
    load_checkpoint(path, model=other)
    assert other.lm_head.weight is other.embed.weight
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(model(ids), other(ids))


def test_wrapped_models_save_and_load_plain_names(tmp_path):
    inner = Tied()
    wrapped = torch.compile(torch.nn.DataParallel(inner))  # not run, so nothing compiles
    assert unwrap_model(wrapped) is inner
    path = save_checkpoint(tmp_path, 1, model=wrapped)
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert all(not name.startswith(("module.", "_orig_mod.")) for name in f.keys())  # noqa: SIM118
    target = Tied()
    load_checkpoint(path, model=torch.nn.DataParallel(target))
    assert torch.equal(target.embed.weight, inner.embed.weight)


def test_clear_errors(tmp_path):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(FileNotFoundError, match="no checkpoint folder at"):
        load_checkpoint(tmp_path / "step_00000001", model=model)
    path = save_checkpoint(tmp_path, 1, model=model)
    with pytest.raises(FileNotFoundError, match=r"a run folder\? pass latest_checkpoint"):
        load_checkpoint(tmp_path, model=model)
    with pytest.raises(ValueError, match=r"parameter 'weight' has shape \[2, 2\] in the checkpoint but \[2, 3\]"):
        load_checkpoint(path, model=torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"missing from the checkpoint: 0\.bias, 0\.weight; not in the model: bias, weight"):
        load_checkpoint(path, model=torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="has no optimizer state"):
        load_checkpoint(path, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    adam_path = save_checkpoint(tmp_path, 2, model=model, optimizer=torch.optim.AdamW(model.parameters()))
    two_groups = torch.optim.AdamW([{"params": [model.weight]}, {"params": [model.bias]}])
    with pytest.raises(ValueError, match="the optimizer state does not fit"):
        load_checkpoint(adam_path, model=model, optimizer=two_groups)
    (path / "trainer_state.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"is incomplete: missing trainer_state\.pt"):
        load_checkpoint(path, model=model)
    with pytest.raises(FileNotFoundError, match=r"tokenizer_file .*nope\.json: no such file"):
        save_checkpoint(tmp_path, 3, model=model, tokenizer_file=tmp_path / "nope.json")
    with pytest.raises(ValueError, match="config is not JSON-serialisable"):
        save_checkpoint(tmp_path, 3, model=model, config={"path": Path("x")})
    with pytest.raises(ValueError, match="step must be a non-negative int"):
        save_checkpoint(tmp_path, -1, model=model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_and_weights(tmp_path):
    torch.manual_seed(0)
    model = Tied().cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    model(torch.tensor([[1, 2]], device="cuda")).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path, 1, model=model, optimizer=optimizer)
    after_save = torch.rand(3, device="cuda")
    torch.cuda.manual_seed_all(123)
    cpu_model = Tied()
    load_checkpoint(path, model=cpu_model)  # CUDA weights into a CPU model
    assert torch.equal(torch.rand(3, device="cuda"), after_save)
    assert torch.equal(cpu_model.embed.weight, model.embed.weight.cpu())
    twin = Tied().cuda()
    twin_optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-2, fused=True)
    load_checkpoint(path, model=twin, optimizer=twin_optimizer)
    assert next(iter(twin_optimizer.state.values()))["exp_avg"].is_cuda
