"""The DPO losses on hand-computed values, pair encoding and masking, the one-forward pair log-probs, and the
same loss as TRL's DPOTrainer on the same tiny model and token ids."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from train.dpo_loss import (
    IGNORE,
    PairExample,
    collate_packed_pairs,
    collate_pairs,
    encode_pairs,
    packed_attention_mask,
    pair_logprobs,
    preference_loss,
)
from train.hf import export_hf
from train.model import Transformer, preset
from train.template import PLAIN, render_prompt

pytestmark = pytest.mark.usefixtures("single_thread")


def close(actual, expected, tol=1e-6):
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    assert torch.allclose(actual, expected, atol=tol, rtol=tol), (actual, expected)


def softplus(x: float) -> float:
    """log(1 + e^x) = -logsigmoid(-x), in plain math."""
    return math.log1p(math.exp(x))


def t(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ---------------------------------------------------------------- the losses by hand

# Three pairs: policy and reference log-probs summed over the completions.
CHOSEN, REJECTED = t(-5.0, -10.0, -8.0), t(-7.0, -9.0, -9.0)
REF_CHOSEN, REF_REJECTED = t(-6.0, -10.0, -7.0), t(-6.0, -8.0, -10.0)
# chosen log-ratios [1, 0, -1], rejected [-1, -1, 1]: margins d = [2, 1, -2]


def test_sigmoid_by_hand():
    out = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="sigmoid", beta=0.5)
    # -logsigmoid(beta * d) = log(1 + e^(-beta d)), beta d = [1, 0.5, -1]
    close(out.losses, [softplus(-1.0), softplus(-0.5), softplus(1.0)])
    close(out.chosen_rewards, [0.5, 0.0, -0.5])
    close(out.rejected_rewards, [-0.5, -0.5, 0.5])
    assert preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED).losses.shape == (3,)  # the defaults


def test_sigmoid_label_smoothing_is_conservative_dpo():
    e = 0.2
    out = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, beta=0.5, label_smoothing=e)
    close(out.losses, [(1 - e) * softplus(-z) + e * softplus(z) for z in (1.0, 0.5, -1.0)])
    # cDPO stops pushing at beta d = log((1 - e) / e): there the gradient of the loss is zero
    target = math.log((1 - e) / e)
    chosen = torch.tensor([target / 0.5], requires_grad=True)
    preference_loss(chosen, t(0.0), t(0.0), t(0.0), beta=0.5, label_smoothing=e).losses.sum().backward()
    assert abs(chosen.grad.item()) < 1e-6


def test_hinge_by_hand():
    out = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="hinge", beta=0.5)
    close(out.losses, [0.0, 0.5, 2.0])  # relu(1 - beta d)
    close(out.chosen_rewards, [0.5, 0.0, -0.5])


def test_ipo_averages_the_log_ratios_per_token():
    n_chosen, n_rejected = torch.tensor([2, 4, 1]), torch.tensor([1, 2, 4])
    out = preference_loss(CHOSEN, REJECTED, REF_CHOSEN, REF_REJECTED, loss_type="ipo", beta=0.25,
                          chosen_tokens=n_chosen, rejected_tokens=n_rejected)
    # per-token log-ratios: chosen [1/2, 0, -1], rejected [-1, -1/2, 1/4]; target 1 / (2 beta) = 2
    close(out.losses, [(0.5 + 1 - 2) ** 2, (0 + 0.5 - 2) ** 2, (-1 - 0.25 - 2) ** 2])
    close(out.chosen_rewards, [0.25, 0.0, -0.25])  # logged on the summed log-ratios, as TRL does
    close(out.rejected_rewards, [-0.25, -0.25, 0.25])


def test_simpo_by_hand_and_reference_free():
    chosen, rejected = t(-4.0, -9.0), t(-6.0, -4.0)
    n_chosen, n_rejected = torch.tensor([2, 3]), torch.tensor([3, 1])
    # average log-probs: chosen [-2, -3], rejected [-2, -4]; beta (avg_c - avg_r) - gamma = [-0.5, 1.5]
    out = preference_loss(chosen, rejected, loss_type="simpo", beta=2.0, gamma=0.5, chosen_tokens=n_chosen,
                          rejected_tokens=n_rejected)
    close(out.losses, [softplus(0.5), softplus(-1.5)])
    close(out.chosen_rewards, [-4.0, -6.0])  # beta * average log-prob, as TRL's CPOTrainer logs them
    close(out.rejected_rewards, [-4.0, -8.0])
    with_ref = preference_loss(chosen, rejected, t(3.0, -1.0), t(-20.0, 7.0), loss_type="simpo", beta=2.0,
                               gamma=0.5, chosen_tokens=n_chosen, rejected_tokens=n_rejected)
    assert all(torch.equal(a, b) for a, b in zip(out, with_ref))
    smoothed = preference_loss(chosen, rejected, loss_type="simpo", beta=2.0, gamma=0.5, label_smoothing=0.1,
                               chosen_tokens=n_chosen, rejected_tokens=n_rejected)
    close(smoothed.losses, [0.9 * softplus(0.5) + 0.1 * softplus(-0.5), 0.9 * softplus(-1.5) + 0.1 * softplus(1.5)])


def test_sigmoid_gradient_and_detached_rewards():
    chosen = torch.tensor([-5.0], requires_grad=True)
    rejected = torch.tensor([-7.0], requires_grad=True)
    out = preference_loss(chosen, rejected, t(-6.0), t(-6.0), beta=0.5)
    out.losses.sum().backward()
    # d/dc -logsigmoid(beta (c - r - ...)) = -beta * sigmoid(-beta d), beta d = 1
    expected = -0.5 / (1 + math.exp(1.0))
    close(chosen.grad, [expected])
    close(rejected.grad, [-expected])
    assert not out.chosen_rewards.requires_grad and not out.rejected_rewards.requires_grad


def test_bad_arguments_raise():
    c, r = t(-1.0), t(-2.0)
    n = torch.tensor([1])
    with pytest.raises(ValueError, match="loss_type"):
        preference_loss(c, r, c, r, loss_type="dpo")
    with pytest.raises(ValueError, match="beta"):
        preference_loss(c, r, c, r, beta=0.0)
    with pytest.raises(ValueError, match="reference"):
        preference_loss(c, r, loss_type="sigmoid")
    with pytest.raises(ValueError, match="chosen_tokens"):
        preference_loss(c, r, c, r, loss_type="ipo")
    with pytest.raises(ValueError, match="chosen_tokens"):
        preference_loss(c, r, loss_type="simpo", chosen_tokens=n)
    with pytest.raises(ValueError, match="label_smoothing"):
        preference_loss(c, r, c, r, loss_type="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        preference_loss(c, r, c, r, label_smoothing=0.5)


# ---------------------------------------------------------------- properties

margins = st.floats(-200.0, 200.0, allow_nan=False)
betas = st.floats(0.01, 5.0)


def loss_at(margin: float, loss_type: str, beta: float, **kwargs) -> float:
    """The loss of one pair whose log-ratio margin is ``margin`` (one token each side)."""
    n = torch.tensor([1])
    out = preference_loss(t(margin), t(0.0), t(0.0), t(0.0), loss_type=loss_type, beta=beta,
                          chosen_tokens=n, rejected_tokens=n, **kwargs)
    return out.losses.item()


@settings(max_examples=200, deadline=None)
@given(margins, margins, betas)
def test_sigmoid_and_hinge_never_grow_with_the_margin(a, b, beta):
    low, high = min(a, b), max(a, b)
    for loss_type in ("sigmoid", "hinge", "simpo"):
        worse, better = loss_at(low, loss_type, beta), loss_at(high, loss_type, beta)
        assert math.isfinite(worse) and math.isfinite(better)
        assert 0.0 <= better <= worse


@settings(max_examples=200, deadline=None)
@given(margins, betas, st.floats(0.0, 0.49))
def test_losses_are_finite_and_ipo_is_smallest_at_its_target(margin, beta, smoothing):
    assert math.isfinite(loss_at(margin, "sigmoid", beta, label_smoothing=smoothing))
    assert math.isfinite(loss_at(margin, "simpo", beta, label_smoothing=smoothing, gamma=1.0))
    ipo = loss_at(margin, "ipo", beta)
    assert math.isfinite(ipo) and ipo >= 0.0
    assert loss_at(1 / (2 * beta), "ipo", beta) < 1e-6


# ---------------------------------------------------------------- encoding and collation


def test_encode_pairs_templates_the_prompt_and_ends_completions_with_eos(tokenizer):
    rows = [{"prompt": "What is 2 + 3?", "chosen": " <answer>5</answer>", "rejected": " <answer>6</answer>"},
            {"prompt": "User: 1 + 1\nAssistant:", "chosen": " 2", "rejected": " 11", "templated": True}]
    pairs, skipped = encode_pairs(tokenizer, rows, PLAIN, max_len=256)
    assert skipped == 0 and len(pairs) == 2
    assert pairs[0].prompt_ids == tokenizer.encode(render_prompt("What is 2 + 3?", PLAIN), bos=True)
    assert pairs[1].prompt_ids == tokenizer.encode("User: 1 + 1\nAssistant:", bos=True)
    for pair, row in zip(pairs, rows):
        assert pair.prompt_ids[0] == tokenizer.bos_id
        assert pair.chosen_ids == [*tokenizer.encode(row["chosen"]), tokenizer.eos_id]
        assert pair.rejected_ids == [*tokenizer.encode(row["rejected"]), tokenizer.eos_id]
    assert encode_pairs(tokenizer, rows, "plain", max_len=256) == (pairs, 0)  # a template by name
    with pytest.raises(ValueError, match="template"):
        encode_pairs(tokenizer, rows, "no such template", max_len=256)


def test_encode_pairs_skips_pairs_longer_than_max_len(tokenizer):
    row = {"prompt": "1 + 1", "chosen": " 2", "rejected": " <think>one and one</think> 2"}
    (pair,), _ = encode_pairs(tokenizer, [row], PLAIN, max_len=1000)
    longest = len(pair.prompt_ids) + max(len(pair.chosen_ids), len(pair.rejected_ids))
    assert len(pair.rejected_ids) > len(pair.chosen_ids)  # the longer completion decides
    assert encode_pairs(tokenizer, [row, row], PLAIN, max_len=longest) == ([pair, pair], 0)
    assert encode_pairs(tokenizer, [row, row], PLAIN, max_len=longest - 1) == ([], 2)


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "q", "chosen": "a"}, "row 2 has no 'rejected'"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "row 2: 'prompt' must be a non-empty string"),
    ({"prompt": "q", "chosen": ["a"], "rejected": "b"}, "row 2: 'chosen' must be a non-empty string"),
    ({"prompt": "q", "chosen": "a", "rejected": None}, "row 2: 'rejected' must be a non-empty string"),
])
def test_bad_rows_name_the_row(tokenizer, bad, message):
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    with pytest.raises(ValueError, match=message):
        encode_pairs(tokenizer, [good, good, bad], PLAIN, max_len=64)


PAIRS = [PairExample([0, 11, 12, 13], [21, 22, 1], [31, 1]),
         PairExample([0, 14], [23, 1], [32, 33, 34, 35, 1]),
         PairExample([0, 15, 16], [24, 25, 26, 27, 1], [36, 1])]


def test_collate_puts_labels_on_completions_only():
    pad = 2
    batch = collate_pairs(PAIRS, pad_id=pad)
    rows = [(p.prompt_ids, p.chosen_ids) for p in PAIRS] + [(p.prompt_ids, p.rejected_ids) for p in PAIRS]
    width = max(len(prompt) + len(completion) for prompt, completion in rows) - 1
    assert batch.input_ids.shape == batch.labels.shape == (6, width)
    for row, (prompt, completion) in enumerate(rows):
        ids, n = prompt + completion, len(prompt) + len(completion) - 1
        assert batch.input_ids[row, :n].tolist() == ids[:-1]
        assert batch.input_ids[row, n:].tolist() == [pad] * (width - n)
        labels = batch.labels[row].tolist()
        assert labels == [IGNORE] * (len(prompt) - 1) + completion + [IGNORE] * (width - n)
        # each label is the token that follows its input position
        for pos in range(n):
            if labels[pos] != IGNORE:
                assert labels[pos] == ids[pos + 1]
    with pytest.raises(ValueError):
        collate_pairs([], pad_id=pad)
    with pytest.raises(ValueError):
        collate_pairs([PairExample([0], [], [1])], pad_id=pad)


# ---------------------------------------------------------------- log-probs in one forward


def row_logp(model, prompt: list[int], completion: list[int]) -> float:
    """Summed log-prob of ``completion`` after ``prompt``, one sequence alone, in float64."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logp = model(ids[:, :-1]).double().log_softmax(-1)[0]
    targets = ids[0, 1:]
    return sum(logp[pos, targets[pos]].item() for pos in range(len(prompt) - 1, ids.shape[1] - 1))


