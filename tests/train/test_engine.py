"""The rollout engine: cached greedy decoding equals a full recompute, stops per sequence, log-probs of
the temperature-scaled distribution, top-k / top-p filters (by hypothesis on ``sample_tokens``),
correct sampling frequencies, clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from train.engine import Engine, sample_tokens
from train.model import Transformer

pytestmark = pytest.mark.usefixtures("single_thread")


def random_model(config, seed=0):
    """Random weights with an output head scaled up, so next-token distributions are far from uniform."""
    torch.manual_seed(seed)
    model = Transformer(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.2)
    return model


def full_logits(model, prompt, generated):
    """Next-token logits after each prefix ``prompt + generated[:i]``, with no cache: one plain forward."""
    with torch.no_grad():
        return model(torch.tensor([prompt + generated]))[0, len(prompt) - 1:-1]


def uncached_greedy(model, prompt, steps, stop_ids=()):
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(steps):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
            if ids[-1] in stop_ids:
                break
    return ids[len(prompt):]


def prompts_of(lengths, vocab, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (n,), generator=generator).tolist() for n in lengths]


@pytest.mark.parametrize("bucket", [8, 128])
def test_cached_greedy_equals_uncached_greedy(tokenizer, tiny_config, bucket):
    model = random_model(tiny_config)
    prompts = prompts_of([3, 9, 14], tiny_config.vocab_size)
    engine = Engine(model, tokenizer, length_bucket=bucket, stop_ids=[])
    out = engine.generate(prompts, num_samples=2, max_new_tokens=24, temperature=0)
    assert [g.prompt_index for g in out] == [0, 0, 1, 1, 2, 2]
    for g in out:
        expected = uncached_greedy(model, prompts[g.prompt_index], 24)
        assert g.token_ids == expected
        assert g.finish_reason == "length" and g.text == tokenizer.decode(expected)
        logits = full_logits(model, prompts[g.prompt_index], expected)
        assert torch.allclose(torch.tensor(g.logprobs), F.log_softmax(logits, -1).gather(
            -1, torch.tensor(expected)[:, None]).squeeze(-1), atol=1e-4)
    assert len({tuple(g.token_ids) for g in out}) == 3  # the three prompts do lead to different text


def test_greedy_does_not_depend_on_batching_or_reuse(tokenizer, tiny_config):
    model = random_model(tiny_config)
    prompts = prompts_of([5, 2, 11, 7, 4], tiny_config.vocab_size)
    engine = Engine(model, tokenizer, stop_ids=[])
    together = engine.generate(prompts, num_samples=2, max_new_tokens=12, temperature=0)
    chunked = Engine(model, tokenizer, stop_ids=[], max_batch_size=4).generate(prompts, num_samples=2,
                                                                                max_new_tokens=12, temperature=0)
    alone = [g for p in prompts
             for g in engine.generate([p], num_samples=1, max_new_tokens=12, temperature=0)]
    again = engine.generate(prompts, num_samples=2, max_new_tokens=12, temperature=0)  # cache reused, stale
    assert [(g.prompt_index, g.token_ids) for g in chunked] == [(g.prompt_index, g.token_ids) for g in together]
    assert [g.token_ids for g in again] == [g.token_ids for g in together]
    assert [g.token_ids for g in alone] == [g.token_ids for g in together[::2]]
    # text prompts are encoded with BOS in front
    text = "Problem: 12 + 30"
    assert engine.generate([text], max_new_tokens=6, temperature=0)[0].token_ids == \
        engine.generate([[tokenizer.bos_id, *tokenizer.encode(text)]], max_new_tokens=6, temperature=0)[0].token_ids


def test_each_sequence_stops_at_eos_or_answer_end(tokenizer, bigram_model):
    eos, end = tokenizer.eos_id, tokenizer.answer_end_id
    digits = [tokenizer.encode(str(d))[0] for d in range(10)]
    loop = tokenizer.encode("x")[0]
    # 1 -> 2 -> EOS;  3 -> 4 -> 5 -> </answer>;  6 -> x -> x -> ... (never stops)
    successor = {digits[1]: digits[2], digits[2]: eos, digits[3]: digits[4], digits[4]: digits[5],
                 digits[5]: end, digits[6]: loop, loop: loop}
    model = bigram_model(tokenizer, successor)
    for token, nxt in successor.items():  # the construction does what it says
        assert uncached_greedy(model, [token], 1) == [nxt]
    engine = Engine(model, tokenizer)
    out = engine.generate([[digits[7], digits[1]], [digits[3]], [digits[0], digits[6]]], num_samples=2,
                          max_new_tokens=20, temperature=0)
    assert [g.token_ids for g in out[::2]] == [[digits[2], eos], [digits[4], digits[5], end], [loop] * 20]
    assert [g.token_ids for g in out[::2]] == [g.token_ids for g in out[1::2]]
    assert [g.finish_reason for g in out] == ["stop", "stop", "stop", "stop", "length", "length"]
    assert [g.text for g in out[::2]] == ["2", "45</answer>", "x" * 20]
    assert [len(g.logprobs) for g in out] == [2, 2, 3, 3, 20, 20]
    # a stop on the very first token, and custom stop ids (an empty list never stops)
    assert Engine(model, tokenizer).generate([[digits[2]]], max_new_tokens=5, temperature=0)[0].token_ids == [eos]
    custom = Engine(model, tokenizer, stop_ids=[digits[4]]).generate([[digits[3]]], max_new_tokens=5, temperature=0)
    assert custom[0].token_ids == [digits[4]] and custom[0].finish_reason == "stop"
    never = Engine(model, tokenizer, stop_ids=[]).generate([[digits[1]]], max_new_tokens=5, temperature=0)[0]
    assert never.token_ids[:2] == [digits[2], eos] and len(never.token_ids) == 5 and never.finish_reason == "length"
    # sampled sequences stop too (the model is near-deterministic at temperature 1)
    sampled = engine.generate([[digits[1]], [digits[3]]], num_samples=3, max_new_tokens=8, temperature=1.0)
    assert [g.token_ids[-1] for g in sampled] == [eos] * 3 + [end] * 3


def test_logprobs_are_of_the_temperature_scaled_distribution(tokenizer, tiny_config):
    model = random_model(tiny_config)
    prompts = prompts_of([4, 10], tiny_config.vocab_size)
    torch.manual_seed(0)
    out = Engine(model, tokenizer, stop_ids=[]).generate(prompts, num_samples=3, max_new_tokens=16,
                                                          temperature=0.7, top_k=8, top_p=0.9)
    for g in out:
        logits = full_logits(model, prompts[g.prompt_index], g.token_ids) / 0.7
        tokens = torch.tensor(g.token_ids)
        expected = F.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1)
        assert torch.allclose(torch.tensor(g.logprobs), expected, atol=1e-4)
        # each sampled token is among the 8 most likely, and inside the 0.9 nucleus of those
        top = logits.topk(8, dim=-1)
        assert all(t in row for t, row in zip(g.token_ids, top.indices.tolist()))
        probs = top.values.softmax(-1)
        for t, row, p in zip(g.token_ids, top.indices.tolist(), probs):
            assert p[:row.index(t)].sum() < 0.9 + 1e-6
    assert len({tuple(g.token_ids) for g in out}) == 6  # samples of one prompt differ


def test_top_k_one_and_tiny_top_p_are_greedy(tokenizer, tiny_config):
    model = random_model(tiny_config)
    prompts = prompts_of([6, 3], tiny_config.vocab_size)
    engine = Engine(model, tokenizer, stop_ids=[])
    greedy = [g.token_ids for g in engine.generate(prompts, num_samples=2, max_new_tokens=10, temperature=0)]
    for settings_ in (dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, top_p=0.5)):
        out = engine.generate(prompts, num_samples=2, max_new_tokens=10, temperature=1.5, **settings_)
        assert [g.token_ids for g in out] == greedy, settings_


def test_sampling_is_reproducible_from_the_seed(tokenizer, tiny_config):
    engine = Engine(random_model(tiny_config), tokenizer, stop_ids=[])
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append([g.token_ids for g in engine.generate([[5, 6, 7]], num_samples=4, max_new_tokens=8)])
    assert runs[0] == runs[1] and len(set(map(tuple, runs[0]))) > 1


def test_engine_restores_training_mode(tokenizer, tiny_config):
    model = random_model(tiny_config).train()
    Engine(model, tokenizer).generate([[4, 5]], max_new_tokens=2)
    assert model.training
    model.eval()
    Engine(model, tokenizer).generate([[4, 5]], max_new_tokens=2)
    assert not model.training


def test_bad_requests_raise(tokenizer, tiny_config):
    engine = Engine(random_model(tiny_config), tokenizer)
    for kwargs in (dict(num_samples=0), dict(max_new_tokens=0), dict(temperature=-0.1), dict(top_p=0.0),
                   dict(top_p=1.5), dict(top_k=-1)):
        with pytest.raises(ValueError):
            engine.generate([[4, 5]], **kwargs)
    with pytest.raises(ValueError, match="empty prompt"):
        engine.generate([[4, 5], []])
    # max_position_embeddings is 96
    with pytest.raises(ValueError, match="max_position_embeddings"):
        engine.generate([[4] * 97], max_new_tokens=1)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        engine.generate([[4] * 90], max_new_tokens=7)
    assert len(engine.generate([[4] * 90], max_new_tokens=6, temperature=0)[0].token_ids) <= 6


LOGITS = st.integers(2, 40).flatmap(lambda v: st.lists(
    st.lists(st.floats(-30, 30, allow_nan=False), min_size=v, max_size=v), min_size=1, max_size=4))


@settings(max_examples=200, deadline=None)
@given(logits=LOGITS, temperature=st.floats(0.05, 3.0), top_k=st.integers(0, 45), top_p=st.floats(0.01, 1.0),
       seed=st.integers(0, 2**31))
def test_sampled_tokens_stay_inside_top_k_and_top_p(logits, temperature, top_k, top_p, seed):
    logits = torch.tensor(logits)
    torch.manual_seed(seed)
    tokens, logprobs = sample_tokens(logits, temperature, top_p=top_p, top_k=top_k)
    scaled = logits / temperature  # float32, as sampled: the same ties
    expected = F.log_softmax(scaled.double(), -1).gather(-1, tokens[:, None]).squeeze(-1)
    assert torch.allclose(logprobs.double(), expected, atol=1e-4)
    for row, token in zip(scaled, tokens.tolist()):
        kept = row.clone()
        if 0 < top_k < len(row):  # ties with the k-th value stay in
            kept[row < row.topk(top_k).values[-1]] = -math.inf
            assert row[token] >= row.topk(top_k).values[-1]
        probs = kept.double().softmax(-1)
        mass_before = probs[probs > probs[token]].sum()  # of the strictly more likely tokens
        assert mass_before < top_p + 1e-5, (mass_before, top_p)


def test_sampling_frequencies_follow_the_filtered_distribution():
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, -1.0]]).expand(40000, 5)

    def frequencies(**kwargs):
        tokens, _ = sample_tokens(logits, **kwargs)
        return torch.bincount(tokens, minlength=5).double() / len(tokens)

    def close(freq, probs):
        return torch.allclose(freq, torch.tensor(probs, dtype=torch.float64), atol=0.01)

    assert close(frequencies(temperature=1.0), logits[0].softmax(-1).tolist())
    assert close(frequencies(temperature=2.0), (logits[0] / 2).softmax(-1).tolist())
    top2 = torch.tensor([2.0, 3.0]).softmax(-1).tolist()
    assert close(frequencies(temperature=1.0, top_k=2), [0, 0, *top2, 0])
    # the 3 most likely tokens hold 0.96 of the mass: top_p 0.9 keeps them, renormalised
    top3 = torch.tensor([1.0, 2.0, 3.0]).softmax(-1).tolist()
    assert close(frequencies(temperature=1.0, top_p=0.9), [0, *top3, 0])
    assert frequencies(temperature=0)[3] == 1.0


def test_without_detokenizing_the_tokens_are_the_same_and_the_text_empty(tokenizer, tiny_config):
    engine = Engine(random_model(tiny_config), tokenizer)
    prompts = prompts_of([3, 7], tiny_config.vocab_size)
    with_text = engine.generate(prompts, num_samples=2, max_new_tokens=6, temperature=0)
    ids_only = engine.generate(prompts, num_samples=2, max_new_tokens=6, temperature=0, detokenize=False)
    assert [g.token_ids for g in ids_only] == [g.token_ids for g in with_text]
    assert [g.logprobs for g in ids_only] == [g.logprobs for g in with_text]
    assert all(g.text == "" for g in ids_only) and with_text[0].text == tokenizer.decode(with_text[0].token_ids)
