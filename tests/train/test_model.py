"""The native decoder: config checks, presets, loss masking, causality, KV-cache and padded decoding
equal to the full forward, grouped-query attention equal to repeated heads, tied weights."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from train.model import PRESETS, KVCache, ModelConfig, Transformer, preset

pytestmark = pytest.mark.usefixtures("single_thread")

SHAPE = dict(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=48, max_position_embeddings=64)


def make(seed=0, **overrides):
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(**{**SHAPE, **overrides})).eval()
    with torch.no_grad():  # norms and biases away from their trivial initial values
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)
    return model


@pytest.mark.parametrize(("overrides", "words"), [
    (dict(num_attention_heads=4, num_key_value_heads=3), "multiple of num_key_value_heads"),
    (dict(hidden_size=30, num_attention_heads=4), "set head_dim"),
    (dict(head_dim=7), "head_dim must be even"),
    (dict(qk_norm=True, qkv_bias=True), "cannot both be set"),
    (dict(vocab_size=0), "vocab_size must be positive"),
    (dict(num_hidden_layers=-1), "num_hidden_layers must be positive"),
])
def test_bad_configs_are_rejected_with_the_field_named(overrides, words):
    with pytest.raises(ValueError, match=words):
        ModelConfig(**{**SHAPE, **overrides})


def test_config_arch_and_head_dim():
    assert ModelConfig(**SHAPE).head_dim == 8
    assert ModelConfig(**SHAPE, head_dim=12).head_dim == 12
    assert ModelConfig(**SHAPE).arch == "llama"
    assert ModelConfig(**SHAPE, qkv_bias=True).arch == "qwen2"
    assert ModelConfig(**SHAPE, qk_norm=True).arch == "qwen3"


def test_presets_sizes_and_overrides():
    sizes = {}
    for name, config in PRESETS.items():
        with torch.device("meta"):  # shapes only: no memory, no initialisation work
            sizes[name] = Transformer(config).num_parameters()
    assert 0.5e6 < sizes["tiny"] < 2e6
    assert 15e6 < sizes["small"] < 40e6
    assert 80e6 < sizes["base"] < 160e6
    custom = preset("tiny", vocab_size=1000)
    assert custom.vocab_size == 1000 and custom.hidden_size == PRESETS["tiny"].hidden_size
    assert PRESETS["tiny"].vocab_size == 512  # the preset itself is untouched
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        preset("huge")
    assert ModelConfig(**PRESETS["tiny"].to_dict()) == PRESETS["tiny"]


def test_initialisation_and_tied_weights():
    tied = Transformer(ModelConfig(**SHAPE))
    assert tied.lm_head.weight is tied.embed_tokens.weight
    untied = Transformer(ModelConfig(**SHAPE, tie_word_embeddings=False, qkv_bias=True))
    assert untied.lm_head.weight is not untied.embed_tokens.weight
    assert untied.num_parameters() == tied.num_parameters() + 61 * 32 + 2 * (32 + 16 + 16)
    for name, p in untied.named_parameters():
        if name.endswith("norm.weight"):
            assert torch.equal(p, torch.ones_like(p)), name
        elif name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p)), name
        else:
            assert 0.001 < p.std() < 0.03, name
    # 6 FLOPs per matmul weight and token; an untied input embedding is a lookup, not a matmul
    attention = 12 * 2 * 4 * 8 * 10
    assert tied.flops_per_token(10) == 6 * tied.num_parameters() + attention
    assert untied.flops_per_token(10) == 6 * (untied.num_parameters() - 61 * 32) + attention


def test_loss_is_mean_cross_entropy_over_unmasked_targets():
    model = make()
    ids = torch.randint(0, 61, (3, 9))
    targets = torch.randint(0, 61, (3, 9))
    targets[0, :4] = -100
    targets[2, 7:] = -100
    logits = model(ids)
    keep = targets != -100
    manual = -F.log_softmax(logits[keep], -1).gather(-1, targets[keep][:, None]).mean()
    assert torch.allclose(model(ids, targets), manual, atol=1e-6)


def test_causal_no_position_sees_the_future():
    model = make()
    ids = torch.randint(0, 61, (1, 12))
    changed = ids.clone()
    changed[0, 7:] = (changed[0, 7:] + 5) % 61
    a, b = model(ids), model(changed)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("overrides", [{}, dict(qkv_bias=True), dict(qk_norm=True, head_dim=12),
                                       dict(num_key_value_heads=1), dict(num_key_value_heads=4)])
def test_prefill_then_cached_decode_equals_full_forward(overrides):
    """A left-padded row (mask + its own positions) decoded one token at a time through the KV cache
    gives the logits of the plain forward over the row's tokens."""
    model = make(**overrides)
    tokens = torch.randint(0, 61, (2, 14))
    full = model(tokens)
    pad, prompt = 3, 5  # row 1 has 3 pad slots on the left: its token j sits in slot j + 3
    T = prompt + pad
    ids = torch.zeros(2, T, dtype=torch.long)
    ids[0] = tokens[0, :T]
    ids[1, pad:] = tokens[1, :prompt]
    pads = torch.tensor([0, pad])
    keys = torch.arange(T)
    mask = (keys[None, None, :] <= keys[None, :, None]) & (keys[None, None, :] >= pads[:, None, None])
    mask |= torch.eye(T, dtype=torch.bool)
    cache = KVCache(model.config, 2, 16, "cpu", torch.float32)
    logits = model(ids, positions=(keys[None] - pads[:, None]).clamp(min=0), mask=mask[:, None], cache=cache,
                   index=keys, length=T)
    assert torch.allclose(logits[0], full[0, :T], atol=1e-5)
    assert torch.allclose(logits[1, pad:], full[1, :prompt], atol=1e-5)
    for t in range(T, 14):  # one token per step, written at slot t
        step_ids = torch.stack([tokens[0, t], tokens[1, t - pad]])[:, None]
        slots = torch.arange(16)
        step_mask = (slots[None, :] >= pads[:, None]) & (slots[None, :] <= t)
        length = 16 if t >= 12 else 12  # reads may cover unwritten slots: the mask hides them
        out = model(step_ids, positions=(t - pads)[:, None], mask=step_mask[:, None, None, :length],
                    cache=cache, index=torch.tensor([t]), length=length)
        assert torch.allclose(out[0, 0], full[0, t], atol=1e-5), t
        assert torch.allclose(out[1, 0], full[1, t - pad], atol=1e-5), t


