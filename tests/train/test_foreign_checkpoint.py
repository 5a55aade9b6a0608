"""A local Hugging Face checkpoint with its own tokenizer (no BOS, its own EOS, no format tags) trains
through ``rlvr sft`` and ``rlvr grpo``: the tags are added as whole tokens, the embeddings grow to match,
and the result exports back to a folder ``transformers`` loads."""

import json

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from train.load import load_policy
from train.tokenizer import FORMAT_TAGS

PROBLEMS = [{"id": f"add/{a}/{b}", "task": "add", "prompt": f"What is {a} + {b}?", "answer": str(a + b),
             "solution": f"{a} + {b} = {a + b}", "verifier": "math"} for a in range(10) for b in range(10)]


@pytest.fixture(scope="module")
def qwen_folder(tmp_path_factory):
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("qwen")
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    texts = [f"{p['prompt']} {p['solution']}" for p in PROBLEMS]
    hf.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=hf, eos_token="<|endoftext|>").save_pretrained(folder)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=hf.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         tie_word_embeddings=True, eos_token_id=0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    (folder.parent / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return folder


def test_load_policy_adds_the_format_tags_and_grows_the_embeddings(qwen_folder):
    model, tokenizer = load_policy(qwen_folder)
    base = HFTokenizer.from_file(str(qwen_folder / "tokenizer.json")).get_vocab_size()
    assert tokenizer.vocab_size == base + len(FORMAT_TAGS) == model.config.vocab_size
    assert tokenizer.bos_id is None and tokenizer.eos_id == tokenizer.pad_id == 0
    assert tokenizer.encode("<answer>7</answer>", bos=True)[0] == tokenizer.special_ids()["<answer>"]
    assert tokenizer.decode(tokenizer.encode("<think>a</think><answer>7</answer>")) == "<think>a</think><answer>7</answer>"
    new_rows = model.embed_tokens.weight[base:]
    assert torch.allclose(new_rows, model.embed_tokens.weight[:base].mean(0).expand_as(new_rows))


def test_sft_and_grpo_train_it_and_the_export_loads(qwen_folder, tmp_path, single_thread):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.grpo import main as grpo_main
    from train.sft import main as sft_main

    problems = str(qwen_folder.parent / "problems.jsonl")
    common = ["--problems", problems, "--template", "plain", "--max-steps", "2", "--batch-size", "4",
              "--eval-problems", "4", "--max-new-tokens", "8", "--max-len", "128", "--device", "cpu", "--no-progress"]
    assert sft_main(["--init-from", str(qwen_folder), "--out-dir", str(tmp_path / "sft"), *common]) == 0
    final = tmp_path / "sft" / "final"
    assert grpo_main(["--init-from", str(final), "--out-dir", str(tmp_path / "grpo"), "--problems", problems,
                      "--template", "plain", "--max-steps", "1", "--prompts-per-step", "2", "--num-generations",
                      "2", "--max-completion-length", "8", "--eval-problems", "2", "--reward-workers", "0",
                      "--device", "cpu", "--no-progress"]) == 0
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "grpo" / "final")
    tok = AutoTokenizer.from_pretrained(tmp_path / "grpo" / "final")
    assert hf.config.vocab_size == len(tok) and tok.eos_token == "<|endoftext|>"
    assert len(tok("</answer>", add_special_tokens=False)["input_ids"]) == 1
