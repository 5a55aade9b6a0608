"""GPU check of the engine's Triton decode kernel against the portable attention path, same model and prompts.

Greedy decoding of a random ``--preset`` model in bf16 through both paths; prints how many tokens agree
and the largest log-prob difference over the steps where both paths still agree (bf16 rounding may
flip a near-tie, after which the continuations differ legitimately).

    python bench/decode_kernel_check.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train.kernels as kernels
from train.engine import Engine
from train.model import Transformer, preset
from train.tokenizer import train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = train_tokenizer([f"{i} + {i * 7} = {i * 8}" for i in range(2000)], vocab_size=600)
    model = Transformer(preset(args.preset)).cuda().to(torch.bfloat16).eval()
    lengths = torch.randint(4, 40, (args.prompts,)).tolist()  # ragged: left padding
    prompts = [torch.randint(10, 600, (n,)).tolist() for n in lengths]
    runs = {}
    for name in ("triton", "portable"):
        if name == "portable":
            kernels.decode_attention = lambda *a, **k: None
            torch._dynamo.reset()  # the compiled step must be traced again, without the kernel
        engine = Engine(model, tokenizer, max_batch_size=args.prompts, stop_ids=[])
        runs[name] = engine.generate(prompts, max_new_tokens=args.new_tokens, temperature=0.0, detokenize=False)
    agree = total = 0
    worst = 0.0
    for a, b in zip(runs["triton"], runs["portable"]):
        for i, (x, y) in enumerate(zip(a.token_ids, b.token_ids)):
            total += 1
            if x != y:
                break
            agree += 1
            worst = max(worst, abs(a.logprobs[i] - b.logprobs[i]))
    print(json.dumps({"tokens_compared": total, "agreeing_prefix_tokens": agree,
                      "max_logprob_diff_on_agreeing_prefix": round(worst, 4)}))


if __name__ == "__main__":
    main()
