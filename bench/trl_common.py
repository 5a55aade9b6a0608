"""What the benches against TRL share: loading the exported model as TRL sees it, and a dataset."""

from __future__ import annotations

from pathlib import Path

import torch

from train.model import ModelConfig, preset


def workload_config(tiny: bool) -> ModelConfig:
    """The issues' workload model: Qwen2-shaped, 12 layers, 768 wide, 12 heads, MLP 3072, QKV bias, tied
    embeddings, vocab 4096 (116M parameters); or a tiny one for a CPU smoke run."""
    if tiny:
        return ModelConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=4, intermediate_size=128, qkv_bias=True)
    return preset("base", num_key_value_heads=12, intermediate_size=3072, qkv_bias=True)


def load_hf_model(folder: Path):
    """``(tokenizer, model)`` of an exported folder through transformers: bf16 on a GPU, float32 on the CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    try:  # transformers 5 names it dtype, 4.x torch_dtype
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=dtype)
    return tokenizer, model


def in_memory_dataset(records: list[dict], name: str):
    """A ``datasets.Dataset`` of ``records`` with a fixed fingerprint: datasets' content hashing (dill)
    fails on some Python 3.12 + pyarrow installs."""
    import datasets

    return datasets.Dataset(datasets.table.InMemoryTable.from_pylist(records), fingerprint=name)
