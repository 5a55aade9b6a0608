"""Optimizers and schedules: parameter groups, tied weights, Muon, schedule values, state round trips."""

import copy
import math

import pytest
import torch

from train.checkpoint import load_checkpoint, save_checkpoint
from train.optim import MuonAdamW, build_optimizer, build_scheduler, lr_multiplier, split_parameters


class RMSNorm(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.q_proj = torch.nn.Linear(dim, dim, bias=True)
        self.q_norm = RMSNorm(dim)
        self.down_proj = torch.nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        return x + self.down_proj(torch.relu(self.q_norm(self.q_proj(self.input_layernorm(x)))))


class TinyLM(torch.nn.Module):
    """Llama-style names: embed_tokens, layers.N.*, norm, lm_head."""

    def __init__(self, vocab=13, dim=8, tied=False):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(vocab, dim)
        self.layers = torch.nn.ModuleList([Block(dim), Block(dim)])
        self.norm = RMSNorm(dim)
        self.lm_head = torch.nn.Linear(dim, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


def names(model, optimizer):
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {group["name"]: sorted(by_id[id(p)] for p in group["params"]) for group in optimizer.param_groups}


def test_adamw_groups_no_decay_on_norms_biases_embeddings():
    model = TinyLM()
    optimizer = build_optimizer(model, lr=1e-3, weight_decay=0.1, betas=(0.8, 0.9), eps=1e-6)
    groups = names(model, optimizer)
    assert groups["decay"] == sorted(["lm_head.weight"] + [f"layers.{i}.{m}.weight" for i in (0, 1)
                                                           for m in ("q_proj", "down_proj")])
    assert groups["no_decay"] == sorted(["embed_tokens.weight", "norm.weight"] + [
        f"layers.{i}.{m}" for i in (0, 1) for m in ("input_layernorm.weight", "q_proj.bias", "q_norm.weight")])
    decay, no_decay = optimizer.param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert decay["betas"] == (0.8, 0.9) and decay["eps"] == 1e-6 and decay["lr"] == 1e-3
    assert not decay["fused"]  # the fused kernel only when every parameter is on CUDA


def test_tied_and_frozen_parameters():
    model = TinyLM(tied=True)
    model.layers[0].q_proj.bias.requires_grad_(False)
    for name in ("adamw", "muon"):
        optimizer = build_optimizer(model, name=name, lr=1e-3, weight_decay=0.1)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        assert len(params) == len({id(p) for p in params}) == len(list(model.parameters())) - 1
        tied = [g["name"] for g in optimizer.param_groups for p in g["params"] if p is model.lm_head.weight]
        assert tied == ["no_decay"]  # an embedding: no decay, not Muon


def test_split_recognises_names_and_modules():
    kinds = {kind: [n for n, _ in params] for kind, params in split_parameters(TinyLM()).items()}
    assert kinds["embedding"] == ["embed_tokens.weight"] and kinds["head"] == ["lm_head.weight"]
    assert "norm.weight" in kinds["vector"] and "layers.0.q_proj.bias" in kinds["vector"]
    assert kinds["matrix"] == [f"layers.{i}.{m}.weight" for i in (0, 1) for m in ("q_proj", "down_proj")]


def test_muon_groups():
    model = TinyLM()
    optimizer = build_optimizer(model, name="muon", lr=1e-3, weight_decay=0.1, muon_lr=0.05, muon_momentum=0.9)
    assert isinstance(optimizer, MuonAdamW)
    groups = names(model, optimizer)
    assert groups["muon"] == sorted(f"layers.{i}.{m}.weight" for i in (0, 1) for m in ("q_proj", "down_proj"))
    assert groups["decay"] == ["lm_head.weight"]
    assert "embed_tokens.weight" in groups["no_decay"]
    muon_group = optimizer.param_groups[0]
    assert (muon_group["lr"], muon_group["momentum"], muon_group["weight_decay"]) == (0.05, 0.9, 0.1)
    assert isinstance(optimizer.optimizers[0], torch.optim.Muon)


def regression(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                                torch.nn.Tanh(), torch.nn.Linear(32, 1))
    x = torch.randn(64, 8)
    y = torch.sin(x.sum(1, keepdim=True))
    return model, x, y


def train(model, optimizer, x, y, steps, scheduler=None):
    loss = None
    for _ in range(steps):
        loss = (model(x) - y).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return loss.item()


def test_muon_decreases_a_regression_loss():
    model, x, y = regression()
    optimizer = build_optimizer(model, name="muon", lr=1e-2)
    start = (model(x) - y).pow(2).mean().item()
    assert train(model, optimizer, x, y, 60) < 0.3 * start


def test_closure_returns_the_loss():
    model, x, y = regression()
    optimizer = build_optimizer(model, name="muon", lr=1e-2)

    def closure():
        optimizer.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        return loss

    assert optimizer.step(closure) > 0


@pytest.mark.parametrize("name", ["adamw", "muon"])
def test_state_dict_round_trip_and_scheduler(name, tmp_path):
    model, x, y = regression()
    optimizer = build_optimizer(model, name=name, lr=1e-2, weight_decay=0.01)
    scheduler = build_scheduler(optimizer, warmup_steps=2, total_steps=20)
    train(model, optimizer, x, y, 5, scheduler)
    twin = copy.deepcopy(model)
    twin_optimizer = build_optimizer(twin, name=name, lr=1e-2, weight_decay=0.01)
    twin_scheduler = build_scheduler(twin_optimizer, warmup_steps=2, total_steps=20)
    path = save_checkpoint(tmp_path, 5, model=model, optimizer=optimizer, scheduler=scheduler)
    load_checkpoint(path, model=twin, optimizer=twin_optimizer, scheduler=twin_scheduler)
    assert [g["lr"] for g in twin_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]
    assert train(model, optimizer, x, y, 3, scheduler) == train(twin, twin_optimizer, x, y, 3, twin_scheduler)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    # after loading, the scheduler still drives the parts' own groups
    for opt in getattr(twin_optimizer, "optimizers", [twin_optimizer]):
        for group in opt.param_groups:
            assert group["lr"] == pytest.approx(group["initial_lr"] * lr_multiplier(8, warmup_steps=2, total_steps=20))
    assert len(twin_optimizer.state) == len(list(model.parameters()))


def test_muon_state_dict_checks_its_kind():
    model, _, _ = regression()
    optimizer = build_optimizer(model, name="muon", lr=1e-2)
    with pytest.raises(ValueError, match="expected the state of a MuonAdamW"):
        optimizer.load_state_dict(torch.optim.SGD(model.parameters(), lr=0.1).state_dict())


def test_schedule_values():
    def f(step, **kw):
        return lr_multiplier(step, warmup_steps=10, total_steps=110, **kw)

    assert f(0) == pytest.approx(0.1) and f(4) == pytest.approx(0.5) and f(9) == 1.0
    assert f(10) == 1.0 and f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    assert f(35) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert f(110, min_lr_ratio=0.0) == 0.0
    # wsd: warmup, flat until the last 20% (from step 88), then linear to min_lr_ratio
    assert [f(s, schedule="wsd") for s in (9, 50, 88)] == [1.0, 1.0, 1.0]
    assert f(99, schedule="wsd") == pytest.approx(1 - 0.9 * 0.5) and f(110, schedule="wsd") == pytest.approx(0.1)
    assert f(88, schedule="wsd", decay_fraction=0.5) == pytest.approx(1 - 0.9 * 33 / 55)
    assert f(5, schedule="constant") == pytest.approx(0.6) and f(200, schedule="constant") == 1.0
    assert lr_multiplier(0, warmup_steps=0, total_steps=1) == 1.0


def test_scheduler_sets_group_lrs():
    model = TinyLM()
    optimizer = build_optimizer(model, name="muon", lr=1e-3, muon_lr=0.02)
    scheduler = build_scheduler(optimizer, warmup_steps=4, total_steps=40, schedule="wsd")
    lrs = []
    for _ in range(40):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx([0.005, 0.00025, 0.00025])
    assert lrs[10] == pytest.approx([0.02, 0.001, 0.001])
    left = 1 - 0.9 * 7 / 8  # step 39 is 7/8 through the decay (steps 32..40)
    assert lrs[39] == pytest.approx([0.02 * left, 0.001 * left, 0.001 * left])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"schedule": "linear"}, "unknown schedule 'linear'; choose from cosine, wsd, constant"),
    ({"warmup_steps": 20, "total_steps": 10}, "0 <= warmup_steps <= total_steps"),
    ({"total_steps": 0}, "total_steps >= 1"),
    ({"min_lr_ratio": 1.5}, r"min_lr_ratio must be in \[0, 1\]"),
    ({"decay_fraction": 0.0}, r"decay_fraction must be in \(0, 1\]"),
])
def test_schedule_errors(kwargs, message):
    args = {"warmup_steps": 1, "total_steps": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        lr_multiplier(0, **args)
    with pytest.raises(ValueError, match=message):
        build_scheduler(torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1), **args)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'; choose from adamw, muon"):
        build_optimizer(TinyLM(), name="sgd", lr=1e-3)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(TinyLM().requires_grad_(False), lr=1e-3)
    with pytest.raises(ValueError, match="no hidden weight matrices for Muon"):
        build_optimizer(torch.nn.Embedding(4, 4), name="muon", lr=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fused_adamw_and_muon():
    model, x, y = regression()
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    adamw = build_optimizer(model, lr=1e-2)
    assert all(group["fused"] for group in adamw.param_groups)
    start = (model(x) - y).pow(2).mean().item()
    assert train(model, adamw, x, y, 30) < start
    muon = build_optimizer(model, name="muon", lr=1e-2)
    assert train(model, muon, x, y, 30) < start