def test_pair_logprobs_equal_one_row_at_a_time(tiny_config):
    torch.manual_seed(0)
    model = Transformer(tiny_config)
    with torch.no_grad():
        model.lm_head.weight.mul_(30)  # peaked distributions: log-probs far from uniform
    out = pair_logprobs(model, collate_pairs(PAIRS, pad_id=2))
    close(out.chosen, [row_logp(model, p.prompt_ids, p.chosen_ids) for p in PAIRS], tol=1e-5)
    close(out.rejected, [row_logp(model, p.prompt_ids, p.rejected_ids) for p in PAIRS], tol=1e-5)
    assert out.chosen_tokens.tolist() == [3, 2, 5] and out.rejected_tokens.tolist() == [2, 5, 2]
    close(out.chosen_nll, -out.chosen.sum() / 10)
    assert out.chosen.dtype == torch.float32 and out.chosen.requires_grad
    out.chosen_nll.backward()
    assert model.lm_head.weight.grad.abs().sum() > 0
    # a transformers-style output with .logits (the logits path) gives the same as our model's fused NLL path
    wrapped = pair_logprobs(lambda ids: SimpleNamespace(logits=model(ids)), collate_pairs(PAIRS, pad_id=2))
    for a, b in zip(out, wrapped):
        assert torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-6, atol=1e-5)


