"""``rlvr sandbox run FILE.py``: run one program in the sandbox from the shell.

The program's stdout and stderr are passed through; a status line goes to stderr; the exit code is
the program's, or 124 on timeout and 125 for other sandbox outcomes (memory, output limit, killed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a Python file isolated and bounded")
    run.add_argument("file", help="the Python program to run ('-' reads it from stdin)")
    run.add_argument("--stdin", metavar="FILE", help="file to feed the program on its stdin")
    run.add_argument("--timeout", type=float, default=5.0, help="wall-clock seconds (default 5)")
    run.add_argument("--memory-mb", type=int, default=512, help="memory beyond the interpreter (default 512)")
    run.add_argument("--max-output-bytes", type=int, default=1 << 20, help="cap on stdout and on stderr")
    run.add_argument("--max-processes", type=int, default=0, help="processes it may start (default 0)")
    run.add_argument("--json", action="store_true", help="print the whole result as JSON instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    except OSError as exc:
        print(f"rlvr sandbox: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"rlvr sandbox: {args.file}: not UTF-8 text", file=sys.stderr)
        return 2
    from sandbox import Sandbox

    try:
        with Sandbox(timeout_s=args.timeout, memory_mb=args.memory_mb, max_output_bytes=args.max_output_bytes,
                     max_processes=args.max_processes) as box:
            result = box.run(code, stdin=stdin)
            level = box.isolation["level"]
    except ValueError as exc:
        print(f"rlvr sandbox: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**result.__dict__, "isolation": level}))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        print(f"[rlvr sandbox] {result.status} (exit {result.returncode}) in {result.elapsed_s:.3f} s, "
              f"isolation {level}", file=sys.stderr)
    if result.status == "timeout":
        return 124
    if result.status in ("ok", "error"):
        return result.returncode or 0
    return 125


if __name__ == "__main__":
    sys.exit(main())
