"""The GRPO objective on small hand-computed tensors, against TRL's formulas, and NaN-free for any mask."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train.grpo_loss import (
    filter_groups,
    group_advantages,
    grpo_loss,
    per_token_kl,
    token_entropy,
    token_logprobs,
)

EPS = 1e-4
LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo"]


def close(actual, expected, tol=1e-6):
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    assert torch.allclose(actual, expected, atol=tol, rtol=tol), (actual, expected)


# ---------------------------------------------------------------- advantages

def test_each_scale_rewards_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    centred = torch.tensor([0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -0.5, -0.5])  # group means 1/4 and 1/2
    close(group_advantages(rewards, 4, scale_rewards="none"), centred)
    # Bessel-corrected group stds: sqrt((.75² + 3 * .25²) / 3) = 0.5 and sqrt(4 * .5² / 3) = sqrt(1/3)
    group_std = torch.tensor([0.5] * 4 + [math.sqrt(1 / 3)] * 4)
    close(group_advantages(rewards, 4), centred / (group_std + EPS))
    close(group_advantages(rewards, 4, scale_rewards="group"), centred / (group_std + EPS))
    # batch: 3 ones and 5 zeros, mean 3/8, unbiased variance (3 * (5/8)² + 5 * (3/8)²) / 7 = 15/56
    batch_std = math.sqrt(15 / 56)
    close(group_advantages(rewards, 4, scale_rewards="batch"), centred / (batch_std + EPS))
    close(group_advantages(rewards, 4, scale_rewards="group", eps=0.5), centred / (group_std + 0.5))


def test_zero_variance_groups_give_exactly_zero():
    rewards = torch.tensor([0.9, 0.9, 0.9, 0.7, 0.7, 0.7, 1.0, 0.0, 1.0])
    for scale in ("group", "batch", "none"):
        adv = group_advantages(rewards, 3, scale_rewards=scale)
        assert torch.equal(adv[:6], torch.zeros(6)), scale
        assert (adv[6:] != 0).all()
    # TRL's formula turns the rounding error of the float32 mean of 0.9, 0.9, 0.9 into a small advantage
    assert trl_advantages(rewards, 3, "group")[:3].abs().max() > 1e-4
    assert filter_groups(rewards, 3).tolist() == [False, False, True]


def test_invalid_completions_get_zero_and_stay_out_of_the_statistics():
    nan = float("nan")
    # group 0: rewards 1, 0, 0 judged and one not; mean 1/3, std sqrt(((2/3)² + 2 (1/3)²) / 2) = sqrt(1/3)
    expected = torch.tensor([2 / 3, -1 / 3, 0.0, -1 / 3]) / (math.sqrt(1 / 3) + EPS)
    by_nan = group_advantages(torch.tensor([1.0, 0.0, nan, 0.0]), 4)
    valid = torch.tensor([True, True, False, True])
    by_mask = group_advantages(torch.tensor([1.0, 0.0, -100.0, 0.0]), 4, valid=valid)
    close(by_nan, expected)
    assert torch.equal(by_nan, by_mask)
    # one judged completion, or none at all: no baseline, no signal, no NaN
    one = group_advantages(torch.tensor([nan, 1.0, nan, nan, nan, nan]), 3)
    assert torch.equal(one, torch.zeros(6))
    assert filter_groups(torch.tensor([nan, 1.0, nan, nan, nan, nan]), 3).tolist() == [False, False]
    # a flat group stays flat when its odd one out is invalid
    assert filter_groups(torch.tensor([1.0, 1.0, 0.0]), 3, valid=torch.tensor([True, True, False])).tolist() \
        == [False]
    # batch scaling: the std is over the judged rewards only (here 1, 0, 1, 0: sqrt(1/3))
    adv = group_advantages(torch.tensor([1.0, 0.0, 7.0, 1.0, 0.0, 7.0]), 3, scale_rewards="batch",
                           valid=torch.tensor([True, True, False] * 2))
    close(adv, torch.tensor([0.5, -0.5, 0.0] * 2) / (math.sqrt(1 / 3) + EPS))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(torch.zeros(5), 2)
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages(torch.zeros(4), 2, scale_rewards="std")
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(torch.zeros(1, 1), None, torch.zeros(1), torch.ones(1, 1), loss_type="ppo")
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(torch.zeros(1, 1), None, torch.zeros(1), torch.ones(1, 1), beta=0.1)


# ---------------------------------------------------------------- KL

def test_k3_kl_by_hand():
    lp = torch.tensor([-1.0, -2.0, -1.0])
    ref = torch.tensor([-1.0, -1.0, -2.0])
    close(per_token_kl(lp, ref), [0.0, math.e - 2, math.exp(-1)])  # exp(d) - d - 1 with d = ref - lp


def test_beta_adds_the_kl_and_beta_zero_needs_no_reference():
    lp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.0, -1.0]])
    mask = torch.ones(1, 2)
    loss, metrics = grpo_loss(lp, None, torch.zeros(1), mask, ref_logprobs=ref, beta=0.1, loss_type="bnpo")
    close(loss.detach(), 0.1 * (math.e - 2) / 2)
    close(metrics["kl"], (math.e - 2) / 2)
    loss.backward()  # d/dlp (exp(ref - lp) - (ref - lp) - 1) = 1 - exp(ref - lp)
    close(lp.grad, [[0.0, 0.1 * (1 - math.e) / 2]])
    loss, metrics = grpo_loss(lp, None, torch.ones(1), mask)  # beta = 0: no reference anywhere
    assert "kl" not in metrics and torch.isfinite(loss)
    _, metrics = grpo_loss(lp, None, torch.ones(1), mask, ref_logprobs=ref)  # beta = 0, KL still logged
    close(metrics["kl"], (math.e - 2) / 2)


# ---------------------------------------------------------------- aggregation

# On-policy the ratio is 1, so each token's loss is -A: row 0 has three tokens of -2, row 1 one token of +1.
ADV = torch.tensor([2.0, -1.0])
MASK = torch.tensor([[1, 1, 1], [1, 0, 0]])


@pytest.mark.parametrize(("loss_type", "options", "expected"), [
    ("grpo", {}, (-6 / 3 + 1 / 1) / 2),       # mean per sequence, then over sequences
    ("bnpo", {}, (-6 + 1) / 4),               # over the 4 unmasked tokens
    ("dr_grpo", {}, (-6 + 1) / (2 * 3)),      # B * T when max_completion_length is not given
    ("dr_grpo", {"max_completion_length": 5}, (-6 + 1) / (2 * 5)),
    ("dapo", {}, (-6 + 1) / 4),               # this batch's tokens by default
    ("dapo", {"num_items_in_batch": 10}, (-6 + 1) / 10),
    ("dapo", {"num_items_in_batch": torch.tensor(10)}, (-6 + 1) / 10),
])
def test_each_loss_type_normaliser(loss_type, options, expected):
    lp = torch.full((2, 3), -1.0, requires_grad=True)
    loss, _ = grpo_loss(lp, None, ADV, MASK, loss_type=loss_type, **options)
    close(loss.detach(), expected)
    loss.backward()  # on-policy the gradient is the policy gradient: -A / normaliser on each kept token
    per_token = {"grpo": torch.tensor([[1 / 3 / 2] * 3, [1 / 2, 0, 0]])}.get(loss_type)
    if per_token is None:
        per_token = torch.ones(2, 3) / ((-6 + 1) / expected)
    close(lp.grad, -ADV[:, None] * per_token * MASK)


def test_dapo_micro_batches_sum_to_the_whole_batch_token_mean():
    torch.manual_seed(0)
    lp, old = -torch.rand(4, 5), -torch.rand(4, 5)
    adv = torch.randn(4)
    mask = (torch.arange(5) < torch.tensor([[5], [2], [0], [4]])).int()
    whole, _ = grpo_loss(lp, old, adv, mask)
    n = int(mask.sum())
    halves = [grpo_loss(lp[i:i + 2], old[i:i + 2], adv[i:i + 2], mask[i:i + 2], num_items_in_batch=n)[0]
              for i in (0, 2)]
    close(sum(halves), whole)
    close(whole, grpo_loss(lp, old, adv, mask, loss_type="bnpo")[0])


# ---------------------------------------------------------------- clipping

def test_both_clip_sides_and_no_gradient_through_clipped_tokens():
    ratios = torch.tensor([[1.5, 1.1, 0.5], [0.5, 1.1, 1.5]])
    old = torch.full((2, 3), -2.0)
    lp = (old + ratios.log()).requires_grad_()
    adv = torch.tensor([1.0, -1.0])
    loss, metrics = grpo_loss(lp, old, adv, torch.ones(2, 3), epsilon=0.2, epsilon_high=0.28, loss_type="bnpo")
    # A > 0: min(r, clip(r, .8, 1.28)) is 1.28 for r = 1.5 (clipped), r itself for 1.1 and 0.5.
    # A < 0: min(-r, -clip(r)) is -0.8 for r = 0.5 (clipped), -r for 1.1 and for 1.5 (pessimistic side).
    per_token = torch.tensor([[-1.28, -1.1, -0.5], [0.8, 1.1, 1.5]])
    close(loss.detach(), per_token.sum() / 6)
    loss.backward()
    close(lp.grad, [[0.0, -1.1 / 6, -0.5 / 6], [0.0, 1.1 / 6, 1.5 / 6]])  # -A * r where unclipped
    assert lp.grad[0, 0] == 0 and lp.grad[1, 0] == 0
    close(metrics["clip_ratio/high_mean"], 1 / 6)
    close(metrics["clip_ratio/low_mean"], 1 / 6)
    close(metrics["clip_ratio/region_mean"], 2 / 6)
    close(metrics["ratio/mean"], 2 * (1.5 + 1.1 + 0.5) / 6)
    # epsilon_high defaults to epsilon: the cap is then 1.2
    loss, metrics = grpo_loss(lp.detach(), old, adv, torch.ones(2, 3), loss_type="bnpo")
    close(loss, (per_token.sum() + 1.28 - 1.2) / 6)


def test_several_iterations_on_one_batch_move_the_ratio_and_the_clip_caps_the_objective():
    """μ > 1: the first pass is on-policy (ratio 1); later passes see ratio != 1 and stop at the clip."""
    torch.manual_seed(0)
    policy = torch.nn.Linear(4, 5)  # a tiny policy: each position's features -> logits over 5 tokens
    x = torch.randn(4, 3, 4)
    with torch.no_grad():
        ids = torch.distributions.Categorical(logits=policy(x)).sample()
        old = token_logprobs(policy(x), ids)  # stored at sampling time
    adv, mask = torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.ones(4, 3)
    cap = torch.where(adv > 0, 1.28 * adv, 0.8 * adv).mean()  # the most the clipped objective can give
    optimizer = torch.optim.SGD(policy.parameters(), lr=2.0)
    history = []
    for _ in range(30):
        lp = token_logprobs(policy(x), ids)
        loss, metrics = grpo_loss(lp, old, adv, mask, epsilon_high=0.28, loss_type="bnpo")
        unclipped = ((lp - old).exp() * adv[:, None]).mean()
        optimizer.zero_grad()
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in policy.parameters()]).norm()
        history.append((-loss.item(), unclipped.item(), metrics, grad.item()))
        optimizer.step()
    first, second, last = history[0], history[1], history[-1]
    assert first[2]["ratio/mean"] == 1 and first[2]["clip_ratio/region_mean"] == 0 and first[3] > 0
    assert second[2]["ratio/mean"] != 1 and second[2]["clip_ratio/region_mean"] > 0
    assert all(objective <= cap + 1e-6 for objective, *_ in history)
    # in the end every token is clipped: the objective sits at the cap, the gradient is zero, and the
    # unclipped surrogate the policy would otherwise keep chasing is far above it
    assert last[0] == pytest.approx(cap.item(), abs=1e-6)
    assert last[2]["clip_ratio/region_mean"] == 1 and last[3] == 0
    assert last[1] > cap + 0.1


# ---------------------------------------------------------------- masks

def test_masked_rows_and_garbage_padding_give_no_nan():
    lp = torch.tensor([[-1.0, 1e4], [-3e4, 5e3]], requires_grad=True)  # row 1 fully masked
    old = torch.tensor([[-1.0, -1e4], [2e4, -5e3]])
    ref = torch.tensor([[-2.0, 3e4], [9e3, -9e3]])
    mask = torch.tensor([[1, 0], [0, 0]])
    for loss_type in LOSS_TYPES:
        loss, metrics = grpo_loss(lp, old, torch.tensor([1.0, -1.0]), mask, ref_logprobs=ref, beta=0.04,
                                  loss_type=loss_type)
        (grad,) = torch.autograd.grad(loss, lp)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert (grad[mask == 0] == 0).all()
        assert all(torch.isfinite(v) for v in metrics.values())
    empty = torch.zeros(2, 2)
    for loss_type in LOSS_TYPES:
        loss, metrics = grpo_loss(lp, old, torch.tensor([1.0, -1.0]), empty, loss_type=loss_type)
        assert loss == 0 and all(v == 0 for v in metrics.values())


@settings(max_examples=150, deadline=None)
@given(data=st.data(), b=st.integers(1, 4), t=st.integers(1, 5), loss_type=st.sampled_from(LOSS_TYPES),
       beta=st.sampled_from([0.0, 0.04]), eps=st.floats(0.0, 0.5), eps_high=st.none() | st.floats(0.0, 1.0))
def test_the_loss_is_finite_for_any_mask(data, b, t, loss_type, beta, eps, eps_high):
    def floats(lo, hi, n):
        return torch.tensor(data.draw(st.lists(st.floats(lo, hi), min_size=n, max_size=n)))

    lp = floats(-50, 0, b * t).view(b, t).requires_grad_()  # log-probabilities of a real vocabulary
    old, ref = floats(-50, 0, b * t).view(b, t), floats(-50, 0, b * t).view(b, t)
    adv = floats(-1e3, 1e3, b)
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=b * t, max_size=b * t))).view(b, t)
    loss, metrics = grpo_loss(lp, old, adv, mask, ref_logprobs=ref, beta=beta, epsilon=eps,
                              epsilon_high=eps_high, loss_type=loss_type, max_completion_length=t)
    (grad,) = torch.autograd.grad(loss, lp)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert all(torch.isfinite(v) for v in metrics.values())


# ---------------------------------------------------------------- TRL's formulas

def trl_nanstd(tensor, dim=None):
    """trl/trainer/utils.py ``nanstd`` (TRL 1.16)."""
    mean = torch.nanmean(tensor, dim=dim, keepdim=True)
    variance = torch.nanmean((tensor - mean) ** 2, dim=dim, keepdim=True)
    count = torch.sum(~torch.isnan(tensor), dim=dim, keepdim=True)
    correction = count / (count - 1)
    correction = torch.where(count > 1, correction, torch.full_like(correction, float("nan")))
    variance *= correction
    std = torch.sqrt(variance)
    return std.squeeze(dim) if dim is not None else std.squeeze()


def trl_advantages(rewards, num_generations, scale_rewards):
    """GRPOTrainer._generate_and_score_completions, sum_then_normalize branch (TRL 1.16)."""
    mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    if scale_rewards in ["group", "none"]:
        std_rewards = trl_nanstd(rewards.view(-1, num_generations), dim=1)
        std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
    else:
        std_rewards = trl_nanstd(rewards).expand_as(rewards)
    advantages = rewards - mean_grouped_rewards
    if scale_rewards != "none":
        advantages = advantages / (std_rewards + 1e-4)
    return torch.nan_to_num(advantages, nan=0.0)


def trl_loss(per_token_logps, old_per_token_logps, ref_per_token_logps, advantages, mask, *, beta,
             epsilon_low, epsilon_high, loss_type, max_completion_length, num_items_in_batch):
    """GRPOTrainer._compute_loss, token-level, one process, no accumulation (TRL 1.16)."""
    advantages = advantages.unsqueeze(1)
    coef_1 = torch.exp(per_token_logps - old_per_token_logps)
    per_token_kl = torch.exp(ref_per_token_logps - per_token_logps) - (ref_per_token_logps - per_token_logps) - 1
    coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)
    per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)
    else:
        loss = (per_token_loss * mask).sum() / num_items_in_batch.clamp(min=1.0)

    def global_masked_mean(x):
        return (x * mask).sum() / mask.sum().clamp(min=1.0)

    is_low_clipped = (coef_1 < 1 - epsilon_low) & (advantages < 0)
    is_high_clipped = (coef_1 > 1 + epsilon_high) & (advantages > 0)
    metrics = {"kl": global_masked_mean(per_token_kl),
               "clip_ratio/low_mean": global_masked_mean(is_low_clipped.float()),
               "clip_ratio/high_mean": global_masked_mean(is_high_clipped.float()),
               "clip_ratio/region_mean": global_masked_mean((is_low_clipped | is_high_clipped).float())}
    return loss, metrics


@pytest.mark.parametrize("scale_rewards", ["group", "batch", "none"])
def test_advantages_match_trl(scale_rewards):
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        rewards = torch.rand(6 * 4, generator=gen)
        rewards[torch.rand(24, generator=gen) < 0.2] = float("nan")  # unscorable
        rewards[4:8] = float("nan")  # a group no verifier could judge at all
        rewards[8:12] = torch.tensor([float("nan"), 0.3, float("nan"), float("nan")])  # one judged
        rewards[12:16] = torch.tensor([1.0, 0.0, 1.0, 1.0])  # binary
        ours = group_advantages(rewards, 4, scale_rewards=scale_rewards)
        close(ours, trl_advantages(rewards, 4, scale_rewards), tol=1e-5)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_loss_gradient_and_metrics_match_trl(loss_type):
    gen = torch.Generator().manual_seed(2)
    for beta, eps_high in [(0.0, None), (0.04, 0.28)]:
        b, t = 6, 7
        lp = (-3 * torch.rand(b, t, generator=gen)).requires_grad_()
        old = lp.detach() + 0.3 * torch.randn(b, t, generator=gen)  # ratios on both sides of the clip
        ref = lp.detach() + 0.5 * torch.randn(b, t, generator=gen)
        adv = torch.randn(b, generator=gen)
        lengths = torch.tensor([7, 3, 0, 5, 1, 6])
        mask = (torch.arange(t) < lengths[:, None]).float()
        n_items = mask.sum() + 11  # as if other micro-batches held 11 more tokens
        options = {"beta": beta, "max_completion_length": 10}
        ours, our_metrics = grpo_loss(lp, old, adv, mask, ref_logprobs=ref, epsilon=0.2, epsilon_high=eps_high,
                                      loss_type=loss_type, num_items_in_batch=n_items, **options)
        theirs, their_metrics = trl_loss(lp, old, ref, adv, mask, epsilon_low=0.2,
                                         epsilon_high=0.2 if eps_high is None else eps_high,
                                         loss_type=loss_type, num_items_in_batch=n_items, **options)
        (our_grad,) = torch.autograd.grad(ours, lp)
        (their_grad,) = torch.autograd.grad(theirs, lp)
        close(ours.detach(), theirs.detach())
        close(our_grad, their_grad)
        assert 0 < their_metrics["clip_ratio/region_mean"] < 1
        for name, value in their_metrics.items():
            close(our_metrics[name], value)


# ---------------------------------------------------------------- log-probs and entropy

def test_token_logprobs_and_entropy_match_the_plain_formulas():
    gen = torch.Generator().manual_seed(3)
    logits = 4 * torch.randn(3, 5, 11, generator=gen)
    ids = torch.randint(0, 11, (3, 5), generator=gen)
    expected = logits.log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    close(token_logprobs(logits, ids), expected, tol=1e-5)
    close(token_entropy(logits), torch.distributions.Categorical(logits=logits).entropy(), tol=1e-5)
    half = logits.bfloat16()
    out = token_logprobs(half, ids)
    assert out.dtype == torch.float32
    close(out, half.float().log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1), tol=1e-5)
    leaf = logits.clone().requires_grad_()
    token_logprobs(leaf, ids).sum().backward()  # differentiable: d/dlogits = onehot - softmax
    onehot = torch.nn.functional.one_hot(ids, 11).float()
    close(leaf.grad, onehot - logits.softmax(-1), tol=1e-5)
