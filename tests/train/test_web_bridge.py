"""The engine bridge of the web app: chats that join and leave a running batch get exactly what the engine
alone gives them, streamed text adds up to the reply, reasoning is counted, rows are freed on stop or
cancel, per-row sampling respects each row's settings, limits and shutdown are clear."""

import asyncio

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train.engine import Engine
from train.model import ModelConfig, Transformer
from train.web.bridge import Busy, EngineBridge, RequestError, Sampling, sample_rows

pytestmark = pytest.mark.usefixtures("single_thread")


def random_model(tokenizer, seed=0, positions=96):
    torch.manual_seed(seed)
    model = Transformer(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, num_key_value_heads=2, intermediate_size=48,
                                    max_position_embeddings=positions))
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # far from uniform: greedy choices are clear
    return model


async def collect(bridge, prompt, sampling, delay=0.0):
    await asyncio.sleep(delay)
    return [event async for event in bridge.stream(prompt, sampling)]


def run_all(bridge, requests):
    """``[(prompt, sampling, delay)]`` streamed concurrently; the events of each."""
    async def main():
        return await asyncio.gather(*[collect(bridge, p, s, d) for p, s, d in requests])
    return asyncio.run(main())


PROMPTS = ["Problem: 1 + 2", "Problem: 13 + 4\nAnswer:", "cat", "The cat sat on the mat. What is the", "Problem: 39",
           "Problem: 7 + 7 = 14, Problem: 8 + 8 ="]


def test_joining_and_leaving_a_batch_changes_no_reply(tokenizer):
    """Six chats arriving one after another into three rows: rows join mid-batch (the cache shifts for
    longer prompts), leave at different lengths and are reused; greedy replies equal the engine's alone."""
    model = random_model(tokenizer)
    bridge = EngineBridge(model, tokenizer, rows=3, max_context=96)
    lengths = [20, 7, 33, 12, 25, 9]
    results = run_all(bridge, [(p, Sampling(temperature=0, max_new_tokens=n), 0.003 * i)
                               for i, (p, n) in enumerate(zip(PROMPTS, lengths))])
    bridge.close()
    engine = Engine(model, tokenizer, stop_ids=sorted(bridge.stop_ids))
    for prompt, n, events in zip(PROMPTS, lengths, results):
        alone = engine.generate([prompt], max_new_tokens=n, temperature=0)[0]
        done = events[-1]
        assert events[0] == {"type": "start", "prompt_tokens": len(tokenizer.encode(prompt, bos=True))}
        assert done["type"] == "done" and done["text"] == alone.text and done["n"] == len(alone.token_ids)
        assert done["finish"] == ("stop" if alone.finish_reason == "stop" else "length")
        tokens = [e for e in events if e["type"] == "token"]
        assert [e["n"] for e in tokens] == list(range(1, done["n"] + 1))  # one event per token, in order
        assert "".join(e["text"] for e in tokens) == done["text"]
    assert bridge.stats["requests"] == 6 and bridge.stats["max_rows"] > 1


def test_rows_decode_together_not_one_at_a_time(tokenizer, bigram_model):
    """Four never-stopping chats of 60 tokens: decoded together they take about 60 steps, not 240."""
    x = tokenizer.encode("x")[0]
    model = bigram_model(tokenizer, {x: x})
    bridge = EngineBridge(model, tokenizer, rows=4, max_context=128)
    results = run_all(bridge, [("x", Sampling(temperature=0, max_new_tokens=60), 0.0)] * 4)
    bridge.close()
    assert [r[-1]["text"] for r in results] == ["x" * 60] * 4
    assert bridge.stats["max_rows"] == 4 and bridge.stats["steps"] < 2 * 60
    assert bridge.stats["rows_decoded"] == 4 * 59  # the first token of each comes from its prefill


def test_reasoning_tokens_are_counted_at_think_end(tokenizer, bigram_model):
    ids = tokenizer.special_ids()
    digit = {d: tokenizer.encode(str(d))[0] for d in range(10)}
    plus = tokenizer.encode("+")[0]
    script = [ids["<think>"], digit[2], plus, digit[3], ids["</think>"], ids["<answer>"], digit[5], ids["</answer>"]]
    start = digit[9]
    model = bigram_model(tokenizer, dict(zip([start, *script], script)))
    bridge = EngineBridge(model, tokenizer, rows=2, max_context=64)
    events = run_all(bridge, [("9", Sampling(temperature=0, max_new_tokens=30), 0.0)])[0]
    bridge.close()
    tokens = [e for e in events if e["type"] == "token"]
    assert [e.get("thought") for e in tokens] == [None] * 4 + [3] + [None] * 3  # on </think>, once
    assert events[-1] == {**events[-1], "text": "<think>2+3</think><answer>5</answer>", "thought": 3, "n": 8,
                          "finish": "stop"}


