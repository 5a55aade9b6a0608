"""The GRPO objective as pure torch functions: group advantages, the clipped surrogate, k3 KL, aggregation.

Names and defaults follow TRL's ``GRPOConfig`` (``scale_rewards``, ``epsilon``, ``epsilon_high``, ``beta``,
``loss_type``) and its formulas in ``GRPOTrainer`` (TRL 1.16), so a run here and a run there mean the same
thing. The papers each piece comes from:

- GRPO, DeepSeekMath (Shao et al. 2024, arXiv:2402.03300): group-relative advantages ``(r - mean) / std``,
  the PPO clipped surrogate, the k3 KL estimator, and a per-sequence token mean (``loss_type="grpo"``).
- DAPO (Yu et al. 2025, arXiv:2503.14476): clip-higher (``epsilon_high``), dynamic sampling (drop groups whose
  rewards are all equal, :func:`filter_groups`) and a token mean over the whole batch (``loss_type="dapo"``).
- Dr. GRPO (Liu et al. 2025, arXiv:2503.20783): no std scaling (``scale_rewards="none"``) and a constant
  normaliser, batch size times ``max_completion_length`` (``loss_type="dr_grpo"``).

Shapes: ``B`` completions (``n_groups * group_size``, laid out group by group), ``T`` completion tokens.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

ScaleRewards = Literal["group", "batch", "none"]
LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]


def _grouped(rewards: Tensor, group_size: int, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Rewards as ``[n_groups, group_size]`` and the mask of those a verifier could judge (NaN counts as not)."""
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be 1-D with a multiple of group_size={group_size} entries, "
                         f"got shape {tuple(rewards.shape)}")
    ok = ~torch.isnan(rewards) if valid is None else valid.bool() & ~torch.isnan(rewards)
    return rewards.view(-1, group_size), ok.view(-1, group_size)


def _flat_groups(r: Tensor, ok: Tensor) -> Tensor:
    """True for groups whose valid rewards are all equal (or that have at most one): no learning signal there."""
    hi = torch.where(ok, r, -torch.inf).amax(dim=1)
    lo = torch.where(ok, r, torch.inf).amin(dim=1)
    return hi <= lo  # an empty group has hi = -inf <= lo = +inf


def _std(x: Tensor, ok: Tensor, dim: int | None) -> Tensor:
    """Unbiased (Bessel-corrected) std of ``x`` where ``ok``, along ``dim`` (kept) or overall: TRL's ``nanstd``."""
    if dim is None:
        x, ok, dim = x.reshape(-1), ok.reshape(-1), 0
    n = ok.sum(dim, keepdim=True)
    mean = torch.where(ok, x, 0.0).sum(dim, keepdim=True) / n.clamp(min=1)
    var = torch.where(ok, (x - mean) ** 2, 0.0).sum(dim, keepdim=True) / (n - 1).clamp(min=1)
    return var.sqrt()


def group_advantages(rewards: Tensor, group_size: int, *, scale_rewards: ScaleRewards = "group",
                     valid: Tensor | None = None, eps: float = 1e-4) -> Tensor:
    """Group-relative advantages ``A = (r - mean(group)) / (std + eps)``, one per completion.

    ``rewards`` [B] is laid out group by group (``B = n_groups * group_size``). ``scale_rewards`` divides by
    the group's std ("group", DeepSeekMath), by the std of all rewards in the batch ("batch", as TRL does
    it, after PPO Lite), or not at all ("none", Dr. GRPO). The std is Bessel-corrected and ``eps`` is added
    to it, as in TRL. The centring is always on the group mean.

    Completions with ``valid`` False or a NaN reward (no verifier could judge them) are left out of every
    mean and std and get advantage 0: a parser failure is skipped, not punished. A group whose valid rewards
    are all equal gets advantage 0 exactly (TRL's formula can leave the float32 rounding error of the mean
    there, divided by ``std + eps``: about 6e-4 for three rewards of 0.9).

    >>> group_advantages(torch.tensor([1., 0., 0., 1., 1., 1.]), 3, scale_rewards="none")
    tensor([ 0.6667, -0.3333, -0.3333,  0.0000,  0.0000,  0.0000])
    >>> group_advantages(torch.tensor([1., 0., 5., 1.]), 2, valid=torch.tensor([True, True, False, True]))
    tensor([ 0.7070, -0.7070,  0.0000,  0.0000])
    """
    r, ok = _grouped(rewards, group_size, valid)
    n = ok.sum(dim=1, keepdim=True)
    mean = torch.where(ok, r, 0.0).sum(dim=1, keepdim=True) / n.clamp(min=1)
    adv = r - mean
    if scale_rewards == "group":
        adv = adv / (_std(r, ok, dim=1) + eps)
    elif scale_rewards == "batch":
        adv = adv / (_std(r, ok, dim=None) + eps)
    elif scale_rewards != "none":
        raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale_rewards!r}")
    adv = torch.where(ok & ~_flat_groups(r, ok).unsqueeze(1), adv, 0.0)
    return adv.reshape(-1)


