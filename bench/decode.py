"""Decode throughput: rlvr's engine against ``transformers`` ``generate`` on the same exported model.

One model (the ``base`` preset shape unless ``--preset`` says otherwise, random weights) is exported
with ``train.hf.export_hf``; ``transformers`` loads that folder, rlvr's engine loads it with
``train.hf.load_hf``. Both sample the same prompts (``--prompts`` of ``--prompt-len`` tokens) for
exactly ``--new-tokens`` new tokens (no early stop), temperature 1, no top-k/top-p, in bf16, in one
run: ``transformers`` with its default cache and with ``cache_implementation="static"``.

    python bench/decode.py                       # GPU: 256 prompts x 256 new tokens, base preset
    python bench/decode.py --preset tiny --prompts 8 --new-tokens 16   # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.engine import Engine  # noqa: E402
from train.hf import export_hf, load_hf  # noqa: E402
from train.model import Transformer, preset  # noqa: E402
from train.tokenizer import train_tokenizer  # noqa: E402


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_call(fn, repeats: int) -> float:
    fn()  # warm-up: CUDA graphs captured, kernels compiled
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="base")
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-static", action="store_true", help="skip transformers' static cache")
    parser.add_argument("--skip-hf", action="store_true", help="measure rlvr's engine only")
    parser.add_argument("--no-compile", action="store_true", help="CUDA graphs of the eager decode step")
    parser.add_argument("--length-bucket", type=int, default=128, help="KV-cache length granularity of the graphs")
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode of the decode step")
    parser.add_argument("--profile", action="store_true", help="print the top kernels of one engine call")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    tokenizer = train_tokenizer([f"{i} + {i * 7} = {i * 8} <answer>{i}</answer>" for i in range(2000)], vocab_size=600)
    folder = Path(tempfile.mkdtemp()) / "model"
    export_hf(Transformer(preset(args.preset)), folder, tokenizer)
    config = json.loads((folder / "config.json").read_text())
    vocab = config["vocab_size"]
    prompts = torch.randint(10, vocab, (args.prompts, args.prompt_len))
    new_tokens = args.prompts * args.new_tokens
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "preset": args.preset,
               "prompts": args.prompts, "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
               "dtype": str(dtype), "torch": torch.__version__}

    ours = load_hf(folder).to(device, dtype).eval()
    results["params_M"] = round(ours.num_parameters() / 1e6, 1)
    engine = Engine(ours, tokenizer, max_batch_size=args.prompts, stop_ids=[], length_bucket=args.length_bucket,
                    compile=False if args.no_compile else None, compile_mode=args.compile_mode)
    results["engine_compile"] = engine.compile
    results["length_bucket"], results["compile_mode"] = args.length_bucket, args.compile_mode
    ids = prompts.tolist()

    def run_ours():
        # token ids only, as generate() returns them (no detokenisation on either side)
        out = engine.generate(ids, max_new_tokens=args.new_tokens, temperature=1.0, detokenize=False)
        assert all(len(g.token_ids) == args.new_tokens for g in out)

    seconds = time_call(run_ours, args.repeats)
    results["rlvr_tokens_per_s"] = new_tokens / seconds
    if args.profile:  # where the GPU time of a (warm) generate call goes
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with profile(activities=activities) as prof:
            run_ours()
            sync()
        sort = "cuda_time_total" if device == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=160), flush=True)
    engine = ours = None  # free the GPU memory before transformers runs
    if args.skip_hf:
        print(json.dumps(results, indent=2))
        return

    import transformers

    results["transformers"] = transformers.__version__
    try:  # transformers 5 names it dtype, 4.x torch_dtype
        hf = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except TypeError:
        hf = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
    hf = hf.to(device).eval()
    inputs = prompts.to(device)
    mask = torch.ones_like(inputs)

    def run_hf(**extra):
        def call():
            with torch.no_grad():
                out = hf.generate(inputs, attention_mask=mask, max_new_tokens=args.new_tokens,
                                  min_new_tokens=args.new_tokens, do_sample=True, temperature=1.0, top_k=0,
                                  top_p=1.0, pad_token_id=0, **extra)
            assert out.shape[1] == args.prompt_len + args.new_tokens
        return call

    results["hf_default_tokens_per_s"] = new_tokens / time_call(run_hf(), args.repeats)
    if not args.skip_static:
        results["hf_static_tokens_per_s"] = new_tokens / time_call(run_hf(cache_implementation="static"), args.repeats)
    results["speedup_vs_default"] = results["rlvr_tokens_per_s"] / results["hf_default_tokens_per_s"]
    if "hf_static_tokens_per_s" in results:
        results["speedup_vs_static"] = results["rlvr_tokens_per_s"] / results["hf_static_tokens_per_s"]
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
