"""Our rewards inside TRL: the callable signature, and a real GRPOTrainer run on CPU."""

from __future__ import annotations

import string

import pytest

import verifiers.trl
from verifiers.rewards import REWARDS
from verifiers.trl import completion_text, reward_funcs

PROBLEMS = [
    {"prompt": f"What is {a} + {b}? ", "answer": str(a + b), "verifier": "math", "meta": "{}"}
    for a, b in [(1, 2), (3, 4), (5, 6), (7, 8), (2, 2), (9, 1), (4, 4), (6, 3)]
]


def test_signature_columns_groups_and_conversational_completions():
    accuracy, fmt, length = reward_funcs(["accuracy", "format", "length"], weights=[1.0, 0.5, 1.0])
    assert [f.__name__ for f in (accuracy, fmt, length)] == ["accuracy", "format", "length"]
    prompts = ["p1", "p1", "p2", "p2"]
    completions = ["<think>x</think>\n<answer>3</answer>", "<answer>3 </answer> because",
                   [{"role": "assistant", "content": "<answer>7</answer>"}], "no answer at all, sorry friend"]
    columns = {"answer": ["3", "3", "7", "7"], "verifier": ["math"] * 4, "trainer_state": object(),
               "completion_ids": [[1] * 5, [1] * 9, [1] * 3, [1] * 4]}
    assert accuracy(prompts=prompts, completions=completions, **columns) == [1.0, 1.0, 1.0, None]
    assert fmt(prompts=prompts, completions=completions, **columns) == [0.5, 0.0, 0.0, 0.0]
    # groups are formed by prompt; token counts from completion_ids decide who is shorter
    assert length(prompts=prompts, completions=completions, **columns) == [0.5, -0.5, 0.5, None]


def test_completion_text_reads_message_lists():
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"


def test_bad_names_and_weights_are_clear_errors():
    with pytest.raises(ValueError, match="unknown reward 'acuracy'"):
        reward_funcs(["acuracy"])
    with pytest.raises(ValueError, match="2 reward names but 1 weights"):
        reward_funcs(["accuracy", "format"], weights=[1.0])


def _tiny_model_and_tokenizer(tmp_path):
    """A character-level tokenizer and a randomly initialised 2-layer Llama, built locally."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - {"\x0b", "\x0c"})
    vocab = {tok: i for i, tok in enumerate(["<pad>", "<eos>", "<unk>", *chars])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>",
                                        unk_token="<unk>")
    tokenizer.padding_side = "left"
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None)
    return LlamaForCausalLM(config), tokenizer


def test_grpo_trainer_calls_and_logs_our_rewards(tmp_path):
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = _tiny_model_and_tokenizer(tmp_path)
    calls = {"accuracy": 0, "format": 0}
    funcs = []
    for f in reward_funcs(["accuracy", "format"]):
        def counted(prompts, completions, _f=f, **kw):
            calls[_f.__name__] += len(completions)
            return _f(prompts=prompts, completions=completions, **kw)
        counted.__name__ = f.__name__
        funcs.append(counted)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=8, max_steps=2, logging_steps=1, report_to=[], use_cpu=True,
                      bf16=False, save_strategy="no", seed=0)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(PROBLEMS),
                          processing_class=tokenizer)
    trainer.train()
    assert calls["accuracy"] >= 8 and calls["format"] >= 8  # two steps of 4 completions each
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert any("accuracy" in k for k in logged) and any("format" in k for k in logged), logged
    # the verdicts through TRL's per-sample and metric hooks (the installed TRL passes log_extra / log_metric)
    assert {"rewards/accuracy/unjudged_ratio", "rewards/accuracy/timeout_ratio"} <= logged, logged
    extra = trainer._logs["extra"]
    assert len(extra["accuracy/status"]) == len(extra["accuracy/reason"]) == len(trainer._logs["completion"])
    assert "format/status" not in extra  # the format reward does not ask the verifier


def test_every_reward_is_a_module_level_callable_by_its_name():
    for name in REWARDS:
        f = getattr(verifiers.trl, name)
        assert f.__name__ == name and f.__module__ == "verifiers.trl"
    assert verifiers.trl.accuracy(prompts=["p"], completions=["<answer>5</answer>"], answer=["5"]) == [1.0]


def test_hooks_receive_status_reason_and_rates():
    extra, metrics = {}, {}
    completions = ["<think>a</think><answer>4</answer>", "<answer>5</answer>", "no answer here at all, sorry"]
    out = verifiers.trl.accuracy(prompts=["p"] * 3, completions=completions, answer=["4"] * 3,
                                 verifier=["math"] * 3, log_extra=extra.__setitem__,
                                 log_metric=metrics.__setitem__, trainer_state=object())
    assert out == [1.0, 0.0, None]
    assert extra["accuracy/status"] == ["correct", "incorrect", "no_answer"]
    assert all(isinstance(r, str) and r for r in extra["accuracy/reason"])
    assert metrics == {"rewards/accuracy/unjudged_ratio": 1 / 3, "rewards/accuracy/timeout_ratio": 0.0}
    calls = []
    verifiers.trl.format(prompts=["p"], completions=["x"], log_extra=lambda *a: calls.append(a),
                         log_metric=lambda *a: calls.append(a))
    assert calls == []  # nothing to say about verdicts: the format reward asks no verifier


@pytest.mark.parametrize("prompt", ["User: 2+2?\nAssistant: <think>\n",
                                    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>"}]])
def test_a_prompt_that_opens_think_is_detected(prompt):
    inside = "2 and 2 make 4</think>\n<answer>4</answer>"
    whole = "<think>2 and 2 make 4</think>\n<answer>4</answer>"
    for f in (verifiers.trl.format, verifiers.trl.tag_count):
        assert f(prompts=[prompt, prompt], completions=[inside, whole]) == [1.0, 0.0 if f is verifiers.trl.format
                                                                            else 0.75]
    # plain prompts keep the usual template; an explicit choice overrides the detection
    assert verifiers.trl.format(prompts=["2+2?"], completions=[inside]) == [0.0]
    fmt, = reward_funcs("format", think_in_prompt=False)
    assert fmt(prompts=[prompt], completions=[inside]) == [0.0]


def test_trl_command_line_loads_our_rewards_by_dotted_path(tmp_path):
    """``trl grpo --reward_funcs verifiers.trl.accuracy verifiers.trl.format``: TRL's own CLI, one step."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("trl")
    model, tokenizer = _tiny_model_and_tokenizer(tmp_path)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    trl_cli = Path(sys.executable).with_name("trl")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [str(trl_cli), "grpo", "--model_name_or_path", str(tmp_path / "model"), "--dataset_name", str(tmp_path / "data"),
         "--reward_funcs", "verifiers.trl.accuracy", "verifiers.trl.format", "--output_dir", str(tmp_path / "out"),
         "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "8",
         "--max_steps", "1", "--logging_steps", "1", "--report_to", "none", "--use_cpu", "--save_strategy", "no",
         "--bf16", "false"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/accuracy/unjudged_ratio"):
        assert f"'{key}'" in log, log[-3000:]
