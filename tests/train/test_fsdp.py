"""``--parallel fsdp`` (train.fsdp): 2 CPU processes (Gloo) through torchrun on tiny models. FSDP2 computes what
DDP computes (losses, gradients, weights, every stage's metrics), a sharded checkpoint resumes exactly, and the
exported folder loads in transformers with the same logits."""

import json
import shutil
import textwrap

import pytest
import torch

from train.checkpoint import latest_checkpoint, load_checkpoint
from train.dist import clip_grad_norm, gradient_sync
from train.fsdp import is_sharded, plain_class
from train.load import load_policy
from train.model import PRESETS, Transformer
from train.run import StageConfig


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_one_process_has_nothing_to_shard():
    """Without torchrun --parallel fsdp trains the plain model, so a config runs anywhere; muon is refused at once."""
    from train.dist import init_distributed
    from train.run import setup_training

    model = Transformer(PRESETS["tiny"])
    _, _, forward, _ = setup_training(StageConfig(parallel="fsdp", device="cpu"), model, init_distributed("cpu"))
    assert forward is model and not is_sharded(model) and plain_class(model) is Transformer
    with pytest.raises(ValueError, match=r"--optimizer muon .* --parallel fsdp"):
        StageConfig(parallel="fsdp", optimizer="muon")
    with gradient_sync(forward, sync=False):  # no DDP: nothing to hold back
        model(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]])).backward()
    assert clip_grad_norm(model.parameters(), 0) > 0  # 0: measured, not clipped


def test_activation_checkpointing_gives_the_same_gradients(single_thread):
    from train.dist import init_distributed
    from train.run import setup_training

    x = torch.randint(0, 512, (2, 17))
    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        model = Transformer(PRESETS["tiny"])
        setup_training(StageConfig(activation_checkpointing=checkpointed, device="cpu"), model,
                       init_distributed("cpu"))
        assert all(block.checkpointed == checkpointed for block in model.layers)
        model(x[:, :-1], x[:, 1:]).backward()
        grads.append([p.grad for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads))


GRADIENTS = textwrap.dedent("""
    import sys, torch
    from train.dist import all_reduce_mean, clip_grad_norm, gradient_sync, init_distributed, shutdown
    from train.fsdp import is_sharded
    from train.model import ModelConfig, Transformer
    from train.run import StageConfig, setup_training

    info = init_distributed("cpu")
    config = ModelConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=32)
    torch.manual_seed(0)
    data = torch.randint(0, 64, (2, info.world_size, 2, 17))  # micro-batch, rank, rows, tokens: each step

    def full(t):
        return (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().clone()

    out = {}
    for name, settings in {"ddp": {}, "fsdp": {"parallel": "fsdp"},
                           "fsdp_checkpointed": {"parallel": "fsdp", "activation_checkpointing": True}}.items():
        torch.manual_seed(1)
        model = Transformer(config)
        cfg = StageConfig(lr=1e-2, warmup_steps=0, max_steps=3, device="cpu", **settings)
        optimizer, scheduler, forward, _ = setup_training(cfg, model, info)
        record = {"losses": [], "norms": [], "grads": [], "sharded": is_sharded(model),
                  "local": sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel()
                               for p in model.parameters()) / model.num_parameters()}
        for step in range(3):
            total = torch.zeros(())
            for micro in range(2):  # gradient accumulation: DDP holds back the first all-reduce
                x = data[micro, info.rank]
                with gradient_sync(forward, micro == 1):
                    loss = forward(x[:, :-1], x[:, 1:]) / 2
                    loss.backward()
                total += loss.detach()
            record["norms"].append(float(clip_grad_norm(model.parameters(), 1.0)))
            record["grads"].append({n: full(p.grad) for n, p in model.named_parameters()})
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            record["losses"].append(float(all_reduce_mean(total)))
        record["weights"] = {n: full(p) for n, p in model.named_parameters()}
        out[name] = record
    if info.is_main:
        torch.save(out, sys.argv[1])
    shutdown()
""")


