"""GPU check of ``--pack-pairs``: the compiled policy's log-probs and gradients from packed rows (FlexAttention)
against unpacked rows (cuDNN/SDPA attention), same model, same pairs, bf16 autocast as in training.

    python bench/dpo_pack_check.py            # GPU; on CPU it compares the dense-mask path, uncompiled
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.dpo_loss import PairExample, collate_packed_pairs, collate_pairs, pair_logps
from train.model import Transformer, preset


def main() -> None:
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    torch.manual_seed(0)
    model = Transformer(preset("base" if cuda else "tiny")).to(device)
    forward = torch.compile(model) if cuda else model
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)

    def tokens(low: int, high: int) -> list[int]:
        return torch.randint(10, vocab, (int(torch.randint(low, high, (1,), generator=g)),), generator=g).tolist()

    pairs = [PairExample(tokens(60, 140), tokens(150, 320), tokens(120, 300)) for _ in range(16)]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
    results = []
    for collate in (collate_pairs, collate_packed_pairs):
        model.zero_grad(set_to_none=True)
        with autocast:
            out = pair_logps(forward, collate(pairs, pad_id=0, multiple=8).to(device))
        (out.chosen.mean() - out.rejected.mean()).backward()
        grads = torch.cat([p.grad.flatten().float() for p in model.parameters()])
        results.append((out.chosen.detach().float(), out.rejected.detach().float(), grads))
    (c0, r0, g0), (c1, r1, g1) = results
    print(json.dumps({
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "mean_abs_logp": round(float(c0.abs().mean()), 2),
        "max_logp_diff_chosen": round(float((c0 - c1).abs().max()), 4),
        "max_logp_diff_rejected": round(float((r0 - r1).abs().max()), 4),
        "grad_cosine": round(float(torch.nn.functional.cosine_similarity(g0, g1, dim=0)), 6),
        "grad_rel_diff": round(float((g0 - g1).norm() / g0.norm()), 5)}))


if __name__ == "__main__":
    main()
