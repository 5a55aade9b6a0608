"""``rlvr serve`` under load: time to first token and tokens/s for one chat and for concurrent chats.

The app runs as ``rlvr serve`` runs it (uvicorn on a loopback port, the engine bridge in its worker
thread); an HTTP client streams the chats (server-sent events) and times them. Every chat asks for
exactly ``--new-tokens`` tokens (no early stop) at temperature 1. In the same run, beside it:

- the same server with ``--batch-size 1``: chats decoded one at a time (what batching saves);
- ``transformers``' ``generate`` with a ``TextIteratorStreamer`` on the same weights (exported with
  ``train.hf.export_hf``): the usual way a Python chat demo streams, one chat at a time;
- ``train.engine.Engine.generate`` of the same chats in one batch, not streamed (no first token before
  the last): the throughput ceiling of the batch engine (CUDA graphs, compiled, on a GPU).

Model: a preset's shape with random weights (``--preset``, tiny on CPU, small on a GPU) and a small
trained tokenizer, or a trained model (``--model PATH``). Timings: the median of ``--repeats`` runs.

    python bench/serve.py                                     # CPU: tiny preset, 1 and 8 chats
    python bench/serve.py --device cuda --preset small        # one GPU
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.engine import Engine  # noqa: E402
from train.hf import export_hf  # noqa: E402
from train.model import Transformer, preset  # noqa: E402
from train.template import PLAIN, render_prompt  # noqa: E402
from train.tokenizer import train_tokenizer  # noqa: E402
from train.web.app import create_app  # noqa: E402
from train.web.bridge import EngineBridge  # noqa: E402

QUESTIONS = [f"What is {a} + {b}? Show the steps." for a, b in zip(range(101, 999, 37), range(7, 999, 53))]


class Server:
    """The app on a free loopback port, served by uvicorn in a thread (as ``rlvr serve`` serves it)."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()


