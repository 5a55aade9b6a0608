"""Preference pairs and the DPO family of losses as pure torch functions: tokenised pairs, one forward over
chosen and rejected rows, and the pairwise losses ``sigmoid`` (DPO), ``ipo``, ``hinge`` and ``simpo``.

Names and defaults follow TRL (``beta``, ``loss_type``, ``label_smoothing``; ``gamma`` is the CPO trainer's
``simpo_gamma``), and ``sigmoid``, ``ipo`` and ``hinge`` are TRL 1.16's ``DPOTrainer`` formulas, so a run here
and a run there mean the same thing. With ``d = (logp_c - ref_c) - (logp_r - ref_r)``, log-probs summed over
the completion tokens (EOS included):

- ``sigmoid``, DPO (Rafailov et al. 2023, arXiv:2305.18290): ``-logsigmoid(beta * d)``. With
  ``label_smoothing = e`` it is conservative DPO (cDPO, Mitchell 2023):
  ``-(1 - e) logsigmoid(beta d) - e logsigmoid(-beta d)``, as TRL's sigmoid loss had it before 1.0 and its CPO
  trainer still does; TRL 1.16's DPO sigmoid has no smoothing and equals ours at ``e = 0``.
- ``ipo``, IPO (Azar et al. 2023, arXiv:2310.12036, eq. 17): ``(d' - 1 / (2 beta))^2`` where ``d'`` uses each
  side's log-ratio divided by its completion length (TRL averages per token, as the IPO authors confirmed their
  results did); ``beta`` is the paper's tau.
- ``hinge``, SLiC (Zhao et al. 2023, arXiv:2305.10425): ``relu(1 - beta * d)``.
- ``simpo``, SimPO (Meng et al. 2024, arXiv:2405.14734): reference-free and length-normalised,
  ``-logsigmoid(beta * (avg_c - avg_r) - gamma)`` with ``avg`` the mean log-prob per completion token; as in
  TRL's ``CPOTrainer`` with ``loss_type="simpo"``, ``cpo_alpha=0`` (label smoothing applies as in cDPO).

The implicit rewards are logged as TRL does: ``beta * (logp - ref_logp)`` (summed, for ipo too) and, for simpo,
``beta * avg`` (the CPO trainer's).

RPO (Pang et al. 2024, arXiv:2404.19733) adds an NLL term on the chosen answers; it is not part of
:func:`preference_loss`: the trainer adds ``rpo_alpha * PairLogprobs.chosen_nll``, the mean NLL per chosen
completion token over the batch. That is TRL's ``rpo_alpha`` (before 1.0: ``losses + rpo_alpha * nll_loss``, a
token-mean cross-entropy over the chosen completions) and, in TRL 1.16, ``loss_type=["sigmoid", "sft"]`` with
``loss_weights=[1.0, rpo_alpha]``: ``losses.mean() + rpo_alpha * chosen_nll`` is exactly that loss.

The reference log-probs do not change during training: compute them once, up front, with :func:`pair_logprobs`
under ``torch.no_grad()`` on the reference model, and keep them with the pairs.

>>> batch = collate_pairs([PairExample([0, 5], [6, 9], [7, 8, 9])], pad_id=1)
>>> policy = pair_logprobs(lambda ids: torch.zeros(*ids.shape, 10), batch)  # uniform over 10 tokens
>>> out = preference_loss(policy.chosen, policy.rejected, policy.chosen + 1.0, policy.rejected - 1.0, beta=0.5)
>>> out.losses, out.chosen_rewards  # d = -2: -logsigmoid(-1)
(tensor([1.3133]), tensor([-0.5000]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from train.data import IGNORE
from train.grpo_loss import token_logprobs
from train.template import render_prompt, resolve_template

__all__ = ["IGNORE", "LOSS_TYPES", "PackedPairBatch", "PairBatch", "PairExample", "PairLogprobs", "PairLogps",
           "PreferenceLoss", "collate_packed_pairs", "collate_pairs", "encode_pairs", "packed_attention_mask",
           "pair_logprobs", "pair_logps", "preference_loss"]

LossType = Literal["sigmoid", "ipo", "hinge", "simpo"]
LOSS_TYPES: tuple[str, ...] = ("sigmoid", "ipo", "hinge", "simpo")
COLUMNS = ("prompt", "chosen", "rejected")  # TRL's preference dataset columns


@dataclass
class PairExample:
    """One tokenised preference pair."""

    prompt_ids: list[int]  # templated prompt, with BOS
    chosen_ids: list[int]  # completion tokens + EOS
    rejected_ids: list[int]  # completion tokens + EOS


def encode_pairs(tokenizer, rows: list[dict], template: str, max_len: int) -> tuple[list[PairExample], int]:
    """Tokenised pairs from rows with TRL's columns ``prompt``, ``chosen`` and ``rejected``, and the number skipped.

    The prompt is the raw question, rendered with ``render_prompt(prompt, template)`` and encoded with BOS,
    unless the row has ``"templated": True``, when it is encoded as it is. ``template`` is a template's text
    (with ``{prompt}``, e.g. ``train.template.PLAIN``) or its name in ``train.template.TEMPLATES``. Each
    completion is encoded without BOS and gets EOS appended, as in SFT. A pair whose prompt plus longer
    completion has more than ``max_len`` tokens is skipped. A row missing a column, or with an empty or
    non-string value, raises ``ValueError`` naming its index.

    >>> from train.template import PLAIN
    >>> from train.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["User: 1 + 1?\\nAssistant: <answer>2</answer>"] * 20, vocab_size=300)
    >>> rows = [{"prompt": "1 + 1?", "chosen": " <answer>2</answer>", "rejected": " <answer>3</answer>"},
    ...         {"prompt": "1 + 1?" * 50, "chosen": " 2", "rejected": " 3"}]
    >>> pairs, skipped = encode_pairs(tok, rows, PLAIN, max_len=64)
    >>> encode_pairs(tok, rows, "plain", max_len=64) == (pairs, skipped)
    True
    >>> len(pairs), skipped, pairs[0].prompt_ids[0] == tok.bos_id, pairs[0].chosen_ids[-1] == tok.eos_id
    (1, 1, True, True)
    >>> tok.decode(pairs[0].rejected_ids)
    ' <answer>3</answer>'
    """
    template = resolve_template(template)[1]
    for i, row in enumerate(rows):
        for column in COLUMNS:
            if column not in row:
                raise ValueError(f"preference row {i} has no {column!r} column (needs {', '.join(COLUMNS)})")
            value = row[column]
            if not isinstance(value, str) or not value:
                raise ValueError(f"preference row {i}: {column!r} must be a non-empty string, "
                                 f"got {type(value).__name__} {str(value)[:40]!r}")
    prompts = [r["prompt"] if r.get("templated") else render_prompt(r["prompt"], template) for r in rows]
    prompt_ids = tokenizer.encode_batch(prompts, bos=True)
    chosen_ids = tokenizer.encode_batch([r["chosen"] for r in rows], eos=True)
    rejected_ids = tokenizer.encode_batch([r["rejected"] for r in rows], eos=True)
    examples = [PairExample(p, c, r) for p, c, r in zip(prompt_ids, chosen_ids, rejected_ids)
                if len(p) + max(len(c), len(r)) <= max_len]
    return examples, len(rows) - len(examples)


@dataclass
class PairBatch:
    """``B`` pairs as ``2B`` rows: the chosen sequences, then the rejected ones, right-padded.

    ``labels[:, t]`` is the target of ``input_ids[:, t]`` (``x = ids[:-1]``, ``y = ids[1:]``, as in
    ``train.data.SFTData``), ``IGNORE`` on the prompt and on padding.
    """

    input_ids: Tensor  # [2B, T]
    labels: Tensor  # [2B, T]

    def to(self, device, non_blocking: bool = False) -> PairBatch:
        return PairBatch(self.input_ids.to(device, non_blocking=non_blocking),
                         self.labels.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> PairBatch:
        return PairBatch(self.input_ids.pin_memory(), self.labels.pin_memory())


def collate_pairs(examples: list[PairExample], pad_id: int, *, multiple: int = 1) -> PairBatch:
    """Pad ``B`` pairs into one batch of ``2B`` rows (chosen first), with labels on the completions only.

    The width is rounded up to a multiple of ``multiple`` tokens, so a compiled model sees few shapes.

    >>> batch = collate_pairs([PairExample([0, 5], [6, 9], [7, 8, 9])], pad_id=1)
    >>> batch.input_ids.tolist()
    [[0, 5, 6, 1], [0, 5, 7, 8]]
    >>> batch.labels.tolist()
    [[-100, 6, 9, -100], [-100, 7, 8, 9]]
    """
    if not examples:
        raise ValueError("collate_pairs needs at least one pair")
    rows = [(e.prompt_ids, e.chosen_ids) for e in examples] + [(e.prompt_ids, e.rejected_ids) for e in examples]
    if any(not prompt or not completion for prompt, completion in rows):
        raise ValueError("every pair needs a non-empty prompt and non-empty completions")
    width = -(-(max(len(p) + len(c) for p, c in rows) - 1) // multiple) * multiple
    # filled through numpy: assigning a list to an array slice is many times faster than torch.tensor(list)
    x = np.full((len(rows), width), pad_id, dtype=np.int64)
    y = np.full((len(rows), width), IGNORE, dtype=np.int64)
    for row, (prompt, completion) in enumerate(rows):
        n, k = len(prompt), len(completion)
        x[row, :n] = prompt  # inputs: the sequence without its last token
        x[row, n : n + k - 1] = completion[:-1]
        y[row, n - 1 : n + k - 1] = completion  # targets: the completion tokens, each one position earlier
    return PairBatch(torch.from_numpy(x), torch.from_numpy(y))


# which part of a packed row a token belongs to
SHARED, CHOSEN, REJECTED, PADDING = 0, 1, 2, -1


@dataclass
class PackedPairBatch:
    """``B`` pairs as ``B`` rows that hold the prompt once: ``[prompt | chosen | last prompt token | rejected]``.

    The rejected completion restarts from the prompt: it begins with a copy of the prompt's last token (at
    that token's position, so its output predicts the first rejected token) and its positions continue
    from the prompt's, as in an unpacked row. ``branch`` says which part each token is (``SHARED``,
    ``CHOSEN``, ``REJECTED``, ``PADDING``); :func:`packed_attention_mask` lets a token see the shared prompt
    and the earlier tokens of its own branch only, so each completion's log-probs equal an unpacked row's
    while the prompt is computed once instead of twice.
    """

    input_ids: Tensor  # [B, T]
    labels: Tensor  # [B, T]: chosen and rejected targets, IGNORE elsewhere
    positions: Tensor  # [B, T]: rotary positions
    branch: Tensor  # [B, T]

    def to(self, device, non_blocking: bool = False) -> PackedPairBatch:
        return PackedPairBatch(*(x.to(device, non_blocking=non_blocking) for x in
                                 (self.input_ids, self.labels, self.positions, self.branch)))

    def pin_memory(self) -> PackedPairBatch:
        return PackedPairBatch(*(x.pin_memory() for x in (self.input_ids, self.labels, self.positions, self.branch)))


def collate_packed_pairs(examples: list[PairExample], pad_id: int, *, multiple: int = 1) -> PackedPairBatch:
    """Pack each pair into one row (see :class:`PackedPairBatch`), right-padded to a multiple of ``multiple``.

    >>> batch = collate_packed_pairs([PairExample([0, 5], [6, 9], [7, 8, 9])], pad_id=1)
    >>> batch.input_ids.tolist(), batch.labels.tolist()
    ([[0, 5, 6, 5, 7, 8]], [[-100, 6, 9, 7, 8, 9]])
    >>> batch.positions.tolist(), batch.branch.tolist()
    ([[0, 1, 2, 1, 2, 3]], [[0, 1, 1, 2, 2, 2]])
    """
    if not examples:
        raise ValueError("collate_packed_pairs needs at least one pair")
    if any(not e.prompt_ids or not e.chosen_ids or not e.rejected_ids for e in examples):
        raise ValueError("every pair needs a non-empty prompt and non-empty completions")
    lengths = [len(e.prompt_ids) + len(e.chosen_ids) + len(e.rejected_ids) - 1 for e in examples]
    width = -(-max(lengths) // multiple) * multiple
    shape = (len(examples), width)
    x, y = np.full(shape, pad_id, dtype=np.int64), np.full(shape, IGNORE, dtype=np.int64)
    pos, branch = np.zeros(shape, dtype=np.int64), np.full(shape, PADDING, dtype=np.int64)
    for row, e in enumerate(examples):
        n, k, m = len(e.prompt_ids), len(e.chosen_ids), len(e.rejected_ids)
        r = n + k - 1  # where the rejected branch starts (with the prompt's last token again)
        x[row, :n] = e.prompt_ids
        x[row, n:r] = e.chosen_ids[:-1]
        x[row, r] = e.prompt_ids[-1]
        x[row, r + 1:r + m] = e.rejected_ids[:-1]
        y[row, n - 1:r] = e.chosen_ids
        y[row, r:r + m] = e.rejected_ids
        pos[row, :r] = np.arange(r)
        pos[row, r:r + m] = np.arange(n - 1, n + m - 1)
        branch[row, :n - 1] = SHARED
        branch[row, n - 1:r] = CHOSEN
        branch[row, r:r + m] = REJECTED
    return PackedPairBatch(*(torch.from_numpy(a) for a in (x, y, pos, branch)))


def packed_attention_mask(branch: Tensor, *, dense: bool | None = None):
    """Who may attend to whom in packed rows: earlier tokens that are shared or of the same branch.

    A FlexAttention ``BlockMask`` on CUDA (blocks between the two completions are skipped), otherwise
    (or with ``dense=True``) a boolean ``[B, 1, T, T]`` mask for ``scaled_dot_product_attention``.
    Padding attends to the prompt and to padding, so no row is empty.
    """
    rows, width = branch.shape
    if dense is None:
        dense = not branch.is_cuda
    if not dense:
        from torch.nn.attention.flex_attention import create_block_mask

        def mask_mod(b, h, q, kv):
            mine, theirs = branch[b, q], branch[b, kv]
            return (kv <= q) & ((theirs == SHARED) | (theirs == mine))

        return create_block_mask(mask_mod, rows, None, width, width, device=branch.device)
    index = torch.arange(width, device=branch.device)
    causal = index[None, :] <= index[:, None]
    visible = (branch[:, None, :] == SHARED) | (branch[:, None, :] == branch[:, :, None])
    return (causal & visible)[:, None]


class PairLogprobs(NamedTuple):
    """Per-pair completion log-probs (float32) from one forward over a :class:`PairBatch`."""

    chosen: Tensor  # [B] summed log-probs of the chosen completion tokens
    rejected: Tensor  # [B]
    chosen_tokens: Tensor  # [B] completion token counts (int64)
    rejected_tokens: Tensor  # [B]
    chosen_nll: Tensor  # scalar: mean NLL per chosen completion token over the batch (RPO's term)


def _is_native(model) -> bool:
    """Whether ``model`` (maybe compiled or wrapped in DDP) is our ``train.model.Transformer``."""
    from train.model import Transformer

    for _ in range(3):
        if isinstance(model, Transformer):
            return True
        model = getattr(model, "module", getattr(model, "_orig_mod", None))
    return False


def pair_logprobs(model, batch: PairBatch | PackedPairBatch) -> PairLogprobs:
    """Summed completion log-probs of the chosen and rejected rows, in one forward over all ``2B`` rows.

    ``model(input_ids)`` may return logits ``[2B, T, V]`` (``train.model.Transformer``) or an output with
    ``.logits`` (a ``transformers`` model). Right padding needs no attention mask under causal attention. The
    log-softmax is taken in float32, one row at a time. Call it under ``torch.no_grad()`` for the reference.

    >>> batch = collate_pairs([PairExample([0, 5], [6, 9], [7, 8, 9])], pad_id=1)
    >>> out = pair_logprobs(lambda ids: torch.zeros(*ids.shape, 10), batch)  # uniform: log(1/10) per token
    >>> out.chosen, out.rejected, out.rejected_tokens, out.chosen_nll
    (tensor([-4.6052]), tensor([-6.9078]), tensor([3]), tensor(2.3026))
    """
    mask = batch.labels != IGNORE
    if isinstance(batch, PackedPairBatch):
        if not _is_native(model):
            raise ValueError("packed pairs need rlvr's own model (train.model.Transformer), which takes "
                             "positions and an attention mask")
        per_token = -model(batch.input_ids, batch.labels, positions=batch.positions,
                           mask=packed_attention_mask(batch.branch), reduction="none")
        chosen_mask, rejected_mask = mask & (batch.branch == CHOSEN), mask & (batch.branch == REJECTED)
        chosen = torch.where(chosen_mask, per_token, 0.0).sum(-1)
        rejected = torch.where(rejected_mask, per_token, 0.0).sum(-1)
        chosen_tokens, rejected_tokens = chosen_mask.sum(-1), rejected_mask.sum(-1)
    else:
        if _is_native(model):  # our model returns per-token NLL itself: no float32 logits leave the graph
            per_token = -model(batch.input_ids, batch.labels, reduction="none")
        else:
            out = model(batch.input_ids)
            logits = out if isinstance(out, Tensor) else out.logits
            per_token = torch.where(mask, token_logprobs(logits, batch.labels.clamp(min=0)), 0.0)
        chosen, rejected = per_token.sum(-1).chunk(2)
        chosen_tokens, rejected_tokens = mask.sum(-1).chunk(2)
    chosen_nll = -chosen.sum() / chosen_tokens.sum().clamp(min=1)
    return PairLogprobs(chosen, rejected, chosen_tokens, rejected_tokens, chosen_nll)


# the names before: DPO's log-probs are called logprobs, as GRPO's and the engine's are
PairLogps, pair_logps = PairLogprobs, pair_logprobs


class PreferenceLoss(NamedTuple):
    losses: Tensor  # [B] per pair; the batch loss is their mean
    chosen_rewards: Tensor  # [B] implicit rewards, detached
    rejected_rewards: Tensor  # [B]


def preference_loss(chosen_logprobs: Tensor, rejected_logprobs: Tensor, ref_chosen_logprobs: Tensor | None = None,
                    ref_rejected_logprobs: Tensor | None = None, *, loss_type: LossType = "sigmoid",
                    beta: float = 0.1, label_smoothing: float = 0.0, gamma: float = 0.5,
                    chosen_tokens: Tensor | None = None, rejected_tokens: Tensor | None = None) -> PreferenceLoss:
    """The per-pair loss ``loss_type`` (see the module docstring) and the implicit rewards.

    All inputs are ``[B]``: completion log-probs summed over tokens, of the policy (with grad) and of the
    reference (``None`` for the reference-free ``simpo``, which ignores them if given). ``chosen_tokens`` and
    ``rejected_tokens`` are the completion lengths, needed by ``ipo`` and ``simpo``. ``label_smoothing`` (cDPO's
    probability that a label is flipped, in [0, 0.5)) applies to ``sigmoid`` and ``simpo``; ``gamma`` is
    SimPO's target margin.

    >>> c, r = torch.tensor([-5.0]), torch.tensor([-7.0])
    >>> preference_loss(c, r, torch.tensor([-6.0]), torch.tensor([-6.0]), beta=0.5).losses  # -logsigmoid(1)
    tensor([0.3133])
    >>> n = torch.tensor([2])
    >>> preference_loss(c, r, loss_type="simpo", beta=2.0, gamma=1.0, chosen_tokens=n, rejected_tokens=n).losses
    tensor([0.3133])
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {loss_type!r}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5), got {label_smoothing}")
    if label_smoothing and loss_type not in ("sigmoid", "simpo"):
        raise ValueError(f"label_smoothing applies to the sigmoid and simpo losses, not {loss_type!r}")

    def lengths() -> tuple[Tensor, Tensor]:
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError(f"loss_type={loss_type!r} needs chosen_tokens and rejected_tokens")
        dtype = chosen_logprobs.dtype
        return chosen_tokens.to(dtype).clamp(min=1), rejected_tokens.to(dtype).clamp(min=1)

    def smoothed_sigmoid(z: Tensor) -> Tensor:
        losses = -F.logsigmoid(z)
        if label_smoothing:  # cDPO: the label is wrong with probability label_smoothing
            losses = (1 - label_smoothing) * losses - label_smoothing * F.logsigmoid(-z)
        return losses

    if loss_type == "simpo":
        n_chosen, n_rejected = lengths()
        chosen_avg, rejected_avg = chosen_logprobs / n_chosen, rejected_logprobs / n_rejected
        losses = smoothed_sigmoid(beta * (chosen_avg - rejected_avg) - gamma)
        return PreferenceLoss(losses, beta * chosen_avg.detach(), beta * rejected_avg.detach())

    if ref_chosen_logprobs is None or ref_rejected_logprobs is None:
        raise ValueError(f"loss_type={loss_type!r} needs the reference log-probs")
    chosen_ratio = chosen_logprobs - ref_chosen_logprobs
    rejected_ratio = rejected_logprobs - ref_rejected_logprobs
    if loss_type == "sigmoid":
        losses = smoothed_sigmoid(beta * (chosen_ratio - rejected_ratio))
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * (chosen_ratio - rejected_ratio))
    else:  # ipo, on per-token log-ratios as TRL computes it
        n_chosen, n_rejected = lengths()
        losses = (chosen_ratio / n_chosen - rejected_ratio / n_rejected - 1 / (2 * beta)) ** 2
    return PreferenceLoss(losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach())
