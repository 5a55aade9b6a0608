"""The reward model's loss and statistics as pure torch functions: Bradley-Terry on preference pairs.

A reward model ``r`` scores a whole sequence (prompt and completion). Bradley-Terry (1952) models the chance
that people prefer ``chosen`` over ``rejected`` as ``sigmoid(r_c - r_r)``; training maximises it, as InstructGPT
(Ouyang et al. 2022) and TRL's ``RewardTrainer`` do:

- ``loss = -logsigmoid(r_c - r_r - margin).mean()``, where the optional per-pair ``margin`` (Llama 2, Touvron et
  al. 2023) asks for a wider gap on pairs known to differ more;
- plus ``center_rewards_coefficient * mean((r_c + r_r) ** 2)`` when set (Eisenstein et al. 2023, arXiv:2312.09244,
  eq. 2), which pulls the rewards towards zero mean: Bradley-Terry fixes only their differences.

Both are TRL 1.16's formulas under its names (``margin`` is a dataset column there, a tensor here), so a run
here and a run there mean the same thing. :func:`reward_stats` gives the numbers TRL logs (``accuracy``,
``margin``, ``min_reward``, ``mean_reward``, ``max_reward``) and a few more.

>>> chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
>>> bradley_terry_loss(chosen, rejected)  # (-logsigmoid(1) - logsigmoid(0)) / 2
tensor(0.5032)
>>> bradley_terry_loss(chosen, rejected, margin=torch.tensor([1.0, 0.0]))  # -logsigmoid(0) for both
tensor(0.6931)
>>> reward_stats(chosen, rejected)["accuracy"]  # a tie is not a win
0.5
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bradley_terry_loss", "reward_stats"]


def bradley_terry_loss(chosen: Tensor, rejected: Tensor, margin: Tensor | None = None,
                       center_rewards_coefficient: float | None = None) -> Tensor:
    """The mean Bradley-Terry loss of ``[B]`` rewards of the chosen and the rejected sides (float32 is best).

    ``margin`` (``[B]``, or None) is subtracted from each pair's reward difference; ``center_rewards_coefficient``
    (None or 0: off) weights the mean squared sum of the pair's rewards.
    """
    if chosen.shape != rejected.shape or chosen.dim() != 1:
        raise ValueError(f"chosen and rejected must be [B] tensors of one shape, got {tuple(chosen.shape)} and "
                         f"{tuple(rejected.shape)}")
    difference = chosen - rejected
    if margin is not None:
        difference = difference - margin
    loss = -F.logsigmoid(difference).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ((chosen + rejected) ** 2).mean()
    return loss


@torch.no_grad()
def reward_stats(chosen: Tensor, rejected: Tensor) -> dict[str, float]:
    """Pairwise accuracy (chosen scored strictly higher), mean margin and reward statistics of ``[B]`` rewards,
    as plain floats under TRL's names (``accuracy``, ``margin``, ``min_reward``, ``mean_reward``, ``max_reward``),
    with ``std_reward``, ``mean_chosen`` and ``mean_rejected``.

    >>> stats = reward_stats(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]))
    >>> stats["accuracy"], stats["margin"], stats["min_reward"], stats["max_reward"]
    (0.5, 1.0, 0.0, 3.0)
    """
    if chosen.numel() == 0:
        raise ValueError("reward_stats needs at least one pair")
    chosen, rejected = chosen.detach().float(), rejected.detach().float()
    both = torch.cat([chosen, rejected])
    values = torch.stack([(chosen > rejected).float().mean(), (chosen - rejected).mean(), both.min(), both.mean(),
                          both.max(), both.std(correction=0), chosen.mean(), rejected.mean()]).tolist()
    names = ("accuracy", "margin", "min_reward", "mean_reward", "max_reward", "std_reward", "mean_chosen",
             "mean_rejected")
    return dict(zip(names, values))
