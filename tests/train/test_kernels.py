"""The Triton decode-attention kernel against plain float64 attention, under Triton's CPU interpreter."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def reference(q, k, v, mask):
    scores = (q.double() @ k.double().transpose(-1, -2)) * q.shape[-1] ** -0.5
    return scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v.double()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 3), kv_heads=st.integers(1, 2), group=st.integers(1, 5), head_dim=st.sampled_from([16, 32]),
       length=st.integers(1, 150), seed=st.integers(0, 2**16))
def test_kernel_equals_attention_over_the_kept_keys(triton_interpreter, rows, kv_heads, group, head_dim, length, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(rows, kv_heads, group, head_dim, generator=g)
    k = torch.randn(rows, kv_heads, length + 7, head_dim, generator=g)[:, :, :length]  # a view of a longer cache
    v = torch.randn(rows, kv_heads, length + 7, head_dim, generator=g)[:, :, :length]
    # each row keeps a window [pad, t]: left padding, and an unwritten tail the mask hides
    pad = torch.randint(0, length, (rows,), generator=g)
    last = pad + torch.randint(0, length, (rows,), generator=g) % (length - pad)
    pos = torch.arange(length)
    mask = ((pos[None] >= pad[:, None]) & (pos[None] <= last[:, None]))[:, None, None, :]
    out = triton_interpreter.decode_attention(q, k, v, mask)
    assert out.shape == q.shape
    torch.testing.assert_close(out.double(), reference(q, k, v, mask), atol=1e-5, rtol=1e-5)


def test_unsupported_inputs_fall_back(triton_interpreter):
    q, k = torch.randn(1, 1, 2, 12), torch.randn(1, 1, 4, 12)  # head_dim 12: not a power of two
    assert triton_interpreter.decode_attention(q, k, k, torch.ones(1, 1, 1, 4, dtype=torch.bool)) is None
    q, k = torch.randn(1, 1, 2, 16), torch.randn(1, 1, 4, 16)
    additive = torch.zeros(1, 1, 1, 4)  # a float mask is left to the portable path
    assert triton_interpreter.decode_attention(q, k, k, additive) is None
    per_head = torch.ones(1, 1, 2, 4, dtype=torch.bool)  # a mask per query head, too
    assert triton_interpreter.decode_attention(q, k, k, per_head) is None


def test_off_cuda_without_the_interpreter_the_portable_path_serves():
    from train.kernels import decode_attention

    q, k = torch.randn(1, 1, 2, 16), torch.randn(1, 1, 4, 16)
    assert decode_attention(q, k, k, torch.ones(1, 1, 1, 4, dtype=torch.bool)) is None


@pytest.mark.parametrize("group", [1, 2])
def test_engine_decoding_through_the_kernel_equals_the_portable_path(triton_interpreter, monkeypatch, group):
    from train.engine import Engine
    from train.model import ModelConfig, Transformer
    from train.tokenizer import train_tokenizer

    torch.manual_seed(0)
    tokenizer = train_tokenizer([f"{i} plus {i + 1} is {2 * i + 1}" for i in range(200)], vocab_size=300)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2 * group, num_key_value_heads=2, intermediate_size=64,
                         max_position_embeddings=64)
    model = Transformer(config).eval()
    prompts = ["1 plus 2", "10 plus 11 is", "3"]  # different lengths: left padding
    calls = []
    kernel_fn = triton_interpreter.decode_attention
    monkeypatch.setattr(triton_interpreter, "decode_attention", lambda *a: calls.append(1) or kernel_fn(*a))
    kernel = Engine(model, tokenizer, stop_ids=[], cuda_graphs=False, compile=False)
    kernel_out = kernel.generate(prompts, max_new_tokens=6, temperature=0.0)
    assert len(calls) == 5 * config.num_hidden_layers  # every decode step of every layer went through it
    triton_interpreter.INTERPRET_ON_CPU = False  # the portable path, same model, same prompts
    portable_out = kernel.generate(prompts, max_new_tokens=6, temperature=0.0)
    assert [g.token_ids for g in kernel_out] == [g.token_ids for g in portable_out]
    for a, b in zip(kernel_out, portable_out):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4, rtol=1e-4)
