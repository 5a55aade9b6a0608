"""Byte-level BPE trained on our own corpus, with every digit its own token.

Special tokens: ``<|bos|>``, ``<|eos|>``, ``<|pad|>`` (skipped when decoding) and the four format tags
``<think>``, ``</think>``, ``<answer>``, ``</answer>``, each always one token and kept in decoded text
so the format verifier sees them. Saved as ``tokenizer.json``, which ``transformers`` reads.

>>> tok = train_tokenizer(["Problem: 12 + 30\\nAnswer: <answer>42</answer>"] * 20, vocab_size=300)
>>> tok.decode(tok.encode("<answer>123</answer>"))
'<answer>123</answer>'
>>> [tok.decode([i]) for i in tok.encode("123")]
['1', '2', '3']
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as HFTokenizer

__all__ = ["FORMAT_TAGS", "SPECIAL_TOKENS", "Tokenizer", "train_tokenizer"]

SPECIAL_TOKENS = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>"}
FORMAT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# GPT-4-style splitting, except digits: one token each, so numbers are spelled digit by digit
SPLIT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


class Tokenizer:
    """A ``tokenizers.Tokenizer`` with the ids the trainer needs as attributes.

    ``specials`` names the BOS/EOS/PAD tokens (ours by default; a local checkpoint's own, see
    :meth:`from_folder`). A tokenizer without BOS has ``bos_id`` None and prepends nothing.
    """

    def __init__(self, hf: HFTokenizer, specials: dict[str, str | None] | None = None):
        self.hf = hf
        self.special_tokens = dict(SPECIAL_TOKENS if specials is None else specials)
        ids = {name: hf.token_to_id(token) if token else None for name, token in self.special_tokens.items()}
        ids.update({tag: hf.token_to_id(tag) for tag in FORMAT_TAGS})
        missing = [name for name, i in ids.items() if i is None and not (name == "bos" and specials is not None)]
        if missing:
            raise ValueError(f"tokenizer lacks the special tokens {missing}; train it with train_tokenizer() "
                             "or load a checkpoint's own with Tokenizer.from_folder()")
        self.bos_id, self.eos_id, self.pad_id = ids["bos"], ids["eos"], ids["pad"]
        self.answer_end_id = ids["</answer>"]
        self._ids = ids

    @classmethod
    def from_folder(cls, folder: str | Path) -> Tokenizer:
        """The tokenizer of a model folder: ours as saved, or a local Hugging Face checkpoint's own.

        For a foreign tokenizer, BOS/EOS/PAD come from ``tokenizer_config.json`` (else ``config.json``'s
        ids; PAD falls back to EOS) and the four format tags are added as whole tokens if missing (the
        model's embeddings then grow to match: see ``train.load.load_policy``).
        """
        import json

        folder = Path(folder)
        hf = HFTokenizer.from_file(str(folder / "tokenizer.json"))
        if all(hf.token_to_id(t) is not None for t in SPECIAL_TOKENS.values()):
            return cls(hf)

        def text(value):
            return value.get("content") if isinstance(value, dict) else value

        settings = {}
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            if (folder / name).exists():
                settings.update({k: text(v) for k, v in json.loads((folder / name).read_text()).items()
                                 if k in ("bos_token", "eos_token", "pad_token") and text(v)})
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
        for name in ("bos", "eos", "pad"):
            token_id = config.get(f"{name}_token_id")
            if f"{name}_token" not in settings and isinstance(token_id, int):
                settings[f"{name}_token"] = hf.id_to_token(token_id)
        if not settings.get("eos_token"):
            raise ValueError(f"{folder}: the tokenizer names no EOS token (tokenizer_config.json or config.json)")
        specials = {"bos": settings.get("bos_token"), "eos": settings["eos_token"],
                    "pad": settings.get("pad_token") or settings["eos_token"]}
        missing_tags = [tag for tag in FORMAT_TAGS if hf.token_to_id(tag) is None]
        hf.add_tokens([AddedToken(tag, normalized=False, special=False) for tag in missing_tags])
        return cls(hf, specials)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def special_ids(self) -> dict[str, int]:
        return dict(self._ids)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return ([self.bos_id] if bos and self.bos_id is not None else []) + ids + ([self.eos_id] if eos else [])

    def encode_batch(self, texts: list[str], *, bos: bool = False, eos: bool = False) -> list[list[int]]:
        head = [self.bos_id] if bos and self.bos_id is not None else []
        tail = [self.eos_id] if eos else []
        return [head + e.ids + tail for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self.hf.decode_batch(batch, skip_special_tokens=True)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.hf.save(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """From a ``tokenizer.json`` file or a folder holding one."""
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no tokenizer.json")
        return cls(HFTokenizer.from_file(str(path)))

    def to_transformers(self):
        """The same tokenizer as a ``transformers.PreTrainedTokenizerFast``."""
        from transformers import PreTrainedTokenizerFast

        names = self.special_tokens
        return PreTrainedTokenizerFast(tokenizer_object=self.hf, bos_token=names["bos"], eos_token=names["eos"],
                                       pad_token=names["pad"])

    def save_pretrained(self, folder: str | Path, *, chat_template: str | None = None) -> None:
        """Save as ``transformers`` reads it, with ``chat_template`` in ``tokenizer_config.json`` (where every
        version of transformers, TRL and vLLM finds it)."""
        hf = self.to_transformers()
        hf.chat_template = chat_template
        hf.save_pretrained(str(folder), save_jinja_files=False)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, *, min_frequency: int = 2) -> Tokenizer:
    """Train byte-level BPE on ``texts``; the vocabulary includes 256 bytes and the special tokens."""
    floor = 256 + len(SPECIAL_TOKENS) + len(FORMAT_TAGS)
    if vocab_size < floor:
        raise ValueError(f"vocab_size must be at least {floor} (bytes plus special tokens), got {vocab_size}")
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(FORMAT_TAGS), min_frequency=min_frequency, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS.values()), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    hf.train_from_iterator(texts, trainer=trainer)
    # format tags are whole tokens that survive decoding (not "special", which decode would drop)
    hf.add_tokens([AddedToken(tag, normalized=False, special=False) for tag in FORMAT_TAGS])
    # transformers and TRL encode with add_special_tokens=True: give them the BOS our models train with
    bos = SPECIAL_TOKENS["bos"]
    hf.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                      special_tokens=[(bos, hf.token_to_id(bos))])
    return Tokenizer(hf)
