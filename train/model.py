"""The model: a decoder of the Llama / Qwen family in one readable file.

RMSNorm, rotary position embeddings, SwiGLU, grouped-query attention through
``scaled_dot_product_attention``, optional QK-norm (Qwen3), optional QKV bias (Qwen2), tied or untied
embeddings. Parameter names are those of Hugging Face's ``LlamaForCausalLM`` without the ``model.``
prefix, except that q/k/v and gate/up are fused into one matmul each (``qkv_proj``, ``gate_up_proj``:
fewer, larger kernels); ``train.hf`` joins and splits them, so Llama, Qwen2 and Qwen3 checkpoints load.

>>> import torch
>>> model = Transformer(PRESETS["tiny"])
>>> 0.5e6 < model.num_parameters() < 2e6
True
>>> model(torch.tensor([[1, 2, 3]])).shape
torch.Size([1, 3, 512])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from train.varlen import Varlen, varlen_attention

try:  # FlexAttention (torch 2.5+): block-sparse masks, used for packed preference pairs
    from torch.nn.attention.flex_attention import BlockMask, flex_attention
except ImportError:
    BlockMask = flex_attention = None

__all__ = ["PRESETS", "KVCache", "ModelConfig", "RewardModel", "Transformer", "preset"]


@dataclass
class ModelConfig:
    """Shape of the decoder. Names follow Hugging Face configs, so conversion is a copy."""

    vocab_size: int = field(default=4096, metadata={"help": "tokenizer vocabulary size"})
    hidden_size: int = field(default=768, metadata={"help": "model width"})
    num_hidden_layers: int = field(default=12, metadata={"help": "number of decoder blocks"})
    num_attention_heads: int = field(default=12, metadata={"help": "query heads"})
    num_key_value_heads: int = field(default=4, metadata={"help": "key/value heads (grouped-query attention)"})
    head_dim: int = field(default=0, metadata={"help": "width of one head; 0 means hidden_size / heads"})
    intermediate_size: int = field(default=3584, metadata={"help": "SwiGLU hidden width"})
    max_position_embeddings: int = field(default=2048, metadata={"help": "longest sequence"})
    rope_theta: float = field(default=10000.0, metadata={"help": "rotary base"})
    rms_norm_eps: float = field(default=1e-6, metadata={"help": "RMSNorm epsilon"})
    qk_norm: bool = field(default=False, metadata={"help": "RMSNorm on queries and keys per head (Qwen3)"})
    qkv_bias: bool = field(default=False, metadata={"help": "bias on the q, k, v projections (Qwen2)"})
    tie_word_embeddings: bool = field(default=True, metadata={"help": "share input and output embeddings"})

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "intermediate_size", "max_position_embeddings"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name} must be positive, got {getattr(self, name)}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads})")
        if not self.head_dim:
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(f"hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                                 f"({self.num_attention_heads}); set head_dim")
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for rotary embeddings, got {self.head_dim}")
        if self.qk_norm and self.qkv_bias:
            raise ValueError("qk_norm (Qwen3) and qkv_bias (Qwen2) cannot both be set: no Hugging Face "
                             "architecture has both, so the model could not be exported")

    @property
    def arch(self) -> str:
        """The Hugging Face family this shape exports to: ``qwen3``, ``qwen2`` or ``llama``."""
        return "qwen3" if self.qk_norm else "qwen2" if self.qkv_bias else "llama"

    def to_dict(self) -> dict:
        return asdict(self)


# About 1M, 25M and 120M parameters (tied embeddings). The tiny vocabulary suits a CPU run.
PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(vocab_size=512, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                        num_key_value_heads=2, intermediate_size=384, max_position_embeddings=1024),
    "small": ModelConfig(vocab_size=4096, hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
                         num_key_value_heads=4, intermediate_size=1536, max_position_embeddings=1024),
    "base": ModelConfig(vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        num_key_value_heads=4, intermediate_size=3584, max_position_embeddings=2048),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A preset's config with fields replaced, e.g. ``preset("tiny", vocab_size=1000)``."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # computed in float32 and cast back before the scale, exactly as Llama/Qwen do it
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_tables(head_dim: int, positions: Tensor, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin of shape [..., T, head_dim] for the given integer positions (float32)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim)
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    # "rotate half" convention of Llama/Qwen: pairs are (i, i + head_dim/2)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class KVCache:
    """Preallocated keys and values, one ``[batch, kv_heads, max_len, head_dim]`` tensor per layer.

    The engine writes position ``t`` of all rows at once (``index`` is a tensor, so the step can be
    captured in a CUDA graph) and reads only the first ``length`` positions. Each layer has its own
    tensor, not a view of one big one: a compiled step then writes in place, where an in-place write
    into a view would be functionalised into a copy of the whole cache.
    """

    def __init__(self, config: ModelConfig, batch: int, max_len: int, device, dtype):
        shape = (batch, config.num_key_value_heads, max_len, config.head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.num_hidden_layers)]
        self.max_len, self.batch, self.dtype = max_len, batch, dtype


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.n_heads, self.n_kv, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        # queries, keys and values in one matmul (Hugging Face keeps three: train.hf splits and joins)
        self.qkv_proj = nn.Linear(c.hidden_size, (c.num_attention_heads + 2 * c.num_key_value_heads) * c.head_dim,
                                  bias=c.qkv_bias)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=False)
        if c.qk_norm:
            self.q_norm = RMSNorm(c.head_dim, c.rms_norm_eps)
            self.k_norm = RMSNorm(c.head_dim, c.rms_norm_eps)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor | None,
                cache: tuple[Tensor, Tensor] | None, index: Tensor | None, length: int) -> Tensor:
        B, T, _ = x.shape
        q, k, v = self.qkv_proj(x).split([self.n_heads * self.head_dim, self.n_kv * self.head_dim,
                                          self.n_kv * self.head_dim], dim=-1)
        q = q.view(B, T, self.n_heads, self.head_dim)
        k = k.view(B, T, self.n_kv, self.head_dim)
        v = v.reshape(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q.transpose(1, 2), cos, sin)
        k = apply_rope(k.transpose(1, 2), cos, sin)
        if cache is not None:
            k_cache, v_cache = cache
            k_cache.index_copy_(2, index, k)
            v_cache.index_copy_(2, index, v)
            k, v = k_cache[:, :, :length], v_cache[:, :, :length]
            if T == 1:
                return self.o_proj(self._decode_attention(q, k, v, mask).reshape(B, 1, -1))
        if isinstance(mask, Varlen):  # padding-free documents in one row (B is 1): flash-attention's varlen kernel
            y = varlen_attention(q[0].transpose(0, 1), k[0].transpose(0, 1)[mask.kv_index],
                                 v[0].transpose(0, 1)[mask.kv_index], mask)
            return self.o_proj(y.reshape(B, T, -1))
        if BlockMask is not None and isinstance(mask, BlockMask):  # block-sparse (packed preference pairs)
            # contiguous inputs: compiled, the kernel otherwise misreads the layout the compiler picks for
            # the rotary kernels' output (seen on CPU with torch 2.13: wrong results, not an error)
            y = flex_attention(q.contiguous(), k.contiguous(), v.contiguous(), block_mask=mask,
                               enable_gqa=self.n_kv != self.n_heads)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and cache is None,
                                               enable_gqa=self.n_kv != self.n_heads)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))

    def read(self, x: Tensor, cos: Tensor, sin: Tensor, ends: Tensor) -> Tensor:
        """The attention output ``[B, hidden]`` at one position per row, ``ends`` (causal, positions 0..T-1):
        keys and values for every position, the query only where it is read. A reward model's last layer needs
        no more, and this skips the query, output and MLP work of every other position (about 7% of a 12-layer
        model's step)."""
        B, T, _ = x.shape
        width, kv_width = self.n_heads * self.head_dim, self.n_kv * self.head_dim
        weight, bias = self.qkv_proj.weight, self.qkv_proj.bias
        k, v = F.linear(x, weight[width:], None if bias is None else bias[width:]).split([kv_width, kv_width], -1)
        rows = torch.arange(B, device=x.device)
        q = F.linear(x[rows, ends], weight[:width], None if bias is None else bias[:width])
        q, k = q.view(B, 1, self.n_heads, self.head_dim), k.view(B, T, self.n_kv, self.head_dim)
        v = v.reshape(B, T, self.n_kv, self.head_dim).transpose(1, 2)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q = apply_rope(q.transpose(1, 2), cos[ends][:, None, None], sin[ends][:, None, None])
        k = apply_rope(k.transpose(1, 2), cos, sin)
        seen = (torch.arange(T, device=x.device) <= ends[:, None])[:, None, None]  # [B, 1, 1, T]: up to the end
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=seen, enable_gqa=self.n_kv != self.n_heads)
        return self.o_proj(y.reshape(B, -1))

    def _decode_attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        # One query per row: two batched matmuls with the query heads of a group stacked, so the
        # shared keys/values are read once and never repeated per head (a memory-bound step).
        B, group = q.shape[0], self.n_heads // self.n_kv
        q = q.reshape(B, self.n_kv, group, self.head_dim)
        from train.kernels import decode_attention

        fused = decode_attention(q, k, v, mask)  # the Triton kernel on CUDA; None elsewhere
        if fused is not None:
            return fused
        scores = (q @ k.transpose(-1, -2)).float() * self.head_dim ** -0.5
        scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1).to(v.dtype) @ v  # [B, kv_heads, group, head_dim]


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    checkpointed = False  # activation checkpointing: keep only the block's input, recompute the rest in the backward

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, mask, cache, index, length, read: Tensor | None = None):
        """The block's output ``[B, T, hidden]``; with ``read`` (one position per row, causal rows), only the
        output ``[B, hidden]`` at those positions (``Attention.read``: a reward model's last block)."""
        if read is not None:  # through forward, so wrappers' hooks (FSDP's gathering of weights) still run
            return self._read(x, cos, sin, read)
        if self.checkpointed and torch.is_grad_enabled():
            return checkpoint(self._forward, x, cos, sin, mask, cache, index, length, use_reentrant=False)
        return self._forward(x, cos, sin, mask, cache, index, length)

    def _forward(self, x, cos, sin, mask, cache, index, length):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, index, length)
        return x + self.mlp(self.post_attention_layernorm(x))

    def _read(self, x, cos, sin, ends):
        h = x[torch.arange(x.shape[0], device=x.device), ends] + self.self_attn.read(self.input_layernorm(x), cos,
                                                                                         sin, ends)
        return h + self.mlp(self.post_attention_layernorm(h))


