"""A CPU proxy for the GRPO-over-SFT question of issue 7: does GRPO raise greedy held-out accuracy?

The tiny preset's budget on ``linear_equation`` difficulty 1 (3,413 distinct questions; the tiny preset's
own single-digit facts are too few to hold questions out): data with a quarter of the questions kept for
GRPO, pretraining 600 steps, SFT 150 steps (``rlvr pipeline`` machinery, kept in ``--out-dir`` and reused
by later runs), then one GRPO run from the SFT model with the flags after ``--``, and both models evaluated
greedily on the same 200 held-out questions.

    python bench/grpo_proxy.py -- --lr 5e-5 --max-steps 60
    python bench/grpo_proxy.py -- --lr 1e-4 --max-steps 60 --rewards accuracy --temperature 1.3
    python bench/grpo_proxy.py --out-dir runs/proxy-ws03 --overrides sft.worked_share=0.3 -- --max-steps 60
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="runs/grpo-proxy")
    parser.add_argument("--name", default="grpo", help="folder of this GRPO run inside --out-dir")
    parser.add_argument("--overrides", nargs="*", default=[], metavar="STAGE.FIELD=VALUE",
                        help="pipeline stage settings (e.g. sft.worked_share=0.3); --resume retrains what they change")
    parser.add_argument("grpo_flags", nargs=argparse.REMAINDER, help="after --: flags for rlvr grpo")
    args = parser.parse_args()
    flags = [f for f in args.grpo_flags if f != "--"]

    import train.pipeline as pipeline
    from train.cli import main as rlvr
    from train.evaluate import evaluate_policy
    from train.load import load_policy, load_problem_rows
    from train.template import PLAIN

    tiny = pipeline.PIPELINES["tiny"]
    pipeline.PIPELINES["tiny"] = dataclasses.replace(
        tiny, tasks="linear_equation", difficulty="1", n_problems=20000, rl_size=0.25, test_size=0.05,
        eval_problems=200, pretrain=dataclasses.replace(tiny.pretrain, max_steps=600),
        sft=dataclasses.replace(tiny.sft, max_steps=150),
        grpo=dataclasses.replace(tiny.grpo, max_steps=1))  # the pipeline's own GRPO stage: a token step, the run below counts
    out = Path(args.out_dir)
    # data, pretraining and SFT once (kept by --resume); no DPO or R1-Zero stage
    pipeline.pipeline(pipeline.PipelineConfig(preset="tiny", out_dir=str(out), dpo=False, r1_zero=False,
                                              progress=False, device="cpu", resume=True,
                                              overrides=args.overrides))
    run = out / args.name
    code = rlvr(["grpo", "--init-from", str(out / "sft" / "final"), "--problems", str(out / "data" / "rl.jsonl"),
                 "--template", "plain", "--eval-problems", "0", "--prompts-per-step", "16", "--num-generations", "8",
                 "--max-completion-length", "96", "--reward-workers", "1", "--out-dir", str(run), "--no-progress",
                 "--overwrite", "--device", "cpu", *flags])
    if code:
        sys.exit(code)
    test = load_problem_rows(out / "data" / "test.jsonl")
    result = {"grpo_flags": flags}
    for name, folder in (("sft", out / "sft" / "final"), (args.name, run / "final")):
        model, tokenizer = load_policy(folder)
        result[name] = evaluate_policy(model, tokenizer, test, template=PLAIN, max_new_tokens=96)["accuracy"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
