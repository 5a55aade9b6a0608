"""``rlvr pretrain``: train a model from scratch on generated text.

The corpus is problems with their worked solutions rendered as plain documents (``datagen.to_corpus``),
or your own text (``--corpus file.txt``: documents separated by blank lines; or JSONL with a ``text``
field). A byte-level BPE with single-digit tokens is trained on it unless ``--tokenizer`` is given.
Documents are packed into fixed-length rows; 2% (chosen by hash) are held out for the loss.

    rlvr pretrain --preset tiny --n-problems 20000 --max-steps 300 --out-dir runs/tiny/pretrain
    torchrun --nproc-per-node 2 -m train.pretrain --preset base --out-dir runs/base/pretrain
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from train.config import run_stage
from train.data import PackedData, pack_documents
from train.dist import init_distributed
from train.loop import TrainConfig, train_loop
from train.model import PRESETS, Transformer, preset
from train.tokenizer import Tokenizer, train_tokenizer

__all__ = ["PretrainConfig", "main", "pretrain", "read_corpus"]


@dataclass
class PretrainConfig(TrainConfig):
    out_dir: str = field(default="runs/pretrain", metadata={"help": "run folder"})
    preset: str = field(default="tiny", metadata={"help": f"model size: {', '.join(PRESETS)}"})
    corpus: str | None = field(default=None, metadata={"help": "text/JSONL corpus instead of generated problems"})
    tasks: str = field(default="math", metadata={"help": "generated corpus: task, math, or TASK=W,..."})
    n_problems: int = field(default=20000, metadata={"help": "generated corpus: number of problems"})
    difficulty: str = field(default="1-10", metadata={"help": "generated corpus: levels, e.g. 1-3"})
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer.json to use instead of training one"})
    vocab_size: int | None = field(default=None, metadata={"help": "tokenizer/model vocabulary (default: preset's)"})
    seq_len: int = field(default=256, metadata={"help": "tokens per training row"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.seq_len < 8:
            raise ValueError(f"seq_len must be at least 8, got {self.seq_len}")
        limit = PRESETS[self.preset].max_position_embeddings
        if self.seq_len > limit:
            raise ValueError(f"seq_len {self.seq_len} exceeds the {self.preset} preset's "
                             f"max_position_embeddings ({limit})")


def read_corpus(path: str | Path) -> list[str]:
    """Documents of a ``.txt`` file (separated by blank lines) or a JSONL file with a ``text`` field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--corpus {path}: no such file")
    if path.suffix == ".jsonl":
        from verifiers.problem import read_jsonl

        docs = []
        for number, row in read_jsonl(path):
            if not isinstance(row.get("text"), str):
                raise ValueError(f"{path}:{number}: expected a 'text' string field")
            docs.append(row["text"])
    else:
        docs = [d.strip() for d in path.read_text(encoding="utf-8").split("\n\n") if d.strip()]
    if not docs:
        raise ValueError(f"--corpus {path}: no documents")
    return docs


def _held_out(doc: str) -> bool:
    return hashlib.sha256(doc.encode()).digest()[0] < 5  # about 2%


def pretrain(cfg: PretrainConfig) -> dict:
    """Run pretraining; returns the last metrics row. The model is in ``out_dir/final``."""
    info = init_distributed(cfg.device)
    if cfg.corpus:
        docs = read_corpus(cfg.corpus)
    else:
        from datagen.api import to_corpus
        from train.load import make_problem_rows

        docs = to_corpus(make_problem_rows(cfg.tasks, cfg.n_problems, cfg.seed, cfg.difficulty))
    model_config = preset(cfg.preset, **({"vocab_size": cfg.vocab_size} if cfg.vocab_size else {}))
    saved = Path(cfg.out_dir) / "tokenizer.json"
    if cfg.tokenizer:
        tokenizer = Tokenizer.load(cfg.tokenizer)
    elif cfg.resume and saved.exists():
        tokenizer = Tokenizer.load(saved)
    else:
        tokenizer = train_tokenizer(docs, model_config.vocab_size)  # deterministic: same on every rank
    if tokenizer.vocab_size > model_config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{model_config.vocab_size}; pass --vocab-size {tokenizer.vocab_size} or more")
    train_docs = [d for d in docs if not _held_out(d)]
    val_docs = [d for d in docs if _held_out(d)] or docs[:1]
    train_rows = pack_documents(tokenizer.encode_batch(train_docs), cfg.seq_len, bos_id=tokenizer.bos_id,
                                eos_id=tokenizer.eos_id)
    val_ids = tokenizer.encode_batch(val_docs)  # with BOS and EOS, enough tokens for one row?
    val_rows = pack_documents(val_ids, cfg.seq_len, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id) \
        if sum(len(ids) + 2 for ids in val_ids) > cfg.seq_len else train_rows[:1]
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = Transformer(model_config).to(info.device)
    if info.is_main:
        print(f"pretrain: {model.num_parameters() / 1e6:.2f}M parameters, {len(train_rows):,} rows of "
              f"{cfg.seq_len} tokens ({len(train_rows) * cfg.seq_len:,} tokens), vocab {tokenizer.vocab_size}, "
              f"{info.world_size} process(es) on {info.device}")
    return train_loop(cfg, model=model, tokenizer=tokenizer, train_data=PackedData(train_rows),
                      val_data=PackedData(val_rows), info=info, stage="pretrain")


def main(argv: list[str] | None = None) -> int:
    return run_stage(PretrainConfig, pretrain, argv, prog="rlvr pretrain", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