def test_fsdp_and_ddp_give_the_same_losses_gradients_and_weights(tmp_path, torchrun):
    """Three AdamW steps of two accumulated micro-batches per rank: the sharded model's losses, gradient norms,
    gathered gradients and weights are DDP's (to float rounding), also with activation checkpointing; each rank
    holds half the parameters."""
    (tmp_path / "worker.py").write_text(GRADIENTS)
    torchrun(str(tmp_path / "worker.py"), str(tmp_path / "out.pt"), timeout=240)
    out = torch.load(tmp_path / "out.pt")
    ddp = out["ddp"]
    assert not ddp["sharded"] and ddp["local"] == 1.0
    for name in ("fsdp", "fsdp_checkpointed"):
        fsdp = out[name]
        assert fsdp["sharded"] and 0.45 < fsdp["local"] < 0.55, fsdp["local"]
        assert fsdp["losses"] == pytest.approx(ddp["losses"], rel=1e-5)
        assert fsdp["norms"] == pytest.approx(ddp["norms"], rel=1e-5)
        assert ddp["losses"][2] < ddp["losses"][0]  # it learns the batch: the weights compared moved
        for step in range(3):
            for param, grad in ddp["grads"][step].items():
                assert torch.allclose(fsdp["grads"][step][param], grad, rtol=1e-4, atol=1e-6), (name, step, param)
        for param, weight in ddp["weights"].items():
            assert torch.allclose(fsdp["weights"][param], weight, rtol=1e-4, atol=1e-6), (name, param)


DOCS = [f"Problem: What is {a} + {b}?\nSolution: {a} + {b} = {a + b}.\nAnswer: {a + b}"
        for a in range(8) for b in range(5)]


def test_sharded_checkpoint_resumes_exactly_and_the_export_loads_in_transformers(tmp_path, torchrun):
    """A pretraining run under FSDP saves sharded checkpoints (DCP); resumed from step 2 it logs the same numbers
    as without the interruption. The checkpoint loads into a plain model in one process, and the exported
    ``final/`` holds the same weights and gives the same logits in transformers."""
    (tmp_path / "corpus.txt").write_text("\n\n".join(DOCS))
    out = tmp_path / "run"
    args = ["-m", "train.pretrain", "--corpus", str(tmp_path / "corpus.txt"), "--vocab-size", "300", "--seq-len", "64",
            "--batch-size", "2", "--max-steps", "4", "--save-every", "2", "--log-every", "1", "--eval-every", "4",
            "--warmup-steps", "1", "--no-progress", "--device", "cpu", "--parallel", "fsdp", "--out-dir", str(out)]
    torchrun(*args)
    uninterrupted = rows(out)
    assert [r["step"] for r in uninterrupted] == [1, 2, 3, 4]
    last = latest_checkpoint(out)
    assert last.name == "step_00000004" and (last / "sharded" / ".metadata").is_file()
    assert not (last / "model.safetensors").exists()  # the weights are the shards only

    model, _ = load_policy(last)  # the sharded checkpoint into a plain model, in this one process
    exported, tokenizer = load_policy(out / "final")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), exported.state_dict().values()))

    from transformers import AutoModelForCausalLM

    theirs = AutoModelForCausalLM.from_pretrained(out / "final").eval()
    ids = torch.tensor([tokenizer.encode("Problem: What is 3 + 4?", bos=True)])
    with torch.no_grad():
        assert torch.allclose(theirs(ids).logits, model.eval()(ids), atol=1e-4)

    shutil.rmtree(last)  # interrupted after step 2's checkpoint
    shutil.rmtree(out / "final")
    torchrun(*args, "--resume")
    timing = ("tokens_per_s",)
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows(out)] == \
        [{k: v for k, v in r.items() if k not in timing} for r in uninterrupted]
    resumed, _ = load_policy(out / "final")
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), exported.state_dict().values()))


def test_a_sharded_model_refuses_an_unsharded_checkpoint(tmp_path):
    """A DDP checkpoint resumed under --parallel fsdp: a clear error naming the way out, not a traceback. (A
    sharded model needs a process group; its class check is what decides, so a stand-in is enough here.)"""
    from train.checkpoint import save_checkpoint
    from train.fsdp import _fsdp

    model = Transformer(PRESETS["tiny"])
    folder = save_checkpoint(tmp_path, 1, model=model)
    sharded = type("FSDPTransformer", (_fsdp().FSDPModule, Transformer), {})
    model.__class__ = sharded
    with pytest.raises(ValueError, match=r"unsharded run .* --parallel ddp"):
        load_checkpoint(folder, model=model)


