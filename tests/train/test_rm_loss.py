"""The reward model's loss, data and model: Bradley-Terry and its gradients by hand, TRL's RewardTrainer computing
the same loss and gradients on the same model and pairs, bad pair rows counted or named, packed pairs scoring as
unpacked ones (same loss and gradients)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from train.model import ModelConfig, RewardModel, Transformer
from train.rm_data import RewardPair, collate_reward_pairs, encode_reward_pairs, pair_rewards
from train.rm_loss import bradley_terry_loss, reward_stats

pytestmark = pytest.mark.usefixtures("single_thread")

floats = st.floats(-20, 20, allow_nan=False, width=32)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_loss_by_hand():
    chosen, rejected = torch.tensor([3.0, -1.0, 0.5]), torch.tensor([1.0, 1.0, 0.5])
    expected = -(math.log(sigmoid(2.0)) + math.log(sigmoid(-2.0)) + math.log(0.5)) / 3
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, rel=1e-6)
    margin = torch.tensor([1.0, -2.0, 0.25])
    expected = -(math.log(sigmoid(1.0)) + math.log(sigmoid(0.0)) + math.log(sigmoid(-0.25))) / 3
    assert bradley_terry_loss(chosen, rejected, margin).item() == pytest.approx(expected, rel=1e-6)
    centred = expected + 0.1 * (4.0 ** 2 + 0.0 + 1.0 ** 2) / 3
    assert bradley_terry_loss(chosen, rejected, margin, 0.1).item() == pytest.approx(centred, rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(floats, floats, floats), min_size=1, max_size=8), st.sampled_from([None, 0.0, 0.01, 0.5]))
def test_gradients_by_hand(values, coefficient):
    """d loss / d r_c = -(1 - sigmoid(d)) / B + 2 c (r_c + r_r) / B, and the negated first term for r_r."""
    chosen, rejected, margin = (torch.tensor(v, dtype=torch.float64, requires_grad=i < 2)
                                for i, v in enumerate(zip(*values)))
    bradley_terry_loss(chosen, rejected, margin, coefficient).backward()
    n = len(values)
    for k, (c, r, m) in enumerate(values):
        pull = (1 - sigmoid(c - r - m)) / n
        centre = 2 * (coefficient or 0.0) * (c + r) / n
        assert chosen.grad[k].item() == pytest.approx(-pull + centre, rel=1e-6, abs=1e-9)
        assert rejected.grad[k].item() == pytest.approx(pull + centre, rel=1e-6, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(floats, floats, floats), min_size=1, max_size=8))
def test_margin_is_a_shift_and_the_loss_depends_on_differences_only(values):
    chosen, rejected, margin = (torch.tensor(v, dtype=torch.float64) for v in zip(*values))
    loss = bradley_terry_loss(chosen, rejected, margin)
    assert torch.allclose(loss, bradley_terry_loss(chosen - margin, rejected))
    assert torch.allclose(loss, bradley_terry_loss(chosen + 3.0, rejected + 3.0, margin))
    assert loss > 0


def test_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        bradley_terry_loss(torch.zeros(3), torch.zeros(2))


def test_reward_stats_by_hand():
    stats = reward_stats(torch.tensor([2.0, 0.0, 1.0, -1.0]), torch.tensor([1.0, 0.0, 3.0, -4.0]))
    assert stats["accuracy"] == 0.5  # 2 > 1 and -1 > -4; the tie counts against
    assert stats["margin"] == pytest.approx((1 + 0 - 2 + 3) / 4)
    assert (stats["min_reward"], stats["max_reward"]) == (-4.0, 3.0)
    assert stats["mean_reward"] == pytest.approx(2 / 8)
    assert (stats["mean_chosen"], stats["mean_rejected"]) == (0.5, 0.0)


# ---------------------------------------------------------------------------------------------
# pairs


@pytest.fixture
def config(tokenizer):
    return ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128)


def rows(n=6, margin=False):
    out = [{"prompt": f"User: {a} + 1?\nAssistant:", "chosen": f" <answer>{a + 1}</answer>",
            "rejected": f" <answer>{a}{a}</answer>", "templated": True} for a in range(n)]
    for k, row in enumerate(out):
        if margin:
            row["margin"] = 0.25 * k - 0.5
    return out


def test_bad_rows_are_counted_with_where_they_came_from(tokenizer):
    good = rows(2)
    data = [good[0], {**good[1], "rejected": "  "}, {**good[1], "rejected": good[1]["chosen"]},
            {**good[1], "chosen": " 1" * 200}, {"chosen": " yes", "rejected": " no"}, good[1]]
    names = [f"pairs.jsonl:{k + 1}" for k in range(len(data))]
    pairs, skipped = encode_reward_pairs(tokenizer, data, "plain", max_length=100, where=names)
    assert skipped == {"empty": ["pairs.jsonl:2"], "identical": ["pairs.jsonl:3"], "too_long": ["pairs.jsonl:4"]}
    assert len(pairs) == 3
    # no prompt: TRL's implicit-prompt form, the sides are whole texts after BOS
    assert pairs[1].prompt_ids == [tokenizer.bos_id]
    assert tokenizer.decode(pairs[1].chosen_ids) == " yes"


@pytest.mark.parametrize(("row", "match"), [
    ({"prompt": "q", "chosen": 4, "rejected": "b"}, r"row 1: 'chosen' must be text, got int"),
    ({"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}, "conversational"),
    ({"prompt": "q", "chosen": "a"}, r"row 1: 'rejected' is missing"),
    ({"prompt": "q", "chosen": "a", "rejected": None}, "'rejected' is missing"),
    ({"prompt": 3, "chosen": "a", "rejected": "b"}, "'prompt' must be text"),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "margin": "big"}, "'margin' must be a finite number"),
    ({"prompt": "q", "chosen": "a", "rejected": "b", "margin": float("nan")}, "'margin' must be a finite number"),
    ("q a b", "expected an object"),
])
def test_unreadable_rows_are_errors_naming_the_row(tokenizer, row, match):
    with pytest.raises(ValueError, match=match):
        encode_reward_pairs(tokenizer, [row], "plain", max_length=100)


def test_margins_on_some_rows_only_are_an_error(tokenizer):
    data = rows(3, margin=True)
    del data[2]["margin"]
    with pytest.raises(ValueError, match="row 3: no 'margin', but earlier rows have one"):
        encode_reward_pairs(tokenizer, data, "plain", max_length=100)


def test_untemplated_prompts_are_rendered(tokenizer):
    (pair,), _ = encode_reward_pairs(tokenizer, [{"prompt": "1 + 1?", "chosen": " 2", "rejected": " 3"}],
                                     "plain", max_length=100)
    assert tokenizer.decode(pair.prompt_ids) == "User: 1 + 1?\nAssistant:"


def test_packed_pairs_score_as_unpacked(tokenizer, config):
    torch.manual_seed(0)
    model = RewardModel(config).eval()
    pairs, _ = encode_reward_pairs(tokenizer, rows(5, margin=True), "plain", max_length=128)
    pairs[0].rejected_ids = pairs[0].rejected_ids * 3  # sides of different lengths
    unpacked = pair_rewards(model, collate_reward_pairs(pairs, tokenizer.pad_id, multiple=8))
    packed_batch = collate_reward_pairs(pairs, tokenizer.pad_id, pack=True, multiple=64)
    tokens = sum(len(p.prompt_ids) + len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)
    assert packed_batch.input_ids.shape == (1, -(-(tokens + 1) // 64) * 64)  # one row, rounded up by padding
    packed = pair_rewards(model, packed_batch)
    for a, b in zip(unpacked, packed):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    alone = torch.stack([model(torch.tensor([p.prompt_ids + p.chosen_ids]))[0] for p in pairs])
    torch.testing.assert_close(unpacked[0], alone, rtol=1e-5, atol=1e-5)
    assert packed_batch.margin.tolist() == [-0.5, -0.25, 0.0, 0.25, 0.5]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=5),
       st.sampled_from([None, 0.1]), st.booleans())
def test_packed_pairs_give_the_unpacked_loss_and_gradients(lengths, coefficient, gqa):
    """Prompt, chosen and rejected of any lengths, with or without grouped-query attention: the padding-free row
    gives the padded rows' rewards, loss and every parameter's gradient."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2 if gqa else 4, intermediate_size=48, max_position_embeddings=64)
    model = RewardModel(config).double()
    g = torch.Generator().manual_seed(len(lengths))

    def tokens(n):
        return torch.randint(3, 40, (n,), generator=g).tolist()

    pairs = [RewardPair([0, *tokens(n)], [*tokens(k), 2], [*tokens(m), 2]) for n, k, m in lengths]
    grads = []
    for pack in (False, True):
        model.zero_grad()
        batch = collate_reward_pairs(pairs, pad_id=1, multiple=8, pack=pack)
        chosen, rejected = pair_rewards(model, batch)
        loss = bradley_terry_loss(chosen, rejected, None, coefficient)
        loss.backward()
        grads.append((loss.detach(), chosen.detach(), rejected.detach(),
                      {name: p.grad.clone() for name, p in model.named_parameters()}))
    (loss0, c0, r0, g0), (loss1, c1, r1, g1) = grads
    torch.testing.assert_close(loss1, loss0)
    torch.testing.assert_close(c1, c0)
    torch.testing.assert_close(r1, r0)
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], msg=name)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 11), min_size=1, max_size=4), st.booleans(), st.sampled_from(["llama", "qwen2", "qwen3"]))
def test_the_last_block_computed_only_where_read_gives_the_full_models_rewards_and_gradients(ends, gqa, family):
    """The reward model runs its last block only at the read positions (keys and values everywhere): rewards and
    every parameter's gradient are those of the whole model's hidden states read at the same positions."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2 if gqa else 4, intermediate_size=48, max_position_embeddings=64,
                         qk_norm=family == "qwen3", qkv_bias=family == "qwen2")
    model = RewardModel(config).double()
    ids = torch.randint(3, 40, (len(ends), 12), generator=torch.Generator().manual_seed(len(ends)))
    ends = torch.tensor(ends)
    runs = []
    for full in (False, True):
        model.zero_grad()
        rewards = (model.score(model.hidden_states(ids)[torch.arange(len(ends)), ends]).squeeze(-1).float() if full
                   else model(ids, ends))
        (rewards * torch.arange(1.0, len(ends) + 1, dtype=rewards.dtype)).sum().backward()
        runs.append((rewards.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (fast, fast_grads), (full, full_grads) = runs
    torch.testing.assert_close(fast, full)
    for name in full_grads:
        torch.testing.assert_close(fast_grads[name], full_grads[name], msg=name)


def test_the_reward_is_read_at_the_last_token_that_is_not_padding():
    # a tokenizer that pads with EOS (e.g. a foreign one): transformers then reads the token before EOS
    batch = collate_reward_pairs([RewardPair([0, 5], [6, 2], [7, 8, 2])], pad_id=2)
    assert batch.ends.tolist() == [2, 3]
    packed = collate_reward_pairs([RewardPair([0, 5], [6, 2], [7, 8, 2])], pad_id=2, pack=True)
    assert packed.ends.tolist() == [[2, 5]]


def test_from_policy_keeps_the_body(config):
    torch.manual_seed(0)
    policy = Transformer(config)
    model = RewardModel.from_policy(policy)
    ids = torch.tensor([[1, 5, 9, 4]])
    torch.testing.assert_close(model.hidden_states(ids), policy.hidden_states(ids))
    expected = (policy.hidden_states(ids)[0, -1] @ model.score.weight[0]).float()
    torch.testing.assert_close(model(ids)[0], expected)
    assert not hasattr(model, "lm_head")
    assert model.flops_per_token(16) < policy.flops_per_token(16)


# ---------------------------------------------------------------------------------------------
# TRL


@pytest.mark.parametrize("options", [{}, {"margin": True, "center_rewards_coefficient": 0.01}])
def test_loss_and_gradients_equal_trls_reward_trainer(tokenizer, config, tmp_path, options):
    """TRL tokenises the same texts to the same ids, and its compute_loss on our exported model gives our loss
    and our gradients."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForSequenceClassification

    from train.hf import export_hf

    torch.manual_seed(0)
    ours = RewardModel(config)
    export_hf(ours, tmp_path / "rm", tokenizer)
    theirs = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    data = rows(6, margin=bool(options.get("margin")))
    columns = ("prompt", "chosen", "rejected", *(["margin"] if options.get("margin") else []))
    coefficient = options.get("center_rewards_coefficient")
    args = trl.RewardConfig(output_dir=str(tmp_path / "trl"), report_to="none", use_cpu=True,
                            center_rewards_coefficient=coefficient, dataset_num_proc=None)
    trainer = trl.RewardTrainer(model=theirs, args=args, processing_class=tokenizer.to_transformers(),
                                train_dataset=datasets.Dataset.from_list([{c: r[c] for c in columns} for r in data]))
    examples = [trainer.train_dataset[i] for i in range(len(data))]
    pairs, skipped = encode_reward_pairs(tokenizer, data, "plain", max_length=128)
    assert not skipped
    assert [p.prompt_ids + p.chosen_ids for p in pairs] == [e["chosen_ids"] for e in examples]
    assert [p.prompt_ids + p.rejected_ids for p in pairs] == [e["rejected_ids"] for e in examples]

    trainer.model.train()
    their_loss = trainer.compute_loss(trainer.model, trainer.data_collator(examples))
    their_loss.backward()
    batch = collate_reward_pairs(pairs, tokenizer.pad_id)
    our_loss = bradley_terry_loss(*pair_rewards(ours, batch), batch.margin, coefficient)
    our_loss.backward()
    torch.testing.assert_close(our_loss, their_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.score.weight.grad, theirs.score.weight.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(ours.embed_tokens.weight.grad, theirs.model.embed_tokens.weight.grad,
                               rtol=1e-4, atol=1e-7)
    assert F.mse_loss(ours.norm.weight.grad, theirs.model.norm.weight.grad) < 1e-12
