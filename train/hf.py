"""Hugging Face interop: load local Llama / Qwen2 / Qwen3 checkpoints natively, export ours.

Our parameter names are Hugging Face's without the ``model.`` prefix, with q/k/v and gate/up fused,
so conversion renames keys and joins or splits those matrices. A ``RewardModel`` is exported as, and loaded
from, ``LlamaForSequenceClassification`` (``Qwen2...``, ``Qwen3...``) with one label: the form of TRL's reward
models, its head named ``score`` on both sides. Any other causal LM loads through
:class:`GenericCausalLM`, a slower path that the training loop also accepts (it generates with its own
``generate``, not the engine). Nothing is ever downloaded: paths must be local folders.

>>> import tempfile
>>> from train.model import PRESETS, Transformer
>>> model = Transformer(PRESETS["tiny"])
>>> folder = tempfile.mkdtemp()
>>> _ = export_hf(model, folder)
>>> load_hf(folder).config == model.config
True
>>> from train.model import RewardModel
>>> _ = export_hf(RewardModel(PRESETS["tiny"]), folder)
>>> type(load_hf_reward_model(folder)).__name__
'RewardModel'
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from train.model import ModelConfig, RewardModel, Transformer

__all__ = ["GenericCausalLM", "config_from_hf", "config_to_hf", "export_hf", "is_reward_model", "load_hf",
           "load_hf_reward_model", "model_card", "write_model_card"]

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
# reward models: transformers' sequence classifiers with one label (Qwen3's since transformers 4.51)
REWARD_ARCHITECTURES = {"llama": "LlamaForSequenceClassification", "qwen2": "Qwen2ForSequenceClassification",
                        "qwen3": "Qwen3ForSequenceClassification"}


class UnsupportedCheckpoint(ValueError):
    """The checkpoint is not one the native model reproduces exactly (use ``GenericCausalLM``)."""


def _rope_theta(hf: dict) -> float:
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind != "default":
        raise UnsupportedCheckpoint(f"rope type {kind!r} is not implemented natively")
    return float(rope.get("rope_theta", hf.get("rope_theta", 10000.0)))


def config_from_hf(hf: dict) -> ModelConfig:
    """Our config for a Hugging Face ``config.json`` dict of a Llama, Qwen2 or Qwen3 model."""
    kind = hf.get("model_type")
    if kind not in ARCHITECTURES:
        raise UnsupportedCheckpoint(f"model_type {kind!r} has no native implementation "
                                    f"(native: {', '.join(ARCHITECTURES)})")
    if hf.get("hidden_act", "silu") != "silu":
        raise UnsupportedCheckpoint(f"activation {hf['hidden_act']!r} is not SwiGLU")
    if kind == "llama" and (hf.get("attention_bias") or hf.get("mlp_bias")):
        raise UnsupportedCheckpoint("Llama with attention_bias or mlp_bias is not implemented natively")
    if kind == "qwen3" and hf.get("attention_bias"):
        raise UnsupportedCheckpoint("Qwen3 with attention_bias is not implemented natively")
    if hf.get("use_sliding_window"):
        raise UnsupportedCheckpoint("sliding-window attention is not implemented natively")
    heads = hf["num_attention_heads"]
    return ModelConfig(
        vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"], num_hidden_layers=hf["num_hidden_layers"],
        num_attention_heads=heads, num_key_value_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // heads, intermediate_size=hf["intermediate_size"],
        max_position_embeddings=hf.get("max_position_embeddings", 2048), rope_theta=_rope_theta(hf),
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6), qk_norm=kind == "qwen3", qkv_bias=kind == "qwen2",
        tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )


def config_to_hf(config: ModelConfig, special_ids: dict[str, int] | None = None, *, reward: bool = False) -> dict:
    """The ``config.json`` that ``transformers`` reads back as the same architecture: the causal LM, or with
    ``reward`` the one-label sequence classifier (a reward model)."""
    ids = special_ids or {}
    labels = {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}} if reward else {}
    return {
        "architectures": [(REWARD_ARCHITECTURES if reward else ARCHITECTURES)[config.arch]],
        "model_type": config.arch,
        "vocab_size": config.vocab_size,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_position_embeddings,
        "rms_norm_eps": config.rms_norm_eps,
        # transformers 4.x reads rope_theta, 5.x rope_parameters
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "attention_bias": False,
        "tie_word_embeddings": config.tie_word_embeddings,
        "use_sliding_window": False,
        "torch_dtype": "float32",
        "bos_token_id": ids.get("bos"),
        "eos_token_id": ids.get("eos"),
        "pad_token_id": ids.get("pad"),
        **labels,
    }


def _read_weights(folder: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    if single.exists():
        return load_file(single)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        weights: dict[str, Tensor] = {}
        for shard in shards:
            weights.update(load_file(folder / shard))
        return weights
    if (folder / "pytorch_model.bin").exists():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def _fuse(state: dict[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """Hugging Face names -> ours: drop ``model.``, join q/k/v and gate/up."""
    state = {name.removeprefix("model."): t for name, t in state.items()}
    for i in range(config.num_hidden_layers):
        attn, mlp = f"layers.{i}.self_attn.", f"layers.{i}.mlp."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{attn}{p}_proj.{kind}", None) for p in "qkv"]
            if all(t is not None for t in parts):
                state[f"{attn}qkv_proj.{kind}"] = torch.cat(parts)
        parts = [state.pop(f"{mlp}{p}_proj.weight", None) for p in ("gate", "up")]
        if all(t is not None for t in parts):
            state[f"{mlp}gate_up_proj.weight"] = torch.cat(parts)
    return state


def _unfuse(state: dict[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """Ours -> Hugging Face names."""
    sizes = [config.num_attention_heads * config.head_dim] + [config.num_key_value_heads * config.head_dim] * 2
    out = {}
    for name, tensor in state.items():
        if ".qkv_proj." in name:
            for p, part in zip("qkv", tensor.split(sizes)):
                out[f"model.{name.replace('qkv_proj', f'{p}_proj')}"] = part
        elif ".gate_up_proj." in name:
            for p, part in zip(("gate", "up"), tensor.chunk(2)):
                out[f"model.{name.replace('gate_up_proj', f'{p}_proj')}"] = part
        else:
            out[name if name in ("lm_head.weight", "score.weight") else f"model.{name}"] = tensor
    return out


def is_reward_model(hf: dict) -> bool:
    """Whether a Hugging Face ``config.json`` dict describes a sequence classifier (a reward model)."""
    return any(str(a).endswith("ForSequenceClassification") for a in hf.get("architectures") or ())


def load_hf(path: str | Path, *, dtype: torch.dtype | None = None) -> Transformer:
    """A native model from a local Hugging Face folder of a Llama, Qwen2 or Qwen3 causal LM.

    Raises ``UnsupportedCheckpoint`` for other architectures; load those with ``GenericCausalLM``.
    """
    hf = _read_config(path)
    if is_reward_model(hf):
        raise UnsupportedCheckpoint(f"{path}: a reward model ({hf['architectures'][0]}), not a causal LM; load it "
                                    "with load_hf_reward_model")
    return _load_native(Path(path), Transformer, config_from_hf(hf), dtype)


def load_hf_reward_model(path: str | Path, *, dtype: torch.dtype | None = None) -> RewardModel:
    """A native ``RewardModel`` from a local Hugging Face folder of a one-label Llama, Qwen2 or Qwen3 sequence
    classifier (ours, or e.g. one TRL's ``RewardTrainer`` saved)."""
    hf = _read_config(path)
    if not is_reward_model(hf):
        raise UnsupportedCheckpoint(f"{path}: not a reward model (architectures {hf.get('architectures')}; "
                                    "expected one of " + ", ".join(REWARD_ARCHITECTURES.values()) + ")")
    labels = hf.get("num_labels") or len(hf.get("id2label") or {0: ""})
    if labels != 1:
        raise UnsupportedCheckpoint(f"{path}: a classifier with {labels} labels; a reward model has one")
    return _load_native(Path(path), RewardModel, config_from_hf(hf), dtype)


def _read_config(path: str | Path) -> dict:
    config_file = Path(path) / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{path}: not a Hugging Face model folder (no config.json)")
    return json.loads(config_file.read_text())


def _load_native(folder: Path, cls: type[Transformer], config: ModelConfig, dtype: torch.dtype | None):
    weights = _read_weights(folder)
    state = _fuse(weights, config)
    if config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    model = cls(config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    expected = {name for name in shapes if not (config.tie_word_embeddings and name == "lm_head.weight")}
    missing, unexpected = expected - state.keys(), state.keys() - expected
    unexpected = {k for k in unexpected if not k.endswith("rotary_emb.inv_freq")}
    if missing or unexpected:
        raise UnsupportedCheckpoint(f"{folder}: weights do not match a {config.arch} model: "
                                    f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    for name, tensor in state.items():
        if name in expected and tuple(tensor.shape) != shapes[name]:
            raise UnsupportedCheckpoint(f"{folder}: {name} has shape {tuple(tensor.shape)}, "
                                        f"config implies {shapes[name]}")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    return model.to(dtype) if dtype is not None else model


def export_hf(model: Transformer, folder: str | Path, tokenizer=None, *, dtype: torch.dtype | None = None,
              template: str | None = "r1_zero") -> Path:
    """Write ``model`` (and a ``train.tokenizer.Tokenizer``) as a folder ``from_pretrained`` loads: a causal LM,
    or for a ``RewardModel`` a sequence classifier (``AutoModelForSequenceClassification``). The tokenizer
    carries the chat template of the prompt ``template`` (a name or a text with ``{prompt}``; see
    ``train.template.chat_template``; None: no chat template)."""
    from safetensors.torch import save_file

    from train.template import chat_template

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "_orig_mod", getattr(model, "module", model))
    chat = None
    if tokenizer is not None and template is not None:
        chat = chat_template(template, bos=tokenizer.bos_id is not None)
    if isinstance(model, GenericCausalLM):  # the generic path keeps its own architecture and format
        state = None if dtype is None else {k: v.to(dtype) for k, v in model.hf.state_dict().items()}
        model.hf.save_pretrained(folder, state_dict=state)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder, chat_template=chat)
        return folder
    config = model.config
    ours = {name: t.detach().to("cpu", dtype or t.dtype) for name, t in model.state_dict().items()
            if not (config.tie_word_embeddings and name == "lm_head.weight")}
    state = {name: t.contiguous() for name, t in _unfuse(ours, config).items()}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    reward = isinstance(model, RewardModel)
    hf_config = config_to_hf(config, tokenizer.special_ids() if tokenizer is not None else None, reward=reward)
    if dtype is not None:
        hf_config["torch_dtype"] = str(dtype).removeprefix("torch.")
    (folder / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    if tokenizer is not None:
        tokenizer.save_pretrained(folder, chat_template=chat)
    if tokenizer is not None and not reward:  # a reward model does not generate
        ids = tokenizer.special_ids()
        generation = {"bos_token_id": ids["bos"], "eos_token_id": [ids["eos"], ids["</answer>"]],
                      "pad_token_id": ids["pad"]}
        (folder / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    return folder


def _value(value) -> str:
    """A setting or metric as a Markdown table cell."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _table(head: tuple[str, str], rows: dict) -> list[str]:
    return [f"| {head[0]} | {head[1]} |", "|---|---|", *(f"| `{k}` | {_value(v)} |" for k, v in rows.items())]


def _flat(row: dict, prefix: str = "") -> dict:
    """Nested dicts (``per_task``) as ``key/name`` entries; None left out."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}/"))
        elif value is not None:
            out[f"{prefix}{key}"] = value
    return out


def model_card(folder: str | Path, *, stage: str, settings: dict, metrics: dict, evaluation: dict | None = None
               ) -> str:
    """The ``README.md`` of an exported model: what it is, how to prompt it, the run's settings and results.

    ``settings`` are the stage's config (``config_to_dict``), ``metrics`` its last metrics row, ``evaluation``
    a held-out evaluation of the exported model (``rlvr pipeline``'s).
    """
    from train.template import resolve_template

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    template_name, template = resolve_template(settings.get("template", "r1_zero"))
    reward = is_reward_model(config)
    kind = "reward model (a sequence classifier: one score)" if reward else "causal language model"
    tags = ["rlvr", stage, "reinforcement-learning" if stage in ("grpo", "dpo", "r1_zero") else
            "reward-model" if reward else "text-generation"]
    start = settings.get("init_from") or "random initialisation"
    lines = ["---", "library_name: transformers", f"pipeline_tag: {'text-classification' if reward else 'text-generation'}",
             "tags:", *(f"- {t}" for t in dict.fromkeys(tags)), "---", "",
             f"# {folder.resolve().parent.name}: `rlvr {stage}`", "",
             f"A {config.get('model_type', '?')} {kind} ({config.get('num_hidden_layers', '?')} layers, "
             f"hidden size {config.get('hidden_size', '?')}, vocabulary {config.get('vocab_size', '?')}) trained by "
             f"the `{stage}` stage of rlvr (training with verifiable rewards) from {start}, "
             f"{settings.get('max_steps', '?')} steps.", "",
             "## Prompt", "",
             f"Trained on the `{template_name}` template; the tokenizer's chat template renders it, so "
             "`apply_chat_template` gives the model the sequences it was trained on:", "",
             "```python", f"from transformers import {'AutoModelForSequenceClassification' if reward else 'AutoModelForCausalLM'}"
             ", AutoTokenizer", "",
             f'tokenizer = AutoTokenizer.from_pretrained("{folder}")']
    if reward:
        lines += [f'model = AutoModelForSequenceClassification.from_pretrained("{folder}")',
                  'messages = [{"role": "user", "content": "What is 2 + 3?"},',
                  '            {"role": "assistant", "content": "<think>2 + 3 = 5</think> <answer>5</answer>"}]',
                  'inputs = tokenizer.apply_chat_template(messages, return_dict=True, return_tensors="pt")',
                  "print(model(**inputs).logits[0, 0].item())  # the answer's score"]
    else:
        lines += [f'model = AutoModelForCausalLM.from_pretrained("{folder}")',
                  'messages = [{"role": "user", "content": "What is 2 + 3?"}]',
                  "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,",
                  '                                       return_tensors="pt")',
                  "out = model.generate(**inputs, max_new_tokens=256)",
                  'print(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))']
    lines += ["```", "", "The prompt (`{prompt}` is the question):", "", "```text", template, "```", ""]
    if evaluation:
        lines += ["## Held-out evaluation", "", *_table(("metric", "value"), _flat(evaluation)), ""]
    lines += ["## Last training step", "", *_table(("metric", "value"), _flat(metrics)), "",
              "## Settings", "", *_table(("setting", "value"), settings), ""]
    return "\n".join(lines)


def write_model_card(folder: str | Path, **kwargs) -> Path:
    """Write :func:`model_card` (same arguments) to ``folder/README.md``."""
    path = Path(folder) / "README.md"
    path.write_text(model_card(folder, **kwargs))
    return path


class GenericCausalLM(nn.Module):
    """Any local ``AutoModelForCausalLM`` behind the native model's ``forward(ids, targets)`` call.

    The slower path for architectures we do not implement: ``train_loop`` trains it the same way and
    exports it with ``save_pretrained``; generate with ``model.hf.generate`` (the engine needs a native model).
    """

    def __init__(self, path: str | Path, *, dtype: torch.dtype | None = None):
        super().__init__()
        from transformers import AutoModelForCausalLM

        self.hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, local_files_only=True)
        self.config = self.hf.config

    def forward(self, input_ids: Tensor, targets: Tensor | None = None, **_) -> Tensor:
        logits = self.hf(input_ids=input_ids).logits
        if targets is None:
            return logits
        return nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.reshape(-1), ignore_index=-100)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