def test_a_stream_left_early_frees_its_row(tokenizer, bigram_model):
    x = tokenizer.encode("x")[0]
    bridge = EngineBridge(bigram_model(tokenizer, {x: x}), tokenizer, rows=1, max_context=128)

    async def main():
        short = bridge.stream("x", Sampling(temperature=0, max_new_tokens=100))
        async for event in short:
            if event["type"] == "token" and event["n"] == 3:
                break
        await short.aclose()
        # the only row is free again: the next chat runs to its end
        return await collect(bridge, "x", Sampling(temperature=0, max_new_tokens=5))

    events = asyncio.run(main())
    bridge.close()
    assert events[-1]["text"] == "xxxxx" and bridge.stats["steps"] < 100


def test_limits_are_clear(tokenizer):
    bridge = EngineBridge(random_model(tokenizer), tokenizer, rows=1, max_context=40, max_new_tokens=16)
    with pytest.raises(RequestError, match="above this server's limit"):
        bridge.stream("hi", Sampling(max_new_tokens=17))
    with pytest.raises(RequestError, match="exceeds the context of 40 tokens"):
        bridge.stream("cat " * 30, Sampling(max_new_tokens=16))
    bridge.close()
    with pytest.raises(ValueError, match="rows"):
        EngineBridge(random_model(tokenizer), tokenizer, rows=0)


def test_beyond_the_rows_only_max_queue_requests_wait(tokenizer, bigram_model):
    x = tokenizer.encode("x")[0]
    bridge = EngineBridge(bigram_model(tokenizer, {x: x}), tokenizer, rows=1, max_context=128, max_queue=1)
    never = Sampling(temperature=0, max_new_tokens=100)

    async def main():
        running = bridge.stream("x", never)
        while (await running.__anext__())["type"] != "token":  # it holds the only row
            pass
        waiting = bridge.stream("x", never)
        await waiting.__anext__()  # submitted: it waits for the row
        with pytest.raises(Busy, match="1 requests are waiting already"):
            bridge.stream("x", never)
        await running.aclose()
        await waiting.aclose()

    asyncio.run(main())
    bridge.close()


def test_a_closed_bridge_refuses_new_requests(tokenizer):
    bridge = EngineBridge(random_model(tokenizer), tokenizer, rows=1)
    bridge.close()

    async def main():
        with pytest.raises(RequestError, match="shutting down"):
            await collect(bridge, "hi", Sampling(max_new_tokens=4))

    asyncio.run(main())


def test_running_requests_end_with_an_error_on_stop(tokenizer, bigram_model):
    x = tokenizer.encode("x")[0]
    bridge = EngineBridge(bigram_model(tokenizer, {x: x}), tokenizer, rows=1, max_context=128)

    async def main():
        events = []
        async for event in bridge.stream("x", Sampling(temperature=0, max_new_tokens=100)):
            events.append(event)
            if event["type"] == "token" and event["n"] == 2:
                bridge.stop()
        return events

    events = asyncio.run(main())
    bridge.close()
    assert events[-1] == {"type": "error", "error": "the server is shutting down"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.sampled_from([0.05, 0.5, 0.9, 1.0]),
                          st.sampled_from([0, 1, 3, 12])), min_size=1, max_size=6), st.integers(0, 2**31))
def test_each_row_samples_inside_its_own_top_k_and_top_p(settings_rows, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(settings_rows), 12, generator=generator) * 3
    temperature, top_p, top_k = (torch.tensor(c) for c in zip(*settings_rows))
    torch.manual_seed(seed)
    tokens = sample_rows(logits, temperature.float(), top_p.float(), top_k.long())
    for row, (t, p, k) in enumerate(settings_rows):
        order = torch.argsort(logits[row], descending=True).tolist()
        if t == 0:
            assert tokens[row] == order[0]
            continue
        allowed = order[:k] if k else order
        probs = torch.softmax(logits[row, allowed] / t, -1)
        before = torch.cumsum(probs, 0) - probs
        allowed = [tok for tok, mass in zip(allowed, before.tolist()) if mass < p]
        assert tokens[row] in allowed


def test_sampling_frequencies_follow_each_rows_temperature():
    logits = torch.tensor([[0.0, 1.0, 2.0]] * 2).repeat(20000, 1)
    temperature = torch.tensor([1.0, 0.5]).repeat(20000)
    torch.manual_seed(0)
    tokens = sample_rows(logits, temperature, torch.ones(40000), torch.zeros(40000, dtype=torch.long))
    for row, t in enumerate((1.0, 0.5)):
        counts = torch.bincount(tokens[row::2], minlength=3).float() / 20000
        assert torch.allclose(counts, torch.softmax(torch.tensor([0.0, 1.0, 2.0]) / t, -1), atol=0.015)
