"""``rlvr``: one command that dispatches to each package's own CLI.

Subcommands import their package only when used, so ``rlvr score`` never loads the trainer.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

COMMANDS = {
    "gen": "generate problems with gold answers (rlvr gen TASK --n N --out FILE)",
    "score": "verify completions against gold answers (rlvr score --math FILE.jsonl)",
    "check-data": "audit a problem set: golds, worked solutions, code tests, duplicates (rlvr check-data FILE)",
    "serve-rewards": "score completions over HTTP for trainers, OpenRLHF's protocol too (rlvr serve-rewards)",
    "sandbox": "run a program isolated and bounded (rlvr sandbox run FILE.py)",
    "pretrain": "train a model from scratch on generated text (rlvr pretrain --preset tiny)",
    "sft": "teach a model the <think>/<answer> format (rlvr sft --init-from RUN)",
    "grpo": "reinforcement learning with verifiable rewards (rlvr grpo --init-from RUN)",
    "prefs": "sample, judge and pair completions for DPO (rlvr prefs --init-from RUN --out prefs.jsonl)",
    "dpo": "preference optimisation on verifier-made or given pairs (rlvr dpo --init-from RUN)",
    "rm": "train a reward model on preference pairs (rlvr rm --init-from RUN --pairs prefs.jsonl)",
    "bon": "best-of-n: sample n, keep the best by a reward model or the verifiers, fine-tune (rlvr bon --init-from RUN)",
    "eval": "evaluate a model on a benchmark file, or score outputs made elsewhere (rlvr eval --model RUN --data FILE)",
    "pipeline": "the whole recipe with a report: data, pretrain, SFT, GRPO, DPO, R1-Zero (rlvr pipeline --preset tiny)",
    "serve": "a local web app: chat with a model, pick the better answer, browse runs (rlvr serve --model RUN)",
    "demo": "verify a built-in sample of model outputs and print a table",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="rlvr",
        description="rlvr: training language models with verifiable rewards.",
        epilog="commands:\n" + "\n".join(f"  {name:<13} {text}" for name, text in COMMANDS.items())
        + "\n\nrun 'rlvr COMMAND --help' for the options of one command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    rest = argv[1:]
    if args.command == "gen":
        from datagen.cli import main as gen

        return gen(rest)
    if args.command == "score":
        from verifiers.cli import main as score

        return score(rest)
    if args.command == "check-data":
        from datagen.audit import main as check_data

        return check_data(rest)
    if args.command == "serve-rewards":
        from verifiers.server import main as serve_rewards

        return serve_rewards(rest)
    if args.command == "sandbox":
        from sandbox.cli import main as sandbox

        return sandbox(rest)
    if args.command == "pretrain":
        from train.pretrain import main as pretrain

        return pretrain(rest)
    if args.command == "sft":
        from train.sft import main as sft

        return sft(rest)
    if args.command == "grpo":
        from train.grpo import main as grpo

        return grpo(rest)
    if args.command == "prefs":
        from train.prefs import main as prefs

        return prefs(rest)
    if args.command == "dpo":
        from train.dpo import main as dpo

        return dpo(rest)
    if args.command == "bon":
        from train.bon import main as bon

        return bon(rest)
    if args.command == "rm":
        from train.rm import main as rm

        return rm(rest)
    if args.command == "eval":
        from train.benchmark import main as evaluate

        return evaluate(rest)
    if args.command == "pipeline":
        from train.pipeline import main as pipeline

        return pipeline(rest)
    if args.command == "serve":
        from train.web.serve import main as serve

        return serve(rest)
    from train.demo import main as demo

    return demo(rest)


if __name__ == "__main__":
    sys.exit(main())
