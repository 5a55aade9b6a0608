"""What the benches against TRL share: loading the exported model as TRL sees it, and a dataset."""

from __future__ import annotations

from pathlib import Path

import torch


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