pair_examples = st.lists(st.builds(
    PairExample, st.lists(st.integers(3, 60), min_size=1, max_size=9), st.lists(st.integers(3, 60), min_size=1, max_size=9),
    st.lists(st.integers(3, 60), min_size=1, max_size=9)), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair_examples, st.sampled_from([1, 8]))
def test_packed_pairs_give_each_completions_log_probs_and_gradients_as_unpacked_rows(tiny_config, pairs, multiple):
    """The prompt computed once, the completions kept apart by the mask: the same log-probs, token counts
    and gradients as two unpacked rows per pair."""
    torch.manual_seed(0)
    model = Transformer(tiny_config)
    with torch.no_grad():
        model.lm_head.weight.mul_(30)
    results = []
    for batch in (collate_pairs(pairs, pad_id=2), collate_packed_pairs(pairs, pad_id=2, multiple=multiple)):
        model.zero_grad()
        out = pair_logprobs(model, batch)
        (out.chosen.sum() - 2 * out.rejected.sum() + out.chosen_nll).backward()
        results.append((out, [p.grad.clone() for p in model.parameters()]))
    (unpacked, grads), (packed, packed_grads) = results
    for a, b in zip(unpacked, packed):
        assert torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-5, atol=1e-5), (a, b)
    for a, b in zip(grads, packed_grads):  # float32 sums in another order: relative to the gradient's scale
        assert (a - b).abs().max() <= 1e-5 * a.abs().max() + 1e-6
    packed_batch = collate_packed_pairs(pairs, pad_id=2, multiple=multiple)
    assert packed_batch.input_ids.shape[1] % multiple == 0
    # the packed row holds every prompt token once: fewer tokens than two unpacked rows per pair
    assert packed_batch.input_ids.shape[1] <= collate_pairs(pairs, pad_id=2).input_ids.shape[1] * 2 + multiple