async def one_chat(http, question: str, new_tokens: int) -> dict:
    body = {"message": question, "template": "plain", "temperature": 1.0, "max_tokens": new_tokens}
    start = time.perf_counter()
    first = None
    async with http.stream("POST", "/api/chat", json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "token" and first is None:
                first = time.perf_counter()
            elif event["type"] == "done":
                end = time.perf_counter()
                return {"ttft": first - start, "tokens": event["n"], "seconds": end - start,
                        "decode_rate": (event["n"] - 1) / max(end - first, 1e-9)}
            elif event["type"] == "error":
                raise RuntimeError(event["error"])
    raise RuntimeError("the stream ended without a done event")


def serve_round(url: str, chats: int, new_tokens: int) -> dict:
    import httpx

    async def main():
        async with httpx.AsyncClient(base_url=url, timeout=600) as http:
            start = time.perf_counter()
            results = await asyncio.gather(*[one_chat(http, QUESTIONS[i % len(QUESTIONS)], new_tokens)
                                             for i in range(chats)])
            return results, time.perf_counter() - start

    results, wall = asyncio.run(main())
    assert all(r["tokens"] == new_tokens for r in results), "every chat must make exactly --new-tokens tokens"
    return {"ttft": statistics.mean(r["ttft"] for r in results), "ttft_max": max(r["ttft"] for r in results),
            "per_chat": statistics.mean(r["decode_rate"] for r in results),
            "total": chats * new_tokens / wall, "wall": wall}


def hf_round(hf, tokenizer, chats: int, new_tokens: int, device) -> dict:
    """transformers' generate with a streamer: it serves one chat at a time, so with several chats sent at
    once, each waits for the ones before it (its first token counts from the start of the round)."""
    from transformers import TextIteratorStreamer

    fast = tokenizer.to_transformers()
    firsts, rates = [], []
    start = time.perf_counter()
    for i in range(chats):
        ids = torch.tensor([tokenizer.encode(render_prompt(QUESTIONS[i % len(QUESTIONS)], PLAIN), bos=True)],
                           device=device)
        streamer = TextIteratorStreamer(fast, skip_prompt=True)
        worker = threading.Thread(target=hf.generate, kwargs=dict(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, streamer=streamer,
            pad_token_id=tokenizer.pad_id))
        worker.start()
        first = None
        for _ in streamer:
            first = first or time.perf_counter()
        end = time.perf_counter()
        worker.join()
        firsts.append(first - start)
        rates.append((new_tokens - 1) / max(end - first, 1e-9))
    wall = time.perf_counter() - start
    return {"ttft": statistics.mean(firsts), "ttft_max": max(firsts), "per_chat": statistics.mean(rates),
            "total": chats * new_tokens / wall, "wall": wall}


def engine_round(engine: Engine, tokenizer, chats: int, new_tokens: int) -> dict:
    prompts = [render_prompt(QUESTIONS[i % len(QUESTIONS)], PLAIN) for i in range(chats)]
    if engine.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    engine.generate(prompts, max_new_tokens=new_tokens, temperature=1.0)
    if engine.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return {"ttft": wall, "ttft_max": wall, "per_chat": new_tokens / wall, "total": chats * new_tokens / wall,
            "wall": wall}


def median(rounds: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default=None, help="model shape (default: tiny on CPU, small on a GPU)")
    parser.add_argument("--model", default=None, help="a trained model instead (run, checkpoint or HF folder)")
    parser.add_argument("--chats", type=int, nargs="+", default=[1, 8], help="concurrent chats per round")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of torch (CPU runs)")
    parser.add_argument("--skip-hf", action="store_true", help="leave out transformers' streamer")
    parser.add_argument("--out", default=None, help="write the table here (default bench/results/serve_DEVICE.md)")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    if args.model:
        from train.load import load_policy

        model, tokenizer = load_policy(args.model)
        name = args.model
    else:
        name = args.preset or ("small" if device.type == "cuda" else "tiny")
        tokenizer = train_tokenizer([f"{q} {i} <think>{i}</think> <answer>{i}</answer>" for i, q in
                                     enumerate(QUESTIONS * 20)], vocab_size=512)
        model = Transformer(preset(name, vocab_size=tokenizer.vocab_size))
    model = model.to(device, dtype=dtype).eval()
    folder = Path(tempfile.mkdtemp()) / "model"
    export_hf(model, folder, tokenizer)
    params = sum(p.numel() for p in model.parameters())
    context = min(model.config.max_position_embeddings, 64 + args.new_tokens)
    rows = max(args.chats)

    table: dict[str, dict[int, dict]] = {}

    def measure(label: str, fn) -> None:
        for chats in args.chats:
            fn(chats)  # warm-up (CUDA graphs, compilation, allocator)
            table.setdefault(label, {})[chats] = median([fn(chats) for _ in range(args.repeats)])
            r = table[label][chats]
            print(f"{label:<44} {chats} chat(s): first token {r['ttft'] * 1000:8.1f} ms, "
                  f"{r['per_chat']:8.1f} tokens/s per chat, {r['total']:8.1f} tokens/s in all", flush=True)

    for label, batch in (("rlvr serve (batched)", rows), ("rlvr serve --batch-size 1 (one at a time)", 1)):
        bridge = EngineBridge(model, tokenizer, name=name, rows=batch, max_context=context,
                              max_new_tokens=args.new_tokens, stop_ids=[])
        server = Server(create_app(generator=bridge, template="plain"))
        measure(label, lambda chats, url=server.url: serve_round(url, chats, args.new_tokens))
        server.close()
    if not args.skip_hf:
        from transformers import AutoModelForCausalLM

        try:  # transformers 5 names it dtype, 4.x torch_dtype
            hf = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
        except TypeError:
            hf = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
        hf = hf.to(device).eval()
        measure("transformers generate + TextIteratorStreamer", lambda chats: hf_round(hf, tokenizer, chats,
                                                                                        args.new_tokens, device))
        del hf
    engine = Engine(model, tokenizer, stop_ids=[])
    measure("Engine.generate, one batch, not streamed", lambda chats: engine_round(engine, tokenizer, chats,
                                                                                   args.new_tokens))

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.machine()}, {args.threads} torch thread(s), os.cpu_count()={__import__('os').cpu_count()})"
    lines = [f"Command: `python bench/serve.py {' '.join(sys.argv[1:])}`".rstrip() + f" · date: "
             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} · torch {torch.__version__} · {where}",
             "", f"Model `{name}` ({params / 1e6:.2f}M parameters, {str(dtype).replace('torch.', '')}), "
             f"{args.new_tokens} new tokens per chat (no early stop), temperature 1; medians of {args.repeats} "
             "runs after a warm-up. The chats of a round are sent at once. First token: from sending to the first "
             "streamed token, mean over the chats and the last one (one at a time, a chat waits for those "
             "before it; not streamed, it is the whole batch's time). Per chat: tokens/s of one stream after "
             "its first token. In all: every chat's tokens / the round's wall time.", "",
             "| | chats | first token (ms) | last chat's first token (ms) | tokens/s per chat | tokens/s in all |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, by_chats in table.items():
        for chats, r in by_chats.items():
            lines.append(f"| {label} | {chats} | {r['ttft'] * 1000:.1f} | {r['ttft_max'] * 1000:.1f} | "
                         f"{r['per_chat']:.1f} | {r['total']:.1f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"serve_{device.type}.md"
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
