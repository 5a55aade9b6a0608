"""Preference pairs for a reward model: checked, tokenised and batched.

A row has TRL's columns: ``prompt``, ``chosen`` and ``rejected`` (what ``rlvr prefs`` writes), and optionally a
numeric ``margin`` (TRL's column, see ``train.rm_loss``). The prompt is rendered with the stage's template and
encoded with BOS, unless the row says ``"templated": True`` (``rlvr prefs`` pairs), when it is encoded as it is;
a row without a prompt (or with an empty one) is TRL's implicit-prompt form, whose sides are whole texts. Each
side is encoded without BOS and gets EOS, as in SFT and DPO. The reward is read at a sequence's last token that
is not padding (Hugging Face's rule), so a model exported with ``train.hf`` scores the same under transformers.

Bad rows are never dropped silently:

- a side or prompt that is not text (a number, None, a list of chat messages), or a missing side: ValueError
  naming the row; the file is not what we can read;
- a margin that is not a number, or a margin on some rows only: ValueError naming the row;
- an empty or blank side (``empty``), identical sides (``identical``: nothing to prefer), or a pair longer than
  ``max_length`` tokens on either side (``too_long``): skipped, and returned by reason with the rows they came
  from, for the stage to print and log.

>>> from train.tokenizer import train_tokenizer
>>> tok = train_tokenizer(["User: 1 + 1?\\nAssistant: <answer>2</answer>"] * 20, vocab_size=300)
>>> rows = [{"prompt": "1 + 1?", "chosen": " <answer>2</answer>", "rejected": " <answer>3</answer>"},
...         {"prompt": "1 + 1?", "chosen": " 2", "rejected": " 2"}, {"prompt": "1 + 1?", "chosen": "", "rejected": " 3"}]
>>> pairs, skipped = encode_reward_pairs(tok, rows, "plain", max_length=64)
>>> len(pairs), skipped
(1, {'identical': ['row 2'], 'empty': ['row 3']})
>>> batch = collate_reward_pairs(pairs, tok.pad_id)
>>> batch.input_ids.shape[0], batch.input_ids[0, batch.ends[0]].item() == tok.eos_id
(2, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from train.template import render_prompt, resolve_template
from train.varlen import Varlen

__all__ = ["SKIP_REASONS", "RewardBatch", "RewardPair", "collate_reward_pairs", "collate_sequences",
           "encode_reward_pairs", "pair_rewards"]

SKIP_REASONS = ("empty", "identical", "too_long")
SIDES = ("chosen", "rejected")


@dataclass
class RewardPair:
    """One tokenised pair: the shared prompt and the two completions."""

    prompt_ids: list[int]  # BOS + templated prompt (BOS alone for an implicit prompt)
    chosen_ids: list[int]  # completion tokens + EOS
    rejected_ids: list[int]
    margin: float | None = None  # TRL's optional margin column

    @property
    def length(self) -> int:
        """Tokens of the longer side (prompt included)."""
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


def _text(value, column: str, where: str, *, optional: bool = False) -> str:
    if isinstance(value, str):
        return value
    if value is None and optional:
        return ""
    if value is None:
        raise ValueError(f"{where}: {column!r} is missing (a pair needs prompt, chosen and rejected texts)")
    hint = ("; conversational pairs (lists of messages) are not supported: render them to text with the "
            "model's chat template first") if isinstance(value, (list, dict)) else ""
    raise ValueError(f"{where}: {column!r} must be text, got {type(value).__name__} {str(value)[:40]!r}{hint}")


def _margin(row: dict, where: str) -> float | None:
    value = row.get("margin")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: 'margin' must be a finite number, got {value!r}")
    return float(value)


def encode_reward_pairs(tokenizer, rows: Sequence[dict], template: str, max_length: int, *,
                        where: Sequence[str] | None = None) -> tuple[list[RewardPair], dict[str, list[str]]]:
    """Tokenised pairs and the rows skipped, by reason (see the module docstring), from rows with TRL's columns.

    ``template`` is a template's name in ``train.template.TEMPLATES`` or its text; ``where`` names each row in
    errors and in the skipped lists (default ``row 1``, ``row 2``...). Skipped rows keep their order; reasons
    appear only when some row has them.
    """
    template = resolve_template(template)[1]
    where = list(where) if where is not None else [f"row {i + 1}" for i in range(len(rows))]
    if len(where) != len(rows):
        raise ValueError(f"where names {len(where)} rows, but there are {len(rows)}")
    skipped: dict[str, list[str]] = {}
    kept: list[tuple[int, str, str, str, float | None]] = []  # (row, prompt text, chosen, rejected, margin)
    with_margin = None  # the first row's choice: every row must have a margin, or none
    for i, (row, name) in enumerate(zip(rows, where)):
        if not isinstance(row, dict):
            raise ValueError(f"{name}: expected an object with prompt, chosen and rejected, got {type(row).__name__}")
        prompt = _text(row.get("prompt"), "prompt", name, optional=True)
        chosen, rejected = (_text(row.get(side), side, name) for side in SIDES)
        margin = _margin(row, name)
        if with_margin is None:
            with_margin = margin is not None
        elif with_margin != (margin is not None):
            state = "no 'margin', but earlier rows have one" if with_margin else "a 'margin', but earlier rows have none"
            raise ValueError(f"{name}: {state}: give every pair a margin or none")
        if not chosen.strip() or not rejected.strip():
            skipped.setdefault("empty", []).append(name)
        elif chosen == rejected:
            skipped.setdefault("identical", []).append(name)
        else:
            if prompt and not row.get("templated"):
                prompt = render_prompt(prompt, template)
            kept.append((i, prompt, chosen, rejected, margin))
    prompt_ids = tokenizer.encode_batch([k[1] for k in kept], bos=True)
    chosen_ids = tokenizer.encode_batch([k[2] for k in kept], eos=True)
    rejected_ids = tokenizer.encode_batch([k[3] for k in kept], eos=True)
    pairs = []
    for (i, *_, margin), p, c, r in zip(kept, prompt_ids, chosen_ids, rejected_ids):
        pair = RewardPair(p, c, r, margin)
        if pair.length > max_length:
            skipped.setdefault("too_long", []).append(where[i])
        else:
            pairs.append(pair)
    return pairs, skipped


@dataclass
class RewardBatch:
    """``B`` pairs for one forward of the reward model.

    Unpacked: ``2B`` rows, the chosen sequences then the rejected ones, right-padded; ``ends`` ``[2B]`` holds the
    position each reward is read at. Packed (padding-free): one row ``[prompt | chosen | rejected]`` per pair, the
    pairs end to end, then a little padding; ``ends`` is ``[B, 2]`` (chosen, rejected) positions in that row,
    ``positions`` restart the rejected side where the chosen one started and ``docs`` (``train.varlen.Varlen``)
    makes each side a document of its own whose keys are the prompt's and its own, so each side scores as it would
    unpacked while the prompt is computed once and no padding is.
    """

    input_ids: Tensor
    ends: Tensor
    margin: Tensor | None = None  # [B] float32
    positions: Tensor | None = None
    docs: Varlen | None = None

    def _map(self, fn) -> RewardBatch:
        docs = None if self.docs is None else Varlen(*map(fn, self.docs[:3]), self.docs.max_len)
        return RewardBatch(*(None if x is None else fn(x) for x in (self.input_ids, self.ends, self.margin,
                                                                  self.positions)), docs)

    def to(self, device, non_blocking: bool = False) -> RewardBatch:
        return self._map(lambda x: x.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> RewardBatch:
        return self._map(lambda x: x.pin_memory())


def _scored(ids: list[int], pad_id: int) -> int:
    """Index of the last token of ``ids`` that is not ``pad_id`` (Hugging Face's rule for the pooled token)."""
    end = len(ids) - 1
    while end > 0 and ids[end] == pad_id:
        end -= 1
    return end


def collate_sequences(sequences: Sequence[list[int]], pad_id: int, *, multiple: int = 1) -> tuple[Tensor, Tensor]:
    """Right-padded rows ``[N, T]`` and the position ``[N]`` each row's reward is read at.

    >>> collate_sequences([[0, 5, 2], [0, 2]], pad_id=1, multiple=4)
    (tensor([[0, 5, 2, 1],
            [0, 2, 1, 1]]), tensor([2, 1]))
    """
    width = -(-max(map(len, sequences)) // multiple) * multiple
    x = np.full((len(sequences), width), pad_id, dtype=np.int64)
    for k, ids in enumerate(sequences):
        x[k, :len(ids)] = ids
    return torch.from_numpy(x), torch.tensor([_scored(ids, pad_id) for ids in sequences])


def collate_reward_pairs(pairs: Sequence[RewardPair], pad_id: int, *, multiple: int = 1,
                         pack: bool = False) -> RewardBatch:
    """Pad ``pairs`` into one :class:`RewardBatch`: unpacked, or with ``pack`` all in one padding-free row; the
    width (packed: the row's length, by a padding document of at least one token) is rounded up to a multiple of
    ``multiple`` tokens so a compiled model sees few shapes.

    >>> pair = RewardPair([0, 5], [6, 9], [7, 8, 9])
    >>> batch = collate_reward_pairs([pair], pad_id=1)
    >>> batch.input_ids.tolist(), batch.ends.tolist()
    ([[0, 5, 6, 9, 1], [0, 5, 7, 8, 9]], [3, 4])
    >>> packed = collate_reward_pairs([pair, pair], pad_id=1, pack=True, multiple=8)
    >>> packed.input_ids.tolist(), packed.ends.tolist()
    ([[0, 5, 6, 9, 7, 8, 9, 0, 5, 6, 9, 7, 8, 9, 1, 1]], [[3, 6], [10, 13]])
    >>> packed.positions.tolist()
    [[0, 1, 2, 3, 2, 3, 4, 0, 1, 2, 3, 2, 3, 4, 0, 0]]
    >>> packed.docs.cu_q.tolist(), packed.docs.cu_k.tolist()  # chosen, rejected, chosen, rejected, padding
    ([0, 4, 7, 11, 14, 16], [0, 4, 9, 13, 18, 20])
    >>> packed.docs.kv_index.tolist()[4:9]  # the rejected side reads the prompt's keys, then its own
    [0, 1, 4, 5, 6]
    """
    if not pairs:
        raise ValueError("collate_reward_pairs needs at least one pair")
    margins = [p.margin for p in pairs]
    if any(m is None for m in margins) and any(m is not None for m in margins):
        raise ValueError("every pair of a batch needs a margin, or none")
    margin = None if margins[0] is None else torch.tensor(margins, dtype=torch.float32)
    if not pack:
        rows = [p.prompt_ids + p.chosen_ids for p in pairs] + [p.prompt_ids + p.rejected_ids for p in pairs]
        return RewardBatch(*collate_sequences(rows, pad_id, multiple=multiple), margin)
    ids, positions, kv_index, ends = [], [], [], []
    q_lengths, k_lengths = [], []
    start = 0
    for p in pairs:
        n, k, m = len(p.prompt_ids), len(p.chosen_ids), len(p.rejected_ids)
        ids += p.prompt_ids + p.chosen_ids + p.rejected_ids
        positions += [*range(n + k), *range(n, n + m)]
        kv_index += [*range(start, start + n + k), *range(start, start + n), *range(start + n + k, start + n + k + m)]
        q_lengths += [n + k, m]
        k_lengths += [n + k, n + m]
        # the rejected side read as its own sequence: prompt + rejected, then placed after the chosen side
        rejected_end = _scored(p.prompt_ids + p.rejected_ids, pad_id)
        ends.append([start + _scored(p.prompt_ids + p.chosen_ids, pad_id),
                     start + rejected_end + (k if rejected_end >= n else 0)])
        start += n + k + m
    padding = -(-(start + 1) // multiple) * multiple - start  # its own document, so no side attends to it
    ids += [pad_id] * padding
    positions += [0] * padding  # any position will do: nothing reads the padding, and the row may be long
    kv_index += range(start, start + padding)
    q_lengths.append(padding)
    k_lengths.append(padding)
    longest = max(k_lengths)
    docs = Varlen(torch.tensor([0, *np.cumsum(q_lengths)], dtype=torch.int32),
                  torch.tensor([0, *np.cumsum(k_lengths)], dtype=torch.int32), torch.tensor(kv_index),
                  max_len=1 << (longest - 1).bit_length())  # a power of two: few values for the compiler
    return RewardBatch(torch.tensor([ids]), torch.tensor(ends), margin, torch.tensor([positions]), docs)


def pair_rewards(model, batch: RewardBatch) -> tuple[Tensor, Tensor]:
    """``(chosen, rejected)`` float32 rewards ``[B]`` of a batch, in one forward of a ``RewardModel`` (maybe
    compiled or wrapped in DDP)."""
    if batch.docs is None:
        return model(batch.input_ids, batch.ends).chunk(2)
    rewards = model(batch.input_ids, batch.ends, positions=batch.positions, mask=batch.docs)
    return rewards[:, 0], rewards[:, 1]