def test_packed_labels_branches_and_the_mask_by_hand():
    batch = collate_packed_pairs([PairExample([0, 5, 4], [6, 9], [7, 8, 9])], pad_id=1, multiple=4)
    assert batch.input_ids.tolist() == [[0, 5, 4, 6, 4, 7, 8, 1]]
    assert batch.labels.tolist() == [[IGNORE, IGNORE, 6, 9, 7, 8, 9, IGNORE]]
    assert batch.positions.tolist()[0][:7] == [0, 1, 2, 3, 2, 3, 4]
    assert batch.branch.tolist()[0] == [0, 0, 1, 1, 2, 2, 2, -1]  # shared, chosen, rejected, padding
    mask = packed_attention_mask(batch.branch)[0, 0]
    assert mask[4].tolist() == [True, True, False, False, True, False, False, False]  # the prompt's copy
    assert mask[6].tolist() == [True, True, False, False, True, True, True, False]  # rejected: not chosen's tokens
    assert mask[3].tolist() == [True, True, True, True, False, False, False, False]
    assert mask[7, :2].tolist() == [True, True] and mask[7, 7]  # padding: never an empty row


@pytest.mark.parametrize("compiled", [False, True])
def test_the_flex_block_mask_gives_the_dense_masks_forward(tiny_config, compiled):
    """The CUDA path's FlexAttention block mask, run forward on CPU, equals the dense mask's attention: eager,
    and compiled as the GPU runs it (attention through FlexAttention's generated kernel)."""
    pytest.importorskip("torch.nn.attention.flex_attention")
    torch.manual_seed(0)
    model = Transformer(tiny_config).eval()
    batch = collate_packed_pairs(PAIRS, pad_id=2, multiple=8)
    flex_model = torch.compile(model) if compiled else model
    with torch.no_grad():
        dense = model(batch.input_ids, positions=batch.positions, mask=packed_attention_mask(batch.branch, dense=True))
        flex = flex_model(batch.input_ids, positions=batch.positions,
                          mask=packed_attention_mask(batch.branch, dense=False))
    valid = batch.branch >= 0
    assert torch.allclose(dense[valid], flex[valid], atol=1e-4)


