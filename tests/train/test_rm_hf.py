"""Reward models and Hugging Face: our export loads as Llama/Qwen2/Qwen3 ForSequenceClassification and gives our
scores; transformers' own sequence classifiers (what TRL saves) load natively with equal scores; folders of the
wrong kind fail clearly."""

import json

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    LlamaConfig,
    LlamaForSequenceClassification,
    Qwen2Config,
    Qwen2ForSequenceClassification,
)

from train.hf import UnsupportedCheckpoint, export_hf, load_hf, load_hf_reward_model
from train.model import ModelConfig, RewardModel, Transformer
from train.rm_data import collate_reward_pairs, encode_reward_pairs, pair_rewards

pytestmark = pytest.mark.usefixtures("single_thread")

SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=48,
             max_position_embeddings=128)
FAMILIES = {"llama": {}, "qwen2": {"qkv_bias": True}, "qwen3": {"qk_norm": True, "head_dim": 12},
            "llama-untied": {"tie_word_embeddings": False}}
PAIRS = [{"prompt": f"Problem: {a} + 2", "chosen": f" <answer>{a + 2}</answer>", "rejected": " 7" * (a + 1)}
         for a in range(5)]


def perturbed(model, seed=1):
    """Norms and biases moved off their initial ones and zeros, so loading the wrong ones shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=generator) * 0.3)
    return model


@pytest.mark.parametrize("family", FAMILIES)
def test_transformers_loads_our_export_with_equal_scores(family, tokenizer, tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, **SHAPE, **FAMILIES[family])
    ours = perturbed(RewardModel(config)).eval()
    export_hf(ours, tmp_path, tokenizer)
    hf_config = json.loads((tmp_path / "config.json").read_text())
    assert hf_config["architectures"][0].endswith("ForSequenceClassification")
    assert hf_config["model_type"] == config.arch
    assert not (tmp_path / "generation_config.json").exists()
    theirs = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert theirs.config.num_labels == 1 and theirs.config.pad_token_id == tokenizer.pad_id

    pairs, _ = encode_reward_pairs(tokenizer, PAIRS, "plain", max_length=128)
    batch = collate_reward_pairs(pairs, tokenizer.pad_id)  # right-padded rows of different lengths
    with torch.no_grad():
        expected = torch.cat(pair_rewards(ours, batch))
        got = theirs(input_ids=batch.input_ids, attention_mask=(batch.input_ids != tokenizer.pad_id).long()).logits
        reloaded = load_hf_reward_model(tmp_path).eval()
        again = torch.cat(pair_rewards(reloaded, batch))
    torch.testing.assert_close(got.squeeze(-1), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, expected)
    assert reloaded.config == ours.config


@pytest.mark.parametrize(("cls", "config_cls", "extra"), [
    (LlamaForSequenceClassification, LlamaConfig, {}),
    (Qwen2ForSequenceClassification, Qwen2Config, {"tie_word_embeddings": True}),
])
def test_a_transformers_sequence_classifier_loads_natively(cls, config_cls, extra, tmp_path):
    torch.manual_seed(0)
    config = config_cls(vocab_size=97, num_labels=1, pad_token_id=0, **{**SHAPE, **extra})
    theirs = perturbed(cls(config)).eval()
    theirs.save_pretrained(tmp_path)
    ours = load_hf_reward_model(tmp_path).eval()
    ids = torch.randint(1, 97, (3, 11))
    ids[1, 7:] = 0  # padding: both read the last token that is not padding
    ends = torch.tensor([10, 6, 10])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, ends), theirs(input_ids=ids).logits.squeeze(-1), rtol=1e-4, atol=1e-5)


def test_wrong_kinds_of_folder_fail_clearly(tokenizer, tmp_path):
    config = ModelConfig(vocab_size=tokenizer.vocab_size, **SHAPE)
    export_hf(Transformer(config), tmp_path / "policy", tokenizer)
    export_hf(RewardModel(config), tmp_path / "rm", tokenizer)
    with pytest.raises(UnsupportedCheckpoint, match="not a reward model"):
        load_hf_reward_model(tmp_path / "policy")
    with pytest.raises(UnsupportedCheckpoint, match=r"a reward model .* load it with load_hf_reward_model"):
        load_hf(tmp_path / "rm")
    LlamaForSequenceClassification(LlamaConfig(vocab_size=97, num_labels=3, pad_token_id=0, **SHAPE)).save_pretrained(
        tmp_path / "three")
    with pytest.raises(UnsupportedCheckpoint, match="3 labels"):
        load_hf_reward_model(tmp_path / "three")
