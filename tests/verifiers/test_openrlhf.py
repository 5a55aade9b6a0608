"""OpenRLHF's contract: ``reward_func(queries, prompts, labels)`` loaded from its file as OpenRLHF loads it,
on OpenRLHF's own math rows, and ``rlvr gen --format openrlhf`` read back through OpenRLHF's
``preprocess_data`` steps (``load_dataset("json")``, the chat template on ``prompt``, ``label``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import verifiers.openrlhf
from datagen.audit import wrong_solution
from datagen.checks import perturb
from datagen.cli import main as gen
from verifiers.openrlhf import from_openrlhf, response_of

DATA = Path(__file__).resolve().parents[1] / "data"
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _reward_func():
    """The function as OpenRLHF's SingleTurnAgentExecutor loads a ``.py`` remote URL."""
    spec = importlib.util.spec_from_file_location("reward_func", verifiers.openrlhf.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def _tokenizer():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tokenizer.chat_template = CHATML
    return tokenizer


def _prompt(record: dict) -> str:
    """OpenRLHF's preprocess_data with --data.apply_chat_template: a string prompt becomes a user turn."""
    chat = record["prompt"]
    if isinstance(chat, str):
        chat = [{"role": "user", "content": chat}]
    return _tokenizer().apply_chat_template(chat, tokenize=False, add_generation_prompt=True)


def test_openrlhfs_math_rows_with_plain_labels():
    records = [json.loads(line) for line in (DATA / "openrlhf_math.jsonl").read_text().splitlines()]
    prompts = [_prompt(r) for r in records] * 2
    labels = [r["label"] for r in records] * 2
    responses = [f"Let me think. 16 - 3 - 4 = 9... so \\boxed{{{r['label']}}}" for r in records]
    responses += [f"so \\boxed{{{int(r['label']) + 1}}}" for r in records]
    queries = [p + r + "<|im_end|>" for p, r in zip(prompts, responses)]  # decoded with special tokens
    out = _reward_func()(queries, prompts, labels, rewards="accuracy")
    n = len(records)
    assert out["rewards"] == out["scores"] == [1.0] * n + [0.0] * n
    assert [v["status"] for v in out["verdicts"]] == ["correct"] * n + ["incorrect"] * n
    assert out["extra_logs"]["accuracy"] == out["rewards"] and out["extra_logs"]["unjudged"] == [0.0] * (2 * n)


def test_the_reply_is_what_openrlhf_turns_into_tensors():
    torch = pytest.importorskip("torch")
    out = verifiers.openrlhf.reward_func(["Q: 2+2? A: <think>2+2</think><answer>4</answer>", "Q: 2+2? A: I do not know how to work this one out, sorry about that."],
                                         ["Q: 2+2? A:", "Q: 2+2? A:"], ["4", "4"])
    assert set(out) == {"rewards", "scores", "extra_logs", "verdicts"}
    for k in range(2):  # samples_generator: torch.tensor([reward]), torch.tensor([value]) per extra log
        torch.tensor([out["rewards"][k]]), torch.tensor([out["scores"][k]])
        for value in out["extra_logs"].values():
            torch.tensor([value[k]])
    assert out["rewards"] == [2.0, 0.0] and out["extra_logs"]["unjudged"] == [0.0, 1.0]
    assert out["verdicts"][1]["status"] == "no_answer"


def test_gen_format_openrlhf_is_read_back_and_scored(tmp_path):
    import datasets

    out = tmp_path / "train.jsonl"
    mix = "arithmetic=1,countdown=1,code_function=1,code_stdio=1,linear_system=1,sequence=1"
    assert gen([mix, "--n", "24", "--format", "openrlhf", "--out", str(out), "--workers", "1", "--seed", "4"]) == 0
    assert gen([mix, "--n", "24", "--out", str(tmp_path / "rlvr.jsonl"), "--workers", "1", "--seed", "4"]) == 0
    originals = [json.loads(line) for line in (tmp_path / "rlvr.jsonl").read_text().splitlines()]
    records = datasets.load_dataset("json", data_files=str(out))["train"]  # OpenRLHF's blending_datasets
    prompts = [_prompt(r) for r in records]
    labels = [r["label"] for r in records]
    right, wrong = [], []
    for r, original in zip(records, originals):
        assert from_openrlhf(r) == original and r["datasource"] == f"rlvr/{original['task']}"
        bad = wrong_solution(original["tests"]) if original["verifier"] == "code" else perturb(original["answer"])
        right.append(f"<think>worked out</think>\n<answer>{original['answer']}</answer>")
        wrong.append(f"<think>worked out</think>\n<answer>{bad}</answer>")
    reward_func = _reward_func()
    good = reward_func([p + c + "<|im_end|>" for p, c in zip(prompts, right)], prompts, labels)
    assert good["rewards"] == [2.0] * len(records), good["verdicts"]
    bad = reward_func([p + c + "<|im_end|>" for p, c in zip(prompts, wrong)], prompts, labels)
    assert bad["scores"] == [0.0] * len(records) and bad["rewards"] == [1.0] * len(records)


def test_think_in_prompt_and_special_tokens():
    prompt = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    out = verifiers.openrlhf.reward_func([prompt + "2 and 2</think>\n<answer>4</answer><|im_end|><|endoftext|>"],
                                         [prompt], ["4"])
    assert out["rewards"] == [2.0]
    assert response_of("<s>Q: x? A: <answer>1</answer></s>", "Q: x? A:") == " <answer>1</answer>"
    assert response_of("A: <answer>1</answer>\n<｜end▁of▁sentence｜>", "A:") == " <answer>1</answer>"


def test_mismatched_lists_are_a_clear_error():
    with pytest.raises(ValueError, match="2 queries, 1 prompts and 2 labels"):
        verifiers.openrlhf.reward_func(["a", "b"], ["a"], ["1", "2"])
