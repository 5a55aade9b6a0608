"""Trainer data: packed rows and their boundaries, completion-only SFT labels (and the loss they give),
a batch order that covers each example once per epoch, shards ranks disjointly and resumes exactly."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from train.data import BatchOrder, PackedData, SFTData, pack_documents, sft_example
from train.model import ModelConfig, Transformer

pytestmark = pytest.mark.usefixtures("single_thread")

BOS, EOS, PAD = 0, 1, 2


@settings(max_examples=100, deadline=None)
@given(docs=st.lists(st.lists(st.integers(3, 50), max_size=12), min_size=1, max_size=10),
       seq_len=st.integers(1, 16))
def test_packed_rows_are_the_document_stream_cut_with_shared_boundaries(docs, seq_len):
    stream = [t for doc in docs for t in (BOS, *doc, EOS)]
    if len(stream) <= seq_len:
        with pytest.raises(ValueError, match="too few for one row"):
            pack_documents(docs, seq_len, bos_id=BOS, eos_id=EOS)
        return
    rows = pack_documents(docs, seq_len, bos_id=BOS, eos_id=EOS)
    assert rows.shape == ((len(stream) - 1) // seq_len, seq_len + 1) and rows.dtype == torch.long
    for i, row in enumerate(rows.tolist()):
        assert row == stream[i * seq_len: i * seq_len + seq_len + 1]  # row i+1 starts where row i ends
    x, y = PackedData(rows).batch(list(range(len(rows))))
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    # every token of the stream but the dropped tail is a target exactly once
    assert y.flatten().tolist() == stream[1: len(rows) * seq_len + 1]


def test_pack_documents_rejects_bad_lengths():
    with pytest.raises(ValueError, match="seq_len must be positive"):
        pack_documents([[5, 6]], 0, bos_id=BOS, eos_id=EOS)


def test_sft_labels_cover_the_completion_and_eos_only():
    ids, labels = sft_example([BOS, 10, 11, 12], [20, 21], eos_id=EOS)
    assert ids == [BOS, 10, 11, 12, 20, 21, EOS]
    assert labels == [-100, -100, -100, -100, 20, 21, EOS]
    data = SFTData([(ids, labels), sft_example([BOS, 13], [22, 23, 24, 25], eos_id=EOS),
                    sft_example([BOS, 14, 15, 16, 17, 18], [26], eos_id=EOS)], pad_id=PAD)
    assert len(data) == 3 and data.completion_tokens() == 3 + 5 + 2
    x, y = data.batch([1, 0, 2])
    # inputs drop the last token, labels the first; rows are right-padded to the longest
    assert x.tolist() == [[BOS, 13, 22, 23, 24, 25, PAD], [BOS, 10, 11, 12, 20, 21, PAD],
                          [BOS, 14, 15, 16, 17, 18, 26]]
    assert y.tolist() == [[-100, 22, 23, 24, 25, EOS, -100], [-100, -100, -100, 20, 21, EOS, -100],
                          [-100, -100, -100, -100, -100, 26, EOS]]


def test_sft_loss_is_cross_entropy_over_completion_tokens_only():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, intermediate_size=48))
    with torch.no_grad():
        model.lm_head.weight.mul_(30)  # a confident model: losses differ clearly between tokens
    prompts = [[BOS, 5, 6, 7, 8], [BOS, 9], [BOS, 30, 31, 32]]
    completions = [[10, 11], [12, 13, 14, 15, 16], [17]]
    data = SFTData([sft_example(p, c, eos_id=EOS) for p, c in zip(prompts, completions)], pad_id=PAD)
    x, y = data.batch([0, 1, 2])
    loss = model(x, y)
    logits = model(x)
    terms = []
    for row, (prompt, completion) in enumerate(zip(prompts, completions)):
        for k, target in enumerate([*completion, EOS]):  # token k of the completion follows position P-1+k
            position = len(prompt) - 1 + k
            terms.append(-F.log_softmax(logits[row, position], -1)[target])
    assert len(terms) == data.completion_tokens()
    assert torch.allclose(loss, torch.stack(terms).mean(), atol=1e-5)
    # a loss that also counted the prompt tokens would be another number
    everything = torch.where(y == -100, torch.roll(x, -1, 1), y)
    assert not torch.allclose(model(x, everything), loss, atol=1e-3)


@pytest.mark.parametrize(("n", "batch_size", "world_size"), [(10, 2, 1), (12, 3, 2), (23, 2, 4), (8, 8, 1)])
def test_each_epoch_covers_every_example_at_most_once_and_ranks_are_disjoint(n, batch_size, world_size):
    orders = [BatchOrder(n, batch_size, seed=3, rank=r, world_size=world_size) for r in range(world_size)]
    per_epoch = n // (batch_size * world_size)
    epochs = []
    for _ in range(3):
        steps = [[order.next() for order in orders] for _ in range(per_epoch)]
        for batches in steps:
            assert all(len(b) == batch_size for b in batches)
            assert len({i for b in batches for i in b}) == batch_size * world_size  # ranks disjoint
        seen = [i for batches in steps for b in batches for i in b]
        assert len(seen) == len(set(seen)) == per_epoch * batch_size * world_size  # no repeats in an epoch
        assert set(seen) <= set(range(n))
        epochs.append(seen)
    if per_epoch * batch_size * world_size == n:
        assert all(sorted(e) == list(range(n)) for e in epochs)  # nothing dropped: each example once
    assert epochs[0] != epochs[1]  # a fresh permutation each epoch
    assert all(order.state() == {"epoch": 2, "index": per_epoch} for order in orders)


def test_batch_order_resumes_the_same_sequence_from_its_state():
    reference = BatchOrder(14, 3, seed=7)
    expected = [reference.next() for _ in range(20)]  # crosses epochs of 4 batches
    for cut in (0, 3, 4, 9, 16):
        order = BatchOrder(14, 3, seed=7)
        for _ in range(cut):
            order.next()
        resumed = BatchOrder(14, 3, seed=7)
        resumed.load_state(order.state())
        assert [resumed.next() for _ in range(20 - cut)] == expected[cut:], cut
    assert BatchOrder(14, 3, seed=8).next() != expected[0]  # the seed matters


def test_batch_order_needs_one_global_batch():
    with pytest.raises(ValueError, match=r"fewer than one global batch \(4 x 2 ranks\)"):
        BatchOrder(7, 4, seed=0, world_size=2)