def test_grouped_query_attention_equals_repeated_key_value_heads():
    """Two kv heads shared by four query heads behave as four kv heads holding copies: query head h
    reads kv head h // 2 (the grouping of Llama and Qwen), in the full forward and the decode step."""
    gqa = make(num_key_value_heads=2)
    mha = Transformer(dataclasses.replace(gqa.config, num_key_value_heads=4)).eval()
    def repeat(kv):  # [2 heads x 8, 32] -> [4 heads x 8, 32], each head twice in a row
        return kv.view(2, 8, 32).repeat_interleave(2, dim=0).reshape(32, 32)

    state = gqa.state_dict()
    for name, tensor in list(state.items()):
        if name.endswith("qkv_proj.weight"):  # q, k and v fused in one matrix
            q, k, v = tensor.split([32, 16, 16])
            state[name] = torch.cat([q, repeat(k), repeat(v)])
        elif name.endswith((".k_proj.weight", ".v_proj.weight")):
            state[name] = repeat(tensor)
    mha.load_state_dict(state)
    ids = torch.randint(0, 61, (2, 10))
    assert torch.allclose(gqa(ids), mha(ids), atol=1e-5)
    outs = []
    for model in (gqa, mha):
        cache = KVCache(model.config, 2, 12, "cpu", torch.float32)
        model(ids[:, :9], cache=cache, index=torch.arange(9), length=9,
              mask=torch.ones(9, 9, dtype=torch.bool).tril())
        outs.append(model(ids[:, 9:], positions=torch.tensor([9]), cache=cache, index=torch.tensor([9]), length=10,
                          mask=torch.ones(2, 1, 1, 10, dtype=torch.bool)))
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    assert torch.allclose(outs[0][:, 0], gqa(ids)[:, 9], atol=1e-5)


def test_rope_tables_stay_float32_and_match_recomputed_angles():
    model = Transformer(preset("tiny")).to(torch.bfloat16)
    assert model.rope_cos.dtype == torch.float32 and "rope_cos" not in model.state_dict()
    from train.model import rope_tables

    positions = torch.tensor([0, 1, 7, model.config.max_position_embeddings - 1])
    cos, sin = rope_tables(model.config.head_dim, positions, model.config.rope_theta)
    torch.testing.assert_close(model.rope_cos[positions], cos)
    torch.testing.assert_close(model.rope_sin[positions], sin)


def test_a_sequence_longer_than_the_positions_is_refused():
    model = Transformer(preset("tiny"))
    too_long = torch.zeros(1, model.config.max_position_embeddings + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(too_long)