class Transformer(nn.Module):
    """Decoder-only language model.

    ``forward(ids)`` is the training call: causal attention, positions 0..T-1, logits ``[B, T, V]``.
    With ``targets`` it returns the mean cross-entropy over targets that are not ``-100`` instead.
    The engine passes ``positions``, an attention ``mask`` and a ``KVCache`` with the write ``index``.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        # rotary cos/sin for every position, computed once: inside the compiled graph the trigonometry
        # would otherwise be recomputed in every layer's rotary kernel, forward and backward
        self._build_rope_tables(torch.device("cpu"))
        self.reset_parameters()

    def _build_rope_tables(self, device: torch.device) -> None:
        positions = torch.arange(self.config.max_position_embeddings, device=device)
        cos, sin = rope_tables(self.config.head_dim, positions, self.config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        # the tables stay float32 when the weights are cast (bf16 would blur the angles of far positions)
        if self.rope_cos.dtype != torch.float32:
            self._build_rope_tables(self.rope_cos.device)
        return self

    def reset_parameters(self) -> None:
        """Normal(0, 0.02) weights, output projections scaled down by depth (GPT-2), norms at one."""
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p) if name.endswith("norm.weight") else nn.init.zeros_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=std / math.sqrt(2 * self.config.num_hidden_layers))
            else:
                nn.init.normal_(p, std=std)

    def resize_vocab(self, vocab_size: int) -> None:
        """Grow the embeddings (and an untied head) to ``vocab_size`` rows; new rows start at the mean
        of the old ones, so added tokens (e.g. the format tags) begin as an average token."""
        old = self.config.vocab_size
        if vocab_size <= old:
            return
        embed = nn.Embedding(vocab_size, self.config.hidden_size).to(self.embed_tokens.weight)
        with torch.no_grad():
            embed.weight[:old] = self.embed_tokens.weight
            embed.weight[old:] = self.embed_tokens.weight.mean(0)
        self.embed_tokens = embed
        if not hasattr(self, "lm_head"):  # a reward model: no vocabulary head
            self.config.vocab_size = vocab_size
            return
        head = nn.Linear(self.config.hidden_size, vocab_size, bias=False).to(self.lm_head.weight)
        if self.config.tie_word_embeddings:
            head.weight = embed.weight
        else:
            with torch.no_grad():
                head.weight[:old] = self.lm_head.weight
                head.weight[old:] = self.lm_head.weight.mean(0)
        self.lm_head = head
        self.config.vocab_size = vocab_size

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward): 6N plus attention, as in the PaLM paper."""
        c = self.config
        attention = 12 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * seq_len
        return 6 * self._matmul_parameters() + attention

    def _matmul_parameters(self) -> int:
        # every parameter is a matmul weight except the input embedding (a lookup), unless it is tied
        c = self.config
        return self.num_parameters() - (0 if c.tie_word_embeddings else c.vocab_size * c.hidden_size)

    def hidden_states(self, input_ids: Tensor, *, positions: Tensor | None = None, mask: Tensor | None = None,
                      cache: KVCache | None = None, index: Tensor | None = None, length: int = 0,
                      read: Tensor | None = None) -> Tensor:
        """The final normed hidden states ``[B, T, hidden]``, which a head reads (``forward``'s arguments); with
        ``read`` (one position per causal row), only those positions' ``[B, hidden]``, the last block computed
        there alone (``Block.forward``)."""
        if positions is None:
            if input_ids.shape[1] > self.config.max_position_embeddings:
                raise ValueError(f"a sequence of {input_ids.shape[1]} tokens exceeds the model's "
                                 f"max_position_embeddings ({self.config.max_position_embeddings})")
            cos, sin = self.rope_cos[:input_ids.shape[1]], self.rope_sin[:input_ids.shape[1]]
        else:
            cos, sin = self.rope_cos[positions], self.rope_sin[positions]
        if cos.dim() == 3:  # per-row positions [B, T] -> broadcast over heads
            cos, sin = cos[:, None], sin[:, None]
        x = self.embed_tokens(input_ids)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            layer_cache = (cache.k[i], cache.v[i]) if cache is not None else None
            x = layer(x, cos, sin, mask, layer_cache, index, length, read=read if i == last else None)
        return self.norm(x)

    def forward(self, input_ids: Tensor, targets: Tensor | None = None, *, positions: Tensor | None = None,
                mask: Tensor | None = None, cache: KVCache | None = None, index: Tensor | None = None,
                length: int = 0, reduction: str = "mean") -> Tensor:
        x = self.hidden_states(input_ids, positions=positions, mask=mask, cache=cache, index=index, length=length)
        if targets is None:
            return self.lm_head(x)
        logits = self.lm_head(x).float()
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100,
                               reduction=reduction)
        # "none": each target's negative log-prob [B, T] (0 where ignored), without handing the caller the
        # float32 logits: compiled, the log-softmax and the gather fuse into the matmul's epilogue
        return loss.view(targets.shape) if reduction == "none" else loss


