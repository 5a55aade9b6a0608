"""The README's screenshots of ``rlvr serve``, taken by Debian's chromium (Playwright) from a real run.

Serve a finished pipeline run (``make demo`` leaves ``runs/demo``) as ``rlvr serve`` does, ask Chat a
held-out question with its gold answer, let Compare draw a held-out problem, open Runs, and save
``docs/img/serve_chat.png``, ``serve_compare.png`` and ``serve_runs.png``.

Until the pipeline saves each stage's judged held-out completions (the format in ``train/web/runs.py``),
this script writes them for the run first, the same way: every stage's ``final/`` model, greedy, on
``data/test.jsonl``, judged by each problem's verifier. A stage that has them already is left alone.

    python docs/screenshots.py --run runs/demo --stage grpo
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.web.runs import COMPLETIONS_FILE  # noqa: E402


def write_completions(run: Path, template: str, max_new_tokens: int) -> None:
    from train.engine import Engine
    from train.load import load_policy
    from train.template import TEMPLATES, render_prompt
    from verifiers import check_format, judge
    from verifiers.problem import read_problem_rows

    problems = read_problem_rows(run / "data" / "test.jsonl")
    for final in sorted(run.glob("*/final")):
        out = final.parent / COMPLETIONS_FILE
        if out.exists():
            continue
        model, tokenizer = load_policy(final)
        prompts = [render_prompt(p["prompt"], TEMPLATES.get(template, template)) for p in problems]
        generations = Engine(model, tokenizer, compile=False).generate(prompts, max_new_tokens=max_new_tokens,
                                                                      temperature=0)
        think, think_end = tokenizer.special_ids()["<think>"], tokenizer.special_ids()["</think>"]
        rows = []
        for g in generations:
            ids = g.token_ids
            thought = None
            if think_end in ids:
                end = ids.index(think_end)
                start = ids.index(think) + 1 if think in ids[:end] else 0
                thought = end - start
            problem = problems[g.prompt_index]
            verdict = judge(g.text, problem)
            rows.append({"id": problem["id"], "task": problem["task"], "prompt": problem["prompt"],
                         "answer": problem["answer"], "completion": g.text, "sample": 0, "temperature": 0.0,
                         "tokens": len(ids), "thought_tokens": thought, "finish_reason": g.finish_reason, "status": verdict.status,
                         "reason": verdict.reason, "extracted": verdict.extracted,
                         "well_formed": check_format(g.text).ok})
        tmp = out.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tmp.replace(out)
        print(f"{out}: {len(rows)} judged completions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/demo", help="a finished pipeline run")
    parser.add_argument("--stage", default="grpo", help="the stage whose model Chat and Compare use")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from train.web.app import create_app
    from train.web.serve import ServeConfig, load_generator, trained_template
    from verifiers.problem import read_problem_rows

    run = Path(args.run)
    stage = str(run / args.stage)
    template = trained_template(stage) or "r1_zero"
    write_completions(run, template, max_new_tokens=64)
    problems = read_problem_rows(run / "data" / "test.jsonl")
    generator = load_generator(stage, ServeConfig(model=stage, device="cpu"))
    pairs = Path(args.out) / ".screenshot-prefs.jsonl"
    app = create_app(generator=generator, runs=run.parent, pairs_out=pairs, problems=problems, template=template)

    import socket
    import threading

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    out = Path(args.out)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
            page.goto(f"{url}/chat")
            for problem in problems[:2]:
                page.fill("#gold", problem["answer"])
                page.fill("#message", problem["prompt"])
                page.press("#message", "Enter")
                page.wait_for_function("() => [...document.querySelectorAll('.reply')].every("
                                       "r => r.dataset.state === 'done' || r.dataset.state === 'error')")
            page.click("details.think summary")  # the first reply's reasoning, unfolded
            page.screenshot(path=out / "serve_chat.png")
            page.goto(f"{url}/compare")
            page.fill("#who", "ana")
            page.wait_for_selector(".picks button:not([disabled])")
            page.check("#show-verdicts")
            page.screenshot(path=out / "serve_compare.png")
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.goto(f"{url}/runs#run={run.name}&stage={args.stage}&verdict=incorrect")
            page.wait_for_selector(".completion")
            page.select_option("#metric-stage", args.stage)
            page.wait_for_selector("#charts canvas")
            height = page.evaluate("() => document.documentElement.scrollHeight")
            page.screenshot(path=out / "serve_runs.png", full_page=True,
                            clip={"x": 0, "y": 0, "width": 1280, "height": min(height, 2400)})
            browser.close()
    finally:
        server.should_exit = True
        thread.join()
        pairs.unlink(missing_ok=True)
    print(f"screenshots in {out}: serve_chat.png, serve_compare.png, serve_runs.png")


if __name__ == "__main__":
    main()
