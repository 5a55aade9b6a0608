"""The memory planner (``python -m train.memory``): its parameter count is the model's, its sharded parts are DDP's
over the GPU count, its activation estimate is near what a step keeps, and its table answers what fits."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention import SDPBackend, sdpa_kernel

from train.memory import activation_bytes_per_token, count_parameters, main, memory_plan
from train.model import PRESETS, ModelConfig, Transformer


@settings(max_examples=25, deadline=None)
@given(hidden=st.sampled_from([16, 32, 48]), layers=st.integers(1, 3), kv=st.sampled_from([1, 2, 4]),
       inner=st.integers(8, 64), vocab=st.integers(10, 300), tied=st.booleans(), variant=st.sampled_from(["llama", "qwen2", "qwen3"]))
def test_count_parameters_is_the_models(hidden, layers, kv, inner, vocab, tied, variant):
    config = ModelConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=kv, intermediate_size=inner, tie_word_embeddings=tied,
                         qkv_bias=variant == "qwen2", qk_norm=variant == "qwen3", max_position_embeddings=16)
    assert count_parameters(config) == Transformer(config).num_parameters()


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_fsdp_holds_a_gpu_share_of_the_training_state(gpus):
    config = PRESETS["small"]
    ddp = memory_plan(config, gpus=gpus, parallel="ddp", tokens=1024)
    fsdp = memory_plan(config, gpus=gpus, parallel="fsdp", tokens=1024, rollouts=True)
    n = count_parameters(config)
    assert (ddp["parameters"], ddp["gradients"], ddp["optimizer"]) == (4 * n, 4 * n, 8 * n)  # 16 bytes a parameter
    for part in ("parameters", "gradients", "optimizer"):
        assert fsdp[part] == pytest.approx(ddp[part] / gpus)
    assert fsdp["activations"] == ddp["activations"] == 1024 * activation_bytes_per_token(config)
    assert fsdp["rollout_copy"] == (2 * n if gpus > 1 else 0)
    assert ddp["total"] == pytest.approx(sum(v for k, v in ddp.items() if k != "total"))
    with pytest.raises(ValueError, match="ddp or fsdp"):
        memory_plan(config, gpus=2, parallel="zero3", tokens=1)


@pytest.mark.parametrize("config", [PRESETS["tiny"], ModelConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=2,
                                                                  num_attention_heads=4, num_key_value_heads=2,
                                                                  intermediate_size=704)])
def test_the_activation_estimate_is_what_a_bf16_step_keeps(config, single_thread):
    """The tensors autograd saves in a bf16 forward with flash attention (parameters aside), per token: within 15%
    of the estimate;
    with checkpointing the step keeps less than the estimate, which adds the recomputed block's peak."""
    for checkpointed in (False, True):
        model = Transformer(config).to(torch.bfloat16)
        for block in model.layers:
            block.checkpointed = checkpointed
        storages = {}
        # the weights (saved transposed by each matmul) and the rotary tables are the model's memory, not activations
        own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}

        def keep(t, own=own, storages=storages):
            if t.untyped_storage().data_ptr() not in own:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        ids = torch.randint(0, config.vocab_size, (2, 129))
        # flash attention, as on a GPU: no T x T attention weights kept (the estimate assumes none)
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t), sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            model(ids[:, :-1], ids[:, 1:])
        measured, estimate = sum(storages.values()) / 256, activation_bytes_per_token(config, checkpointing=checkpointed)
        if checkpointed:
            assert measured < estimate
        else:
            assert measured == pytest.approx(estimate, rel=0.15)


def test_the_command_prints_what_fits(tmp_path, capsys):
    assert main(["--preset", "base", "--gpus", "8", "--gpu-gb", "80"]) == 0
    table = capsys.readouterr().out
    assert "0.121B parameters" in table and "8 GPU(s) of 80 GB" in table
    assert table.count("yes") == 2 and "AdamW moments" in table
    # a 7B-shaped Hugging Face config: DDP cannot hold 16 bytes a parameter on 80 GB, FSDP over 8 GPUs can
    qwen = {"model_type": "qwen2", "vocab_size": 152064, "hidden_size": 3584, "num_hidden_layers": 28,
            "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
            "max_position_embeddings": 32768, "rope_theta": 1e6, "rms_norm_eps": 1e-6, "tie_word_embeddings": False}
    (tmp_path / "config.json").write_text(json.dumps(qwen))
    assert main(["--model", str(tmp_path), "--gpus", "8", "--tokens", "4096", "--activation-checkpointing"]) == 0
    table = capsys.readouterr().out
    fits = next(line for line in table.splitlines() if line.startswith("fits")).split()
    assert fits[1:] == ["NO", "yes"], table
    assert main(["--model", str(tmp_path / "nothing")]) == 2
    assert "no config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--gpus", "0"])