class RewardModel(Transformer):
    """The decoder with a scalar head in place of the vocabulary head: a reward model.

    A sequence's reward is the head's output at its last token, as in Hugging Face's
    ``LlamaForSequenceClassification`` with one label (TRL's reward models), which ``train.hf`` exports and
    loads. ``forward(ids, ends)`` returns float32 rewards read at the positions ``ends``: ``[B]`` for one per
    row, ``[B, k]`` for several per row (packed pairs); without ``ends``, at each row's last position.

    >>> model = RewardModel(PRESETS["tiny"])
    >>> ids = torch.tensor([[1, 2, 3], [4, 5, 0]])  # the second row is padded after position 1
    >>> model(ids, torch.tensor([2, 1])).shape
    torch.Size([2])
    >>> torch.allclose(model(ids, torch.tensor([2, 1]))[1], model(ids[1:, :2])[0], atol=1e-6)  # padding unseen
    True
    """

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        del self.lm_head  # tied, its weight lives on as the embedding
        self.score = nn.Linear(config.hidden_size, 1, bias=False)
        nn.init.normal_(self.score.weight, std=0.02)  # Hugging Face's initializer_range

    @classmethod
    def from_policy(cls, policy: Transformer) -> RewardModel:
        """A reward model with ``policy``'s body and a fresh head: how TRL starts one from a causal LM."""
        model = cls(replace(policy.config)).to(policy.embed_tokens.weight)
        body = {name: t for name, t in policy.state_dict().items() if not name.startswith("lm_head.")}
        missing, unexpected = model.load_state_dict(body, strict=False)
        assert missing == ["score.weight"] and not unexpected, (missing, unexpected)
        return model

    def _matmul_parameters(self) -> int:
        # the embedding is a lookup and no vocabulary projection follows it
        return self.num_parameters() - self.config.vocab_size * self.config.hidden_size

    def forward(self, input_ids: Tensor, ends: Tensor | None = None, *, positions: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        if ends is None:
            ends = torch.full(input_ids.shape[:1], input_ids.shape[1] - 1, device=input_ids.device)
        if positions is None and mask is None and ends.dim() == 1:  # causal rows, one reward each
            return self.score(self.hidden_states(input_ids, read=ends)).squeeze(-1).float()
        x = self.hidden_states(input_ids, positions=positions, mask=mask)
        rows = torch.arange(x.shape[0], device=x.device).view(-1, *[1] * (ends.dim() - 1))
        return self.score(x[rows, ends]).squeeze(-1).float()  # the head reads only the scored positions