STAGES = textwrap.dedent('''
    import os, sys
    import train.run
    from train.dist import shutdown
    from train.dpo import DPOConfig, dpo
    from train.grpo import GRPOConfig, grpo
    from train.rm import RMConfig, rm

    train.run.shutdown = lambda: None  # one process group for the six runs: a group cannot be joined again

    policy, data, out = sys.argv[1:4]
    RANK, calls = int(os.environ["RANK"]), []


    def reward(prompts, completions, **columns):
        """Ranks keep different numbers of groups: rank 1 every group, rank 0 one of two after the first step."""
        calls.append(1)
        varied = [sum(map(ord, c)) % 7 / 7 for c in completions]
        if RANK == 1 or len(calls) == 1:
            return varied
        return [v if k < len(completions) // 2 else 1.0 for k, v in enumerate(varied)]


    for parallel in ("ddp", "fsdp"):
        calls.clear()
        grpo(GRPOConfig(init_from=policy, out_dir=f"{out}/grpo-{parallel}", rewards="", tasks="arithmetic",
                        difficulty="1", n_problems=60, template="plain", prompts_per_step=2, num_generations=4,
                        max_completion_length=8, micro_batch_size=4, num_iterations=2, beta=0.1, lr=1e-2,
                        max_steps=3, eval_every=2, reward_workers=0, eval_problems=2, device="cpu", progress=False,
                        dynamic_sampling=True, max_sampling_rounds=1, parallel=parallel), reward_funcs=[reward])
        dpo(DPOConfig(init_from=policy, out_dir=f"{out}/dpo-{parallel}", pairs=f"{data}/pairs.jsonl",
                      template="plain", tasks="arithmetic", difficulty="1", n_problems=20, eval_problems=2,
                      max_completion_length=8,
                      batch_size=4, max_length=64, lr=1e-2, beta=0.5, warmup_steps=1, max_steps=3, device="cpu",
                      progress=False, parallel=parallel))
        rm(RMConfig(init_from=policy, out_dir=f"{out}/rm-{parallel}", pairs=f"{data}/pairs.jsonl", template="plain",
                    batch_size=4, eval_fraction=0.25, lr=1e-2, warmup_steps=1, max_steps=3, eval_every=3,
                    device="cpu", progress=False, parallel=parallel))
    shutdown()
''')
TIMINGS = ("step_time", "generation_time", "tokens_per_s", "pairs_per_s")


def close(ours: dict, theirs: dict) -> bool:
    """Two metrics rows agree: the same keys, numbers to float rounding."""
    if ours.keys() != theirs.keys():
        return False
    return all(ours[k] == pytest.approx(v, rel=1e-3, abs=1e-4) if isinstance(v, float) else ours[k] == v
               for k, v in theirs.items() if k not in TIMINGS)


def test_every_stage_under_fsdp_logs_what_ddp_logs(policy, tmp_path, torchrun):
    """GRPO (rollouts and evaluation from the gathered copy, old and reference log-probs, ranks with different
    numbers of micro-batches under dynamic sampling), DPO and the reward model: under FSDP the same metrics as
    under DDP, step by step, and a final/ folder with the same weights."""
    from verifiers.problem import write_jsonl

    pairs = [{"prompt": f"What is {a} + {b}?", "chosen": f"<answer>{a + b}</answer>",
              "rejected": f"<answer>{a + b + 1}</answer>"} for a in range(4) for b in range(4)]
    write_jsonl(pairs, tmp_path / "pairs.jsonl")
    (tmp_path / "worker.py").write_text(STAGES)
    torchrun(str(tmp_path / "worker.py"), str(policy), str(tmp_path), str(tmp_path), timeout=600)
    for stage in ("grpo", "dpo", "rm"):
        ddp, fsdp = rows(tmp_path / f"{stage}-ddp"), rows(tmp_path / f"{stage}-fsdp")
        assert len(ddp) == len(fsdp) > 1 and all(close(a, b) for a, b in zip(fsdp, ddp)), (stage, fsdp, ddp)
        assert (tmp_path / f"{stage}-fsdp" / "final" / "model.safetensors").is_file()
    grpo = rows(tmp_path / "grpo-fsdp")
    assert any("grad_norm" in r for r in grpo) and "eval_accuracy" in grpo[-1], grpo
    assert any(r["dropped_groups"] for r in grpo[1:]), grpo  # rank 0 trained on fewer micro-batches than rank 1
    assert "eval_accuracy" in rows(tmp_path / "rm-fsdp")[-1]
    for stage in ("grpo", "dpo", "rm"):
        a, b = _weights(tmp_path / f"{stage}-ddp"), _weights(tmp_path / f"{stage}-fsdp")
        assert all(torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5) for k in a), stage


def _weights(run) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "final" / "model.safetensors")