def test_packed_pairs_need_our_model():
    batch = collate_packed_pairs(PAIRS, pad_id=2)
    with pytest.raises(ValueError, match="packed pairs need rlvr's own model"):
        pair_logprobs(lambda ids: torch.zeros(*ids.shape, 10), batch)


# ---------------------------------------------------------------- the same loss as TRL's DPOTrainer


def sharp_model(vocab_size: int, seed: int) -> Transformer:
    """The tiny preset with larger weights (peaked distributions) and norms away from one."""
    torch.manual_seed(seed)
    model = Transformer(preset("tiny", vocab_size=vocab_size))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5) if p.dim() == 2 else p.add_(torch.randn(p.shape) * 0.3)
    return model


TRL_ROWS = [{"prompt": f"Problem: {a} + {b}\nAnswer:", "chosen": f" <answer>{a + b}</answer>",
             "rejected": f" <think>{a} and {b}</think> <answer>{a + b + 1}</answer>"}
            for a, b in [(1, 2), (13, 4), (7, 30), (2, 2)]]


@pytest.fixture(scope="module")
def exported(tokenizer, tmp_path_factory):
    """A policy and a different reference, ours and exported as Hugging Face folders."""
    policy, ref = sharp_model(tokenizer.vocab_size, 0), sharp_model(tokenizer.vocab_size, 1)
    root = tmp_path_factory.mktemp("dpo")
    return policy, ref, export_hf(policy, root / "policy", tokenizer), export_hf(ref, root / "ref", tokenizer)


@pytest.mark.parametrize("loss_type, loss_weights", [
    (["sigmoid"], None), (["ipo"], None), (["hinge"], None), (["sigmoid", "sft"], [1.0, 0.3]),
], ids=["sigmoid", "ipo", "hinge", "rpo"])
def test_loss_equals_trl_dpo_trainer(exported, tokenizer, tmp_path, loss_type, loss_weights):
    pytest.importorskip("trl")
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    policy, ref, policy_dir, ref_dir = exported
    beta = 0.5
    args = DPOConfig(output_dir=str(tmp_path), loss_type=loss_type, loss_weights=loss_weights, beta=beta,
                     max_length=None, bf16=False, use_cpu=True, report_to=[], save_strategy="no",
                     per_device_train_batch_size=len(TRL_ROWS), disable_tqdm=True)
    trainer = DPOTrainer(model=str(policy_dir), args=args, train_dataset=datasets.Dataset.from_list(TRL_ROWS),
                         ref_model=AutoModelForCausalLM.from_pretrained(ref_dir, local_files_only=True),
                         processing_class=AutoTokenizer.from_pretrained(policy_dir, local_files_only=True))
    examples = [trainer.train_dataset[i] for i in range(len(TRL_ROWS))]
    theirs = trainer.compute_loss(trainer.model, trainer.data_collator(examples)).item()

    # our encoding of these rows gives TRL's token ids
    pairs = [PairExample(e["prompt_ids"], e["chosen_ids"], e["rejected_ids"]) for e in examples]
    templated = [{**row, "templated": True} for row in TRL_ROWS]
    assert encode_pairs(tokenizer, templated, PLAIN, max_len=1024) == (pairs, 0)

    batch = collate_pairs(pairs, tokenizer.pad_id)
    logprobs = pair_logprobs(policy, batch)
    with torch.no_grad():
        ref_logprobs = pair_logprobs(ref, batch)
    out = preference_loss(logprobs.chosen, logprobs.rejected, ref_logprobs.chosen, ref_logprobs.rejected,
                          loss_type=loss_type[0], beta=beta, chosen_tokens=logprobs.chosen_tokens,
                          rejected_tokens=logprobs.rejected_tokens)
    ours = out.losses.mean()
    if loss_weights:  # RPO: the NLL of the chosen completions, weighted by rpo_alpha
        ours = ours + loss_weights[1] * logprobs.chosen_nll
    assert abs(ours.item() - theirs) < 1e-5 * max(1.0, abs(theirs)), (ours.item(), theirs)
    assert theirs > 0.05  # a loss that is not trivially zero, so the comparison means something

    metrics = trainer._metrics["train" if trainer.model.training else "eval"]
    assert abs(out.chosen_rewards.mean().item() - metrics["rewards/chosen"][-1]) < 1e-5
    assert abs(out.rejected_rewards.mean().item() - metrics["rewards/rejected"][-1]) < 1e-5
