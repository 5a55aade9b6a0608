"""``python -m train.memory``: what a training run holds per GPU under ``--parallel ddp`` and ``fsdp``, before launching.

    python -m train.memory --preset base --gpus 8 --gpu-gb 80
    python -m train.memory --model path/to/Qwen2.5-7B --gpus 8 --tokens 8192 --activation-checkpointing

Per GPU, for a model of ``N`` parameters on ``G`` GPUs (AdamW, bf16 compute on float32 master weights):

========================  ================  ==========================================================
                          ddp               fsdp
========================  ================  ==========================================================
parameters (fp32 master)  4N                4N / G
gradients (fp32)          4N                4N / G
AdamW moments (2 x fp32)  8N                8N / G
gathered bf16 weights     (none)            2 bytes x (root + 2 blocks): the block running and the next
gathered bf16 gradients   (none)            2 bytes x 1 block, before its reduce-scatter
rollout/eval copy (bf16)  (none)            2N: GRPO, iterative DPO and evaluation sample from it
activations               per token x tokens per micro-batch (estimate below), the same in both
========================  ================  ==========================================================

Activations are estimated from the tensors each decoder block keeps for its backward in bf16 (norm inputs and
their float32 statistics, the q/k/v, attention output, the SwiGLU's gate, up and product) plus the head's logits
(bf16, their float32 copy and the cross-entropy's softmax); with ``--activation-checkpointing`` a block keeps
only its input and one block's activations are recomputed at a time. Add a few GB for the CUDA context,
allocator fragmentation and the optimizer step's temporaries (``--reserve-gb``). Figures are estimates to choose
a layout with, not promises; measure with ``torch.cuda.max_memory_allocated`` (bench/fsdp.py does).

>>> from train.model import PRESETS
>>> plan = memory_plan(PRESETS["base"], gpus=8, parallel="fsdp", tokens=4096)
>>> round(plan["parameters"] * 8 / 4) == PRESETS_PARAMETERS["base"]
True
>>> memory_plan(PRESETS["base"], gpus=8, parallel="ddp", tokens=4096)["optimizer"] == 8 * PRESETS_PARAMETERS["base"]
True
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train.model import PRESETS, ModelConfig

__all__ = ["PRESETS_PARAMETERS", "activation_bytes_per_token", "count_parameters", "main", "memory_plan"]

GB = 1e9


def count_parameters(config: ModelConfig) -> int:
    """The parameters of ``train.model.Transformer(config)``, from its shape alone.

    >>> from train.model import Transformer
    >>> count_parameters(PRESETS["tiny"]) == Transformer(PRESETS["tiny"]).num_parameters()
    True
    """
    c = config
    q, kv = c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim
    attention = c.hidden_size * (q + 2 * kv) + q * c.hidden_size + (q + 2 * kv if c.qkv_bias else 0) \
        + (2 * c.head_dim if c.qk_norm else 0)
    block = attention + 3 * c.hidden_size * c.intermediate_size + 2 * c.hidden_size
    embeddings = c.vocab_size * c.hidden_size * (1 if c.tie_word_embeddings else 2)
    return c.num_hidden_layers * block + embeddings + c.hidden_size


PRESETS_PARAMETERS = {name: count_parameters(config) for name, config in PRESETS.items()}


def _block_parameters(config: ModelConfig) -> int:
    root = config.vocab_size * config.hidden_size * (1 if config.tie_word_embeddings else 2) + config.hidden_size
    return (count_parameters(config) - root) // config.num_hidden_layers


def activation_bytes_per_token(config: ModelConfig, *, checkpointing: bool = False) -> float:
    """Bytes of activations a training step keeps per token (bf16 compute), over all blocks and the head.

    >>> activation_bytes_per_token(PRESETS["base"], checkpointing=True) < activation_bytes_per_token(PRESETS["base"])
    True
    """
    c = config
    q, kv, h, inner = c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim, c.hidden_size, \
        c.intermediate_size
    # two norms (bf16 input + float32 copy), the qkv and o_proj inputs, q and k before and after rotary, v, the
    # attention output, the MLP input, gate and up, silu(gate) and the product
    block = 2 * (6 * h) + 2 * (h + q) + 2 * (q + kv) + 2 * (q + 2 * kv) + 2 * q + 2 * h + 2 * (4 * inner)
    head = 2 * c.vocab_size + 4 * c.vocab_size + 4 * c.vocab_size  # bf16 logits, float32 logits, softmax
    if checkpointing:  # each block keeps its input; one block's activations exist at a time, recomputed
        return c.num_hidden_layers * 2 * h + block + head
    return c.num_hidden_layers * block + head


def memory_plan(config: ModelConfig, *, gpus: int, parallel: str, tokens: int, checkpointing: bool = False,
                rollouts: bool = False) -> dict[str, float]:
    """Bytes per GPU of each part of a training run (keys as in the module's table) and their ``total``.

    ``tokens``: tokens per micro-batch per GPU (``batch_size x seq_len``). ``rollouts``: the stage samples from
    the policy (GRPO, iterative DPO, evaluation with generation), which under fsdp keeps a bf16 copy.
    """
    if parallel not in ("ddp", "fsdp"):
        raise ValueError(f"parallel must be ddp or fsdp, got {parallel!r}")
    if gpus < 1 or tokens < 0:
        raise ValueError(f"gpus must be at least 1 and tokens at least 0, got {gpus} and {tokens}")
    n = count_parameters(config)
    shards = gpus if parallel == "fsdp" and gpus > 1 else 1
    block = _block_parameters(config)
    plan = {"parameters": 4 * n / shards, "gradients": 4 * n / shards, "optimizer": 8 * n / shards,
            "gathered_weights": 0.0, "gathered_gradients": 0.0, "rollout_copy": 0.0,
            "activations": tokens * activation_bytes_per_token(config, checkpointing=checkpointing)}
    if shards > 1:
        plan["gathered_weights"] = 2 * ((count_parameters(config) - config.num_hidden_layers * block) + 2 * block)
        plan["gathered_gradients"] = 2 * block
        plan["rollout_copy"] = 2 * n if rollouts else 0.0
    plan["total"] = sum(plan.values())
    return plan


ROWS = (("parameters", "parameters (fp32 master)"), ("gradients", "gradients (fp32)"),
        ("optimizer", "AdamW moments (2 x fp32)"), ("gathered_weights", "gathered bf16 weights"),
        ("gathered_gradients", "gathered bf16 gradients"), ("rollout_copy", "rollout/eval copy (bf16)"),
        ("activations", "activations"), ("total", "total"))


def _read_config(path: str) -> ModelConfig:
    """A model's shape from a run folder, a checkpoint, a Hugging Face folder or a config.json."""
    from train.checkpoint import latest_checkpoint
    from train.hf import config_from_hf

    file = Path(path)
    if file.is_dir():
        if not (file / "config.json").exists() and latest_checkpoint(file) is not None:
            file = latest_checkpoint(file)
        file = file / "config.json"
    if not file.is_file():
        raise ValueError(f"--model {path}: no config.json there (a run, a checkpoint or a Hugging Face folder)")
    data = json.loads(file.read_text())
    return ModelConfig(**data["model"]) if "model" in data else config_from_hf(data)


def render(config: ModelConfig, *, gpus: int, gpu_gb: float, tokens: int, checkpointing: bool, rollouts: bool,
           reserve_gb: float) -> str:
    """The planner's table: each part per GPU under ddp and fsdp, and what fits."""
    n = count_parameters(config)
    plans = {p: memory_plan(config, gpus=gpus, parallel=p, tokens=tokens, checkpointing=checkpointing,
                            rollouts=rollouts) for p in ("ddp", "fsdp")}
    usable = (gpu_gb - reserve_gb) * GB
    lines = [f"{n / 1e9:.3f}B parameters ({config.num_hidden_layers} layers, hidden {config.hidden_size}, vocab "
             f"{config.vocab_size}); {gpus} GPU(s) of {gpu_gb:g} GB, {reserve_gb:g} GB kept back; {tokens:,} tokens "
             f"per micro-batch per GPU{', activation checkpointing' if checkpointing else ''}",
             "", f"{'per GPU, GB':<28}{'ddp':>10}{'fsdp':>10}"]
    for key, label in ROWS:
        lines.append(f"{label:<28}{plans['ddp'][key] / GB:>10.2f}{plans['fsdp'][key] / GB:>10.2f}")
    fits = {p: plans[p]["total"] <= usable for p in plans}
    lines.append(f"{'fits':<28}{'yes' if fits['ddp'] else 'NO':>10}{'yes' if fits['fsdp'] else 'NO':>10}")
    per_token = activation_bytes_per_token(config, checkpointing=checkpointing)
    room = {p: max(0, int((usable - plans[p]["total"] + plans[p]["activations"]) / per_token)) for p in plans}
    lines.append(f"{'tokens per micro-batch fit':<28}{room['ddp']:>10,}{room['fsdp']:>10,}")
    shards = gpus if gpus > 1 else 1
    lines.append(f"{'largest model (16 B/param)':<28}{usable / 16 / 1e9:>9.1f}B{usable * shards / 16 / 1e9:>9.1f}B"
                 "   weights, gradients and AdamW alone")
    lines.append("")
    full, kept = (activation_bytes_per_token(config, checkpointing=c) / 1e6 for c in (False, True))
    lines.append(f"activations per token: {full:.2f} MB ({kept:.2f} MB with --activation-checkpointing)")
    if rollouts:
        lines.append("fsdp keeps a bf16 copy of the whole model on each GPU for rollouts and evaluation: the model's "
                     "bf16 weights must fit one GPU")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.memory", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default="base", help="a model preset (default: base)")
    source.add_argument("--model", help="a run, checkpoint or Hugging Face folder (or its config.json)")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs the run shards over (default: 8)")
    parser.add_argument("--gpu-gb", type=float, default=80.0, help="memory of one GPU in GB (default: 80)")
    parser.add_argument("--tokens", type=int, default=8192,
                        help="tokens per micro-batch per GPU: batch_size x seq_len (default: 8192)")
    parser.add_argument("--activation-checkpointing", action="store_true", help="recompute block activations")
    parser.add_argument("--rollouts", action="store_true",
                        help="the stage samples from the policy (GRPO, iterative DPO): fsdp keeps a bf16 copy")
    parser.add_argument("--reserve-gb", type=float, default=4.0,
                        help="kept back for the CUDA context and fragmentation (default: 4)")
    args = parser.parse_args(argv)
    if args.gpus < 1 or args.tokens < 0 or args.gpu_gb <= args.reserve_gb:
        parser.error("--gpus must be at least 1, --tokens at least 0, and --gpu-gb above --reserve-gb")
    try:
        config = _read_config(args.model) if args.model else PRESETS[args.preset]
    except (ValueError, TypeError) as exc:
        print(f"python -m train.memory: {exc}", file=sys.stderr)
        return 2
    print(render(config, gpus=args.gpus, gpu_gb=args.gpu_gb, tokens=args.tokens,
                 checkpointing=args.activation_checkpointing, rollouts=args.rollouts, reserve_gb=args.reserve_gb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