def filter_groups(rewards: Tensor, group_size: int, valid: Tensor | None = None) -> Tensor:
    """Which groups carry a learning signal: True where the valid rewards are not all equal.

    DAPO's dynamic sampling keeps only these groups and samples more prompts to refill the batch. Invalid
    completions (``valid`` False, or a NaN reward) are ignored, as in :func:`group_advantages`.

    >>> filter_groups(torch.tensor([1., 1., 0., 1., 0., 0.]), 2)
    tensor([False,  True, False])
    """
    r, ok = _grouped(rewards, group_size, valid)
    return ~_flat_groups(r, ok)


def per_token_kl(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    """The k3 estimator of KL(policy || reference) per sampled token: ``exp(d) - d - 1`` with ``d = ref - lp``.

    Always >= 0, and unbiased for tokens sampled from the policy (Schulman 2020, "Approximating KL
    divergence"; used by DeepSeekMath).

    >>> per_token_kl(torch.tensor([-1.0, -2.0]), torch.tensor([-1.0, -1.0]))
    tensor([0.0000, 0.7183])
    """
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1


def grpo_loss(logprobs: Tensor, old_logprobs: Tensor | None, advantages: Tensor, completion_mask: Tensor, *,
              ref_logprobs: Tensor | None = None, beta: float = 0.0, epsilon: float = 0.2,
              epsilon_high: float | None = None, loss_type: LossType = "dapo",
              max_completion_length: int | None = None,
              num_items_in_batch: int | float | Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """The clipped GRPO surrogate plus ``beta`` times k3 KL, aggregated as ``loss_type`` says.

    Per token, with ``ratio = exp(logprobs - old_logprobs)``::

        loss = -min(ratio * A, clip(ratio, 1 - epsilon, 1 + epsilon_high) * A) + beta * kl

    ``logprobs`` [B, T] are the current policy's (with grad); ``old_logprobs`` [B, T] the sampling policy's,
    stored when the batch was generated and reused for each of the ``num_iterations`` (μ) passes over it.
    ``None`` means on-policy (μ = 1): ``logprobs.detach()`` is used, so the ratio is 1 and the gradient is
    the policy gradient ``-A * grad(logprobs)``. ``advantages`` is [B]. ``completion_mask`` [B, T] is 1 on
    tokens that count and 0 on padding, on excluded completions and on truncated ones when those are masked;
    whatever the other inputs hold at masked positions never reaches the loss or its gradient.
    ``ref_logprobs`` is needed only when ``beta`` is not 0. ``epsilon_high`` defaults to ``epsilon``.

    ``loss_type`` chooses the normaliser of the summed masked per-token loss:

    - ``"grpo"`` (DeepSeekMath): mean over each sequence's tokens, then over sequences (length-biased);
    - ``"bnpo"``: over the unmasked tokens in this batch;
    - ``"dr_grpo"`` (Dr. GRPO): over ``B * max_completion_length``, a constant (default ``T``; pass the
      configured maximum so it does not move with the longest completion of a batch);
    - ``"dapo"`` (DAPO, TRL's default): over ``num_items_in_batch``, the number of completion tokens in the
      whole optimizer batch, all accumulation steps included (default: this batch's count). Summing the
      micro-batch losses then gives the token mean of the whole batch. Under DDP, which averages gradients
      over ranks, pass the global count divided by the world size (TRL does the same).

    The first three are means over this batch: divide by the number of accumulation steps when accumulating.

    Returns the loss and detached metrics, each a token mean over the mask (TRL's names): ``kl`` (when
    ``ref_logprobs`` is given), ``clip_ratio/low_mean`` (ratio < 1 - epsilon with A < 0),
    ``clip_ratio/high_mean`` (ratio > 1 + epsilon_high with A > 0), ``clip_ratio/region_mean`` (either),
    and ``ratio/mean``.

    >>> lp = torch.tensor([[-1.0, -1.0], [-2.0, -2.0]], requires_grad=True)
    >>> loss, metrics = grpo_loss(lp, None, torch.tensor([1.0, -1.0]), torch.tensor([[1, 1], [1, 0]]))
    >>> loss  # on-policy the ratio is 1: -(1 + 1 - 1) / 3 tokens
    tensor(-0.3333, grad_fn=<DivBackward0>)
    >>> metrics["ratio/mean"]
    tensor(1.)
    """
    mask = completion_mask.bool()
    # Masked positions (padding, excluded rows) may hold anything: zero the log-ratio there before exp, so
    # neither the loss nor its gradient can see an overflow from them.
    old = logprobs.detach() if old_logprobs is None else old_logprobs
    ratio = torch.exp(torch.where(mask, logprobs - old, 0.0))
    eps_low, eps_high = epsilon, epsilon if epsilon_high is None else epsilon_high
    adv = advantages.unsqueeze(1)
    # PPO's clipped surrogate (DeepSeekMath eq. 3), with DAPO's decoupled upper bound ("clip-higher").
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * adv)
    kl = None
    if ref_logprobs is not None:
        kl = per_token_kl(torch.where(mask, logprobs, 0.0), torch.where(mask, ref_logprobs, 0.0))
    if beta != 0.0:
        if kl is None:
            raise ValueError("beta != 0 needs ref_logprobs")
        per_token = per_token + beta * kl
    per_token = torch.where(mask, per_token, 0.0)
    m = mask.to(per_token.dtype)
    n_tokens = m.sum()

    if loss_type == "grpo":  # DeepSeekMath: 1/G sum_i 1/|o_i| sum_t
        loss = (per_token.sum(-1) / m.sum(-1).clamp(min=1)).mean()
    elif loss_type == "bnpo":
        loss = per_token.sum() / n_tokens.clamp(min=1)
    elif loss_type == "dr_grpo":  # Dr. GRPO: a constant normaliser removes the length bias
        loss = per_token.sum() / (per_token.size(0) * (max_completion_length or per_token.size(1)))
    elif loss_type == "dapo":  # DAPO: token-level mean over the whole batch
        n = n_tokens if num_items_in_batch is None else torch.as_tensor(num_items_in_batch, dtype=m.dtype, device=m.device)
        loss = per_token.sum() / n.clamp(min=1)
    else:
        raise ValueError(f"loss_type must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo', got {loss_type!r}")

    def token_mean(x: Tensor) -> Tensor:
        return (torch.where(mask, x.detach().to(m.dtype), 0.0).sum() / n_tokens.clamp(min=1))

    low = (ratio < 1 - eps_low) & (adv < 0)
    high = (ratio > 1 + eps_high) & (adv > 0)
    metrics = {"clip_ratio/low_mean": token_mean(low), "clip_ratio/high_mean": token_mean(high),
               "clip_ratio/region_mean": token_mean(low | high), "ratio/mean": token_mean(ratio)}
    if kl is not None:
        metrics = {"kl": token_mean(kl), **metrics}
    return loss, metrics


def token_logprobs(logits: Tensor, ids: Tensor) -> Tensor:
    """Log-probability of each token in ``ids`` [B, T] under ``logits`` [B, T, V], as float32 [B, T].

    ``logits[:, t]`` must be the prediction for ``ids[:, t]`` (shift by one for a causal model), divided by
    the sampling temperature if one was used, or the ratio will not start at 1. Computed one row at a time as
    ``logit - logsumexp`` in float32, so peak memory stays at one row's [T, V] and bf16 loses no precision.

    >>> token_logprobs(torch.log(torch.tensor([[[0.5, 0.25, 0.25]]])), torch.tensor([[1]])).exp()
    tensor([[0.2500]])
    """
    rows = []
    for row, row_ids in zip(logits, ids):
        row = row.float()
        rows.append(row.gather(-1, row_ids.unsqueeze(-1)).squeeze(-1) - row.logsumexp(-1))
    return torch.stack(rows)


def token_entropy(logits: Tensor) -> Tensor:
    """Entropy in nats of each position's next-token distribution: logits [B, T, V] -> float32 [B, T].

    One row at a time in float32, as :func:`token_logprobs`. A diagnostic: call it under ``torch.no_grad()``.

    >>> token_entropy(torch.zeros(1, 1, 4))  # uniform over 4: log 4
    tensor([[1.3863]])
    """
    rows = []
    for row in logits:
        logp = row.float().log_softmax(-1)
        rows.append(-(logp.exp() * logp).sum(-1))
    return torch.stack(rows)
