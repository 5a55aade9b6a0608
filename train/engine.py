"""Batched sampling with a preallocated KV cache: the rollout engine of GRPO and evaluation.

Each prompt is prefilled once and its cache copied to the ``num_samples`` rows of its group. Prompts
are left-padded so that every row writes the same cache slot at each decode step; a row's own
positions start at zero after its padding, so results do not depend on the batch. The decode step
(model, sampling, bookkeeping) works on fixed shapes with the step counter on the device, so on a
GPU it is captured once per cache-length bucket as a CUDA graph and replayed; on CPU the same code
runs eagerly. Each sequence stops at EOS or ``</answer>``.

>>> import torch
>>> from train.model import PRESETS, Transformer
>>> from train.tokenizer import train_tokenizer
>>> tok = train_tokenizer(["2 + 3 = 5 <answer>5</answer>"] * 10, vocab_size=300)
>>> engine = Engine(Transformer(PRESETS["tiny"].__class__(vocab_size=300, hidden_size=32,
...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, intermediate_size=64)), tok)
>>> out = engine.generate(["2 + 3 ="], num_samples=2, max_new_tokens=4, temperature=0)
>>> len(out), out[0].token_ids == out[1].token_ids, len(out[0].logprobs) == len(out[0].token_ids)
(2, True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from train.model import KVCache, Transformer

__all__ = ["Engine", "Generation", "sample_tokens"]


@dataclass
class Generation:
    """One sampled completion of prompt ``prompt_index``."""

    prompt_index: int
    token_ids: list[int]
    text: str
    logprobs: list[float]  # of each sampled token under the temperature-scaled model distribution
    finish_reason: str  # "stop" (EOS or </answer>) or "length"


def sample_tokens(logits: Tensor, temperature: float, top_p: float = 1.0, top_k: int = 0) -> tuple[Tensor, Tensor]:
    """Sample one token per row; return ``(tokens, logprobs)``. ``temperature == 0`` is greedy.

    Log-probabilities are of the temperature-scaled distribution before top-k/top-p filtering
    (what GRPO's importance ratio uses). Sampling is an exponential race (``argmax p / E``, E ~
    Exp(1)), which needs no host synchronisation and can be captured in a CUDA graph.

    >>> tokens, logprobs = sample_tokens(torch.tensor([[0.0, 5.0, 1.0]]), temperature=0)
    >>> tokens.tolist()
    [1]
    """
    logits = logits.float()
    if temperature == 0:
        tokens = logits.argmax(-1)
        return tokens, F.log_softmax(logits, -1).gather(-1, tokens[:, None]).squeeze(-1)
    logits = logits / temperature
    logprobs = F.log_softmax(logits, -1)
    filtered = logits
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        filtered = filtered.masked_fill(filtered < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(filtered, dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(-1)
        # drop a token once the mass before it already reaches top_p (the first always stays)
        drop_sorted = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        filtered = filtered.masked_fill(drop, float("-inf"))
    probs = filtered.softmax(-1)
    tokens = (probs / torch.empty_like(probs).exponential_(1)).argmax(-1)
    return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)


class _Decoder:
    """Static buffers and the decode step for one batch shape; CUDA graphs per length bucket."""

    def __init__(self, engine: Engine, rows: int, max_len: int, sampling: tuple[float, float, int]):
        model, device = engine.model, engine.device
        self.model, self.sampling, self.rows, self.max_len = model, sampling, rows, max_len
        self.cache = KVCache(model.config, rows, max_len, device, engine.cache_dtype)
        self.tokens = torch.zeros(rows, dtype=torch.long, device=device)  # next input token per row
        self.t = torch.zeros(1, dtype=torch.long, device=device)  # cache slot written this step
        self.pad = torch.zeros(rows, dtype=torch.long, device=device)  # left padding per row
        self.step_index = torch.zeros(1, dtype=torch.long, device=device)  # column of out_tokens
        self.done = torch.zeros(rows, dtype=torch.bool, device=device)
        self.stop_ids = torch.tensor(engine.stop_ids, dtype=torch.long, device=device)
        self.pad_id = engine.tokenizer.pad_id
        self.out_tokens = torch.zeros(rows, max_len, dtype=torch.long, device=device)
        self.out_logprobs = torch.zeros(rows, max_len, dtype=torch.float32, device=device)
        self.positions = torch.arange(max_len, device=device)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.use_graphs = engine.cuda_graphs
        self.pool = None
        # compiling fuses the step's many small kernels (norms, rotary, sampling); the graph then
        # replays them without launch overhead
        self.compiled = torch.compile(self.step, dynamic=False, mode=engine.compile_mode) if engine.compile else None

    def step(self, length: int) -> None:
        """Feed ``tokens`` at slot ``t``, sample the next, record it; everything stays on the device."""
        keys = self.positions[:length]
        mask = (keys[None, :] >= self.pad[:, None]) & (keys[None, :] <= self.t)
        logits = self.model(self.tokens[:, None], positions=(self.t - self.pad)[:, None], mask=mask[:, None, None, :],
                            cache=self.cache, index=self.t, length=length)
        tokens, logprobs = sample_tokens(logits[:, -1], *self.sampling)
        tokens = torch.where(self.done, self.pad_id, tokens)
        self.out_tokens.index_copy_(1, self.step_index, tokens[:, None])
        self.out_logprobs.index_copy_(1, self.step_index, logprobs[:, None])
        self.done |= torch.isin(tokens, self.stop_ids)
        self.tokens.copy_(tokens)
        self.t += 1
        self.step_index += 1

    def run_step(self, length: int) -> None:
        if not self.use_graphs:
            return (self.compiled or self.step)(length)
        graph = self.graphs.get(length)
        if graph is None:
            graph = self._capture(length)
        graph.replay()

    def _capture(self, length: int) -> torch.cuda.CUDAGraph:
        # warm up on a side stream (required before capture), then restore the counters it moved; the
        # cache slot and output column it wrote are written again, identically, by the first replay
        saved = [x.clone() for x in (self.tokens, self.t, self.step_index, self.done)]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        step = self.compiled or self.step
        with torch.cuda.stream(stream):
            for _ in range(2):  # the first call compiles
                step(length)
                for x, old in zip((self.tokens, self.t, self.step_index, self.done), saved):
                    x.copy_(old)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            step(length)
        self.pool = graph.pool()
        self.graphs[length] = graph
        return graph


class Engine:
    """Generate completions for a batch of prompts with a native :class:`Transformer`.

    ``cuda_graphs`` and ``compile`` (``torch.compile`` of the decode step) default to True on CUDA. ``max_batch_size`` bounds the rows decoded together
    (prompts x samples); larger requests run in consecutive batches of whole groups.
    """

    def __init__(self, model: Transformer, tokenizer, *, max_batch_size: int = 512, cuda_graphs: bool | None = None,
                 compile: bool | None = None, length_bucket: int = 128, stop_ids: list[int] | None = None,
                 compile_mode: str | None = None):
        self.model = getattr(model, "_orig_mod", getattr(model, "module", model))
        if not isinstance(self.model, Transformer):
            raise TypeError(f"Engine needs a native train.model.Transformer, got {type(self.model).__name__}; "
                            "generate with a Hugging Face model's own generate() instead")
        self.tokenizer = tokenizer
        self.device = next(self.model.parameters()).device
        self.cuda_graphs = self.device.type == "cuda" if cuda_graphs is None else cuda_graphs
        self.compile = self.cuda_graphs if compile is None else compile
        self.compile_mode = compile_mode  # torch.compile's mode, e.g. "max-autotune-no-cudagraphs"
        # float32 weights on a GPU (a model being trained) decode under bf16 autocast, cache in bf16
        param_dtype = next(self.model.parameters()).dtype
        self.autocast = self.device.type == "cuda" and param_dtype == torch.float32
        self.cache_dtype = torch.bfloat16 if self.autocast else param_dtype
        self.max_batch_size = max_batch_size
        self.length_bucket = length_bucket
        # tokens that end a sequence; an empty list generates max_new_tokens always (benchmarks)
        self.stop_ids = [tokenizer.eos_id, tokenizer.answer_end_id] if stop_ids is None else list(stop_ids)
        self._decoders: dict[tuple, _Decoder] = {}

    def _decoder(self, rows: int, max_len: int, sampling: tuple) -> _Decoder:
        # one decoder (cache, buffers, graphs) per shape and sampling setting; reused across calls
        key = (rows, max_len, sampling)
        if key not in self._decoders:
            if len(self._decoders) >= 4:
                self._decoders.pop(next(iter(self._decoders)))
            self._decoders[key] = _Decoder(self, rows, max_len, sampling)
        return self._decoders[key]

    @torch.no_grad()
    def generate(self, prompts: list[str] | list[list[int]], *, num_samples: int = 1, max_new_tokens: int = 256,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 detokenize: bool = True) -> list[Generation]:
        """``num_samples`` completions per prompt, grouped by prompt: ``len(prompts) * num_samples``.

        ``detokenize=False`` leaves ``text`` empty (token ids only, as ``generate`` returns them).
        """
        if num_samples < 1 or max_new_tokens < 1:
            raise ValueError(f"num_samples and max_new_tokens must be at least 1, got {num_samples}, {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
            raise ValueError(f"bad sampling settings: temperature={temperature}, top_p={top_p}, top_k={top_k}")
        if prompts and isinstance(prompts[0], str):
            prompt_ids = self.tokenizer.encode_batch(list(prompts), bos=True)
        else:
            prompt_ids = [list(p) for p in prompts]
        if any(not p for p in prompt_ids):
            raise ValueError("empty prompt: every prompt needs at least one token")
        per_batch = max(1, self.max_batch_size // num_samples)
        out: list[Generation] = []
        was_training = self.model.training
        self.model.eval()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            for start in range(0, len(prompt_ids), per_batch):
                chunk = prompt_ids[start:start + per_batch]
                out += self._generate_batch(chunk, start, num_samples, max_new_tokens,
                                            (float(temperature), top_p, top_k), detokenize)
        self.model.train(was_training)
        return out

    def _generate_batch(self, prompt_ids, offset, num_samples, max_new_tokens, sampling,
                        detokenize) -> list[Generation]:
        model, device = self.model, self.device
        n_prompts, rows = len(prompt_ids), len(prompt_ids) * num_samples
        prompt_len = max(len(p) for p in prompt_ids)
        bucket = self.length_bucket
        max_len = -(-(prompt_len + max_new_tokens) // bucket) * bucket
        if prompt_len + max_new_tokens > model.config.max_position_embeddings:
            raise ValueError(f"prompt ({prompt_len} tokens) + max_new_tokens ({max_new_tokens}) exceeds the "
                             f"model's max_position_embeddings ({model.config.max_position_embeddings})")
        dec = self._decoder(rows, max_len, sampling)

        # prefill: each prompt once, left-padded, then its cache copied to its group's rows
        pads = torch.tensor([prompt_len - len(p) for p in prompt_ids], device=device)
        ids = torch.tensor([[self.tokenizer.pad_id] * (prompt_len - len(p)) + p for p in prompt_ids],
                           dtype=torch.long).to(device)  # one host-to-device copy
        keys = torch.arange(prompt_len, device=device)
        mask = (keys[None, None, :] <= keys[None, :, None]) & (keys[None, None, :] >= pads[:, None, None])
        mask |= torch.eye(prompt_len, dtype=torch.bool, device=device)  # pad queries see themselves: no NaN
        prefill = KVCache(model.config, n_prompts, prompt_len, device, dec.cache.dtype)
        logits = model(ids, positions=(keys[None, :] - pads[:, None]).clamp(min=0), mask=mask[:, None],
                       cache=prefill, index=keys, length=prompt_len)[:, -1]
        for full, once in zip(dec.cache.k + dec.cache.v, prefill.k + prefill.v):
            full[:, :, :prompt_len] = once.repeat_interleave(num_samples, dim=0)
        del prefill
        first, first_logprobs = sample_tokens(logits.repeat_interleave(num_samples, dim=0), *sampling)

        dec.pad.copy_(pads.repeat_interleave(num_samples))
        dec.tokens.copy_(first)
        dec.done.copy_(torch.isin(first, dec.stop_ids))
        dec.out_tokens[:, 0] = first
        dec.out_logprobs[:, 0] = first_logprobs
        dec.t.fill_(prompt_len)
        dec.step_index.fill_(1)
        for step in range(1, max_new_tokens):
            if step % 16 == 0 and self.stop_ids and bool(dec.done.all()):  # a host sync, so only now and then
                break
            t = prompt_len + step - 1  # slot written by this step
            dec.run_step(-(-(t + 1) // bucket) * bucket)
        return self._collect(dec, rows, offset, num_samples, max_new_tokens, detokenize)

    def _collect(self, dec: _Decoder, rows, offset, num_samples, max_new_tokens, detokenize) -> list[Generation]:
        tokens = dec.out_tokens[:rows, :max_new_tokens].tolist()
        logprobs = dec.out_logprobs[:rows, :max_new_tokens].tolist()
        stops = set(self.stop_ids)
        results, texts_ids = [], []
        for row in range(rows):
            ids = tokens[row]
            end = next((i + 1 for i, tok in enumerate(ids) if tok in stops), None)
            ids = ids if end is None else ids[:end]
            results.append((row, ids, logprobs[row][:len(ids)], "length" if end is None else "stop"))
            texts_ids.append(ids)
        texts = self.tokenizer.decode_batch(texts_ids) if detokenize else [""] * rows
        return [Generation(offset + row // num_samples, ids, text, lps, reason)
                for (row, ids, lps, reason), text in zip(results, texts)]
