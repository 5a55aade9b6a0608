"""The engine bridge: concurrent chats decoded together, token by token, for the web app.

One worker thread owns the model. Requests join the running batch at any decode step and leave when
they stop, so a chat that arrives while others are answering starts at once (continuous batching)
instead of waiting for them. The cache layout is :class:`train.engine.Engine`'s: left-padded rows that
write the same cache slot ``t`` at each step, each row's own positions starting at zero after its
padding. A request joining at step ``t`` is prefilled into the slots just before ``t``; when it needs
more room before ``t``, or the rows that are left start late, the cache is shifted along the slot axis
(at joins only). Active rows are kept at the front, so a step decodes only them. Each row samples with
its own temperature, top-p and top-k.

Events (dicts) stream to an asyncio consumer: ``{"type": "start", "prompt_tokens"}``, then per token
``{"type": "token", "text": new text, "n": tokens so far}`` (with ``"thought": N`` on the ``</think>``
token: the tokens of reasoning before it), then ``{"type": "done", "text", "n", "thought", "finish":
"stop" | "length", "ttft", "seconds"}``; or ``{"type": "error", "error"}``.

>>> import asyncio, torch
>>> from train.model import ModelConfig, Transformer
>>> from train.tokenizer import train_tokenizer
>>> tok = train_tokenizer(["2 + 3 = 5 <answer>5</answer>"] * 10, vocab_size=300)
>>> torch.manual_seed(0) and None
>>> model = Transformer(ModelConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
...                                 num_key_value_heads=1, intermediate_size=64, max_position_embeddings=64))
>>> bridge = EngineBridge(model, tok, rows=4)
>>> async def chat():
...     return [event async for event in bridge.stream("2 + 3 =", Sampling(temperature=0, max_new_tokens=5))]
>>> events = asyncio.run(chat())
>>> [e["type"] for e in events][:2], events[-1]["type"], events[-1]["n"] <= 5
(['start', 'token'], 'done', True)
>>> bridge.close()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from train.model import KVCache, Transformer

__all__ = ["Busy", "EngineBridge", "RequestError", "Sampling", "sample_rows"]


@dataclass(frozen=True)
class Sampling:
    """How one request samples. ``temperature`` 0 is greedy; ``top_k`` 0 keeps every token."""

    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256


class RequestError(ValueError):
    """A request the generator refuses; the message says why (the app answers 400)."""


class Busy(RequestError):
    """Too many requests wait already (the app answers 429)."""


def sample_rows(logits: Tensor, temperature: Tensor, top_p: Tensor, top_k: Tensor) -> Tensor:
    """One token per row of ``logits`` [rows, vocab], each row with its own settings (tensors [rows]):
    temperature 0 is greedy; top-k first, then top-p on what top-k left, as ``train.engine.sample_tokens``.

    >>> logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    >>> sample_rows(logits, torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0, 1])).tolist()
    [1, 0]
    """
    logits = logits.float()
    vocab = logits.shape[-1]
    scaled = logits / temperature.clamp(min=1e-6)[:, None]
    sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
    ranks = torch.arange(vocab, device=logits.device)
    keep_k = torch.where(top_k > 0, top_k, vocab)
    sorted_logits = sorted_logits.masked_fill(ranks[None, :] >= keep_k[:, None], float("-inf"))
    probs = sorted_logits.softmax(-1)
    # drop a token once the mass before it already reaches top_p (the first always stays)
    sorted_logits = sorted_logits.masked_fill(probs.cumsum(-1) - probs >= top_p[:, None], float("-inf"))
    probs = sorted_logits.softmax(-1)
    choice = (probs / torch.empty_like(probs).exponential_(1)).argmax(-1)  # an exponential race, as the engine
    sampled = order.gather(-1, choice[:, None]).squeeze(-1)
    return torch.where(temperature == 0, logits.argmax(-1), sampled)


@dataclass(eq=False)
class _Job:
    prompt_ids: list[int]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue
    cancelled: bool = False
    ids: list[int] = field(default_factory=list)
    prefix: int = 0  # incremental detokenisation: text before ``read`` is sent; decode from ``prefix``
    read: int = 0
    think_from: int = 0  # tokens before the reasoning (up to and including a <think> token)
    thought: int | None = None
    started: float = field(default_factory=time.perf_counter)
    ttft: float | None = None


@dataclass
class _CacheView:
    """The first ``n`` rows of a :class:`KVCache` (views: the model writes through them)."""

    k: list[Tensor]
    v: list[Tensor]


class EngineBridge:
    """Stream completions of a native :class:`Transformer` to many concurrent requests, batched.

    ``rows``: sequences decoded together (more wait their turn, up to ``max_queue``). ``max_context``:
    the longest prompt + completion of one request (at most the model's positions). ``stop_ids``: tokens
    that end a completion (EOS and ``</answer>`` by default; an empty list never stops: benchmarks).
    """

    def __init__(self, model: Transformer, tokenizer, *, name: str = "model", rows: int = 8,
                 max_context: int = 2048, max_new_tokens: int = 1024, max_queue: int = 64,
                 stop_ids: list[int] | None = None):
        if rows < 1 or max_queue < 0 or max_new_tokens < 1:
            raise ValueError(f"rows, max_new_tokens must be positive and max_queue not negative, got {rows}, "
                             f"{max_new_tokens}, {max_queue}")
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.device = next(model.parameters()).device
        self.context = min(max_context, model.config.max_position_embeddings)
        self.max_new_tokens = min(max_new_tokens, self.context - 1)
        self.rows, self.max_queue = rows, max_queue
        self.stop_ids = {tokenizer.eos_id, tokenizer.answer_end_id} if stop_ids is None else set(stop_ids)
        tags = tokenizer.special_ids()
        self.think_id, self.think_end_id = tags["<think>"], tags["</think>"]
        # twice the longest request: after the rows that are left are moved to the start, any request fits
        # (a row that started at slot 0 spans less than max_context, so t <= max_context)
        self.slots = 2 * self.context
        dtype = next(model.parameters()).dtype
        self.cache = KVCache(model.config, rows, self.slots, self.device, dtype)
        self.active: list[_Job] = []  # row i of the cache is active[i]
        self.pads: list[int] = []  # first slot of each active row
        self.next_tokens: list[int] = []
        self.t = 0  # the cache slot the next decode step writes
        self.stats = {"steps": 0, "rows_decoded": 0, "max_rows": 0, "requests": 0}
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"engine-bridge-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the asyncio side
    def encode(self, prompt: str, sampling: Sampling) -> list[int]:
        """The prompt's token ids, checked against the limits; :class:`RequestError` saying which."""
        ids = self.tokenizer.encode(prompt, bos=True)
        if not ids:
            raise RequestError("empty prompt")
        if sampling.max_new_tokens > self.max_new_tokens:
            raise RequestError(f"max_tokens {sampling.max_new_tokens} is above this server's limit "
                               f"({self.max_new_tokens})")
        if len(ids) + sampling.max_new_tokens > self.context:
            raise RequestError(f"the prompt ({len(ids)} tokens) + max_tokens ({sampling.max_new_tokens}) exceeds "
                               f"the context of {self.context} tokens")
        with self._cond:  # free rows take requests at the next step; beyond them, max_queue may wait
            if len(self._pending) >= self.max_queue + self.rows - len(self.active):
                raise Busy(f"{len(self._pending)} requests are waiting already; try again shortly")
        return ids

    def stream(self, prompt: str, sampling: Sampling) -> AsyncIterator[dict]:
        """Events of one completion of ``prompt`` (see the module doc). Checks first: a bad request raises
        :class:`RequestError` here, before anything streams. Leaving the loop early cancels the request."""
        return self._events(self.encode(prompt, sampling), sampling)

    async def _events(self, ids: list[int], sampling: Sampling) -> AsyncIterator[dict]:
        job = _Job(ids, sampling, asyncio.get_running_loop(), asyncio.Queue())
        with self._cond:
            if self._closing:
                raise RequestError("the server is shutting down")
            self._pending.append(job)
            self._cond.notify()
        try:
            yield {"type": "start", "prompt_tokens": len(ids)}
            while True:
                event = await job.queue.get()
                yield event
                if event["type"] in ("done", "error"):
                    return
        finally:
            job.cancelled = True  # the worker frees its row at the next step

    def stop(self) -> None:
        """Ask the worker to stop after its current step (returns at once); running requests get an error."""
        with self._cond:
            self._closing = True
            self._cond.notify()

    def close(self) -> None:
        """:meth:`stop`, then wait for the worker to finish."""
        self.stop()
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ the worker thread
    def _send(self, job: _Job, event: dict) -> None:
        try:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, event)
        except RuntimeError:  # its event loop is gone
            job.cancelled = True

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._pending and not self.active and not self._closing:
                        self._cond.wait()
                    if self._closing:
                        break
                    joining = []
                    while self._pending and len(self.active) + len(joining) < self.rows:
                        joining.append(self._pending.popleft())
                try:
                    for job in joining:
                        if not job.cancelled:
                            self._join(job)
                    self._leave()
                    if self.active:
                        self._step()
                        self._leave()
                except Exception as exc:  # e.g. out of memory: fail the running requests, keep serving
                    for job in dict.fromkeys(self.active + joining):
                        self._send(job, {"type": "error", "error": f"generation failed: {exc}"})
                    self.active, self.pads, self.next_tokens = [], [], []
        with self._cond:
            for job in self.active + list(self._pending):
                self._send(job, {"type": "error", "error": "the server is shutting down"})
            self.active, self._pending = [], deque()

    def _shift(self, by: int) -> None:
        """Move the active rows' cache ``by`` slots along (left when negative); padding moves with it."""
        n, t = len(self.active), self.t
        for tensor in self.cache.k + self.cache.v:
            if by < 0:
                tensor[:n, :, :t + by] = tensor[:n, :, -by:t].clone()
            else:
                tensor[:n, :, by:t + by] = tensor[:n, :, :t].clone()
        self.pads = [p + by for p in self.pads]
        self.t += by

    def _join(self, job: _Job) -> None:
        """Prefill ``job``'s prompt into the next free row so that it ends just before slot ``t``."""
        model, ids = self.model, job.prompt_ids
        length = len(ids)
        if not self.active:
            self.t = 0
        elif min(self.pads) > 0:
            self._shift(-min(self.pads))  # drop the slots no active row reads any more
        if length > self.t:
            self._shift(length - self.t)  # room before t for the prompt
        row = len(self.active)
        prefill = KVCache(model.config, 1, length, self.device, self.cache.dtype)
        positions = torch.arange(length, device=self.device)
        causal = torch.ones(length, length, dtype=torch.bool, device=self.device).tril()
        logits = model(torch.tensor([ids], device=self.device), positions=positions[None], mask=causal[None, None],
                       cache=prefill, index=positions, length=length)[:, -1]
        for full, once in zip(self.cache.k + self.cache.v, prefill.k + prefill.v):
            full[row, :, self.t - length:self.t] = once[0]
        self.active.append(job)
        self.pads.append(self.t - length)
        self.next_tokens.append(0)
        self.stats["requests"] += 1
        self._take(row, self._sample([job], logits)[0])

    def _sample(self, jobs: list[_Job], logits: Tensor) -> list[int]:
        def column(values, dtype):
            return torch.tensor(values, dtype=dtype, device=self.device)

        s = [job.sampling for job in jobs]
        return sample_rows(logits, column([x.temperature for x in s], torch.float32),
                           column([x.top_p for x in s], torch.float32), column([x.top_k for x in s], torch.long)).tolist()

    def _step(self) -> None:
        """One decode step of every active row: feed its last token at slot ``t``, sample the next."""
        n, t = len(self.active), self.t
        pads = torch.tensor(self.pads, device=self.device)
        keys = torch.arange(t + 1, device=self.device)
        mask = keys[None, :] >= pads[:, None]  # a row reads its own slots, from its first to t
        view = _CacheView([k[:n] for k in self.cache.k], [v[:n] for v in self.cache.v])
        logits = self.model(torch.tensor(self.next_tokens, device=self.device)[:, None],
                            positions=(t - pads)[:, None], mask=mask[:, None, None, :], cache=view,
                            index=torch.tensor([t], device=self.device), length=t + 1)[:, -1]
        self.t += 1
        self.stats["steps"] += 1
        self.stats["rows_decoded"] += n
        self.stats["max_rows"] = max(self.stats["max_rows"], n)
        for row, token in enumerate(self._sample(self.active, logits)):
            self._take(row, token)

    def _take(self, row: int, token: int) -> None:
        """Record ``token`` as row ``row``'s next, stream it, and mark the job finished when it stops."""
        job = self.active[row]
        job.ids.append(token)
        self.next_tokens[row] = token
        n = len(job.ids)
        if job.ttft is None:
            job.ttft = time.perf_counter() - job.started
        event = {"type": "token", "text": self._delta(job), "n": n}
        if token == self.think_id and job.thought is None:
            job.think_from = n
        elif token == self.think_end_id and job.thought is None:
            job.thought = event["thought"] = n - 1 - job.think_from
        self._send(job, event)
        finish = "stop" if token in self.stop_ids else "length" if n >= job.sampling.max_new_tokens else None
        if finish:
            self._send(job, {"type": "done", "text": self.tokenizer.decode(job.ids), "n": n, "thought": job.thought,
                             "finish": finish, "ttft": round(job.ttft, 4),
                             "seconds": round(time.perf_counter() - job.started, 4)})
            job.cancelled = True  # its row is free

    def _delta(self, job: _Job) -> str:
        """The text the newest token adds; nothing while it ends inside a multi-byte character."""
        before = self.tokenizer.decode(job.ids[job.prefix:job.read])
        now = self.tokenizer.decode(job.ids[job.prefix:])
        if len(now) <= len(before) or now.endswith("\ufffd"):
            return ""
        job.prefix, job.read = job.read, len(job.ids)
        return now[len(before):]

    def _leave(self) -> None:
        """Free the rows of finished or cancelled jobs; the last active row moves into each gap."""
        for row in reversed(range(len(self.active))):
            if not self.active[row].cancelled:
                continue
            last = len(self.active) - 1
            if row != last:
                for tensor in self.cache.k + self.cache.v:
                    tensor[row, :, :self.t] = tensor[last, :, :self.t]
                self.active[row], self.pads[row], self.next_tokens[row] = (self.active[last], self.pads[last],
                                                                           self.next_tokens[last])
            self.active.pop()
            self.pads.pop()
            self.next_tokens.pop()
