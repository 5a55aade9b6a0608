"""Evaluate a policy on a problem file: greedy accuracy and format, and optionally pass@k by sampling.

    python bench/eval_policy.py runs/pipeline-small/grpo/final runs/pipeline-small/data/test.jsonl --samples 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a run folder, checkpoint or Hugging Face folder")
    parser.add_argument("problems", help="JSONL/Parquet problems")
    parser.add_argument("--template", default="r1_zero", choices=["r1_zero", "plain"])
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--samples", type=int, default=0, help="also sample k per problem (pass@k)")
    parser.add_argument("--json", help="append the result to this JSONL file")
    args = parser.parse_args()

    import torch

    from train.evaluate import evaluate_with_samples
    from train.load import load_policy, load_problem_rows
    from train.template import TEMPLATES

    rows = load_problem_rows(args.problems)
    model, tokenizer = load_policy(args.model)
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    template = TEMPLATES[args.template]
    result = {"model": args.model, **evaluate_with_samples(model, tokenizer, rows, template=template,
                                                            max_new_tokens=args.max_new_tokens, samples=args.samples)}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
