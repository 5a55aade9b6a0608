"""Hugging Face interop: local Llama / Qwen2 / Qwen3 checkpoints load natively with transformers' logits,
unsupported ones fail clearly (and load on the generic path), our models and tokenizer export to a
folder that transformers' Auto classes and TRL load."""

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from train.hf import GenericCausalLM, UnsupportedCheckpoint, config_from_hf, config_to_hf, export_hf, load_hf
from train.model import ModelConfig, Transformer

pytestmark = pytest.mark.usefixtures("single_thread")

COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64)


def perturb(model, seed=1):
    """Norm weights and biases away from ones and zeros, so loading the wrong ones shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=generator) * 0.3)
    return model


CASES = {
    "llama-gqa-tied": (LlamaForCausalLM, LlamaConfig(**COMMON, tie_word_embeddings=True)),
    "llama-mha-untied": (LlamaForCausalLM, LlamaConfig(**{**COMMON, "num_key_value_heads": 4},
                                                       tie_word_embeddings=False, rms_norm_eps=1e-3,
                                                       rope_parameters={"rope_type": "default", "rope_theta": 500.0})),
    "qwen2-tied": (Qwen2ForCausalLM, Qwen2Config(**COMMON, tie_word_embeddings=True)),
    "qwen2-untied-mqa": (Qwen2ForCausalLM, Qwen2Config(**{**COMMON, "num_key_value_heads": 1},
                                                       tie_word_embeddings=False)),
    "qwen3-head_dim-tied": (Qwen3ForCausalLM, Qwen3Config(**COMMON, head_dim=12, tie_word_embeddings=True)),
    "qwen3-head_dim-untied": (Qwen3ForCausalLM, Qwen3Config(**COMMON, head_dim=12, tie_word_embeddings=False,
                                                            rope_parameters={"rope_type": "default",
                                                                             "rope_theta": 1e6})),
}


@pytest.mark.parametrize("case", CASES)
def test_native_logits_equal_transformers(case, tmp_path):
    cls, config = CASES[case]
    torch.manual_seed(0)
    reference = perturb(cls(config)).eval()
    reference.save_pretrained(tmp_path)
    model = load_hf(tmp_path).eval()
    c = model.config
    assert (c.qkv_bias, c.qk_norm) == (case.startswith("qwen2"), case.startswith("qwen3"))
    assert c.tie_word_embeddings == config.tie_word_embeddings
    assert (model.lm_head.weight is model.embed_tokens.weight) == config.tie_word_embeddings
    assert c.head_dim == (12 if case.startswith("qwen3") else 8)
    assert c.rope_theta == config.rope_parameters["rope_theta"] and c.rms_norm_eps == config.rms_norm_eps
    ids = torch.randint(0, 97, (3, 17))
    with torch.no_grad():
        expected, got = reference(ids).logits, model(ids)
    assert expected.abs().max() > 0.1  # not a degenerate model
    assert torch.allclose(got, expected, atol=1e-5)


def test_sharded_checkpoint_loads(tmp_path):
    torch.manual_seed(0)
    reference = perturb(Qwen2ForCausalLM(Qwen2Config(**COMMON))).eval()
    reference.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists() and not (tmp_path / "model.safetensors").exists()
    ids = torch.randint(0, 97, (1, 9))
    with torch.no_grad():
        assert torch.allclose(load_hf(tmp_path)(ids), reference(ids).logits, atol=1e-5)


def save(model, folder):
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("config", "words"), [
    (LlamaConfig(**COMMON, rope_parameters={"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0,
                                            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                            "original_max_position_embeddings": 32}), "rope type 'llama3'"),
    (LlamaConfig(**COMMON, rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 2.0}),
     "rope type 'linear'"),
    (LlamaConfig(**COMMON, attention_bias=True), "attention_bias"),
    (LlamaConfig(**COMMON, hidden_act="gelu"), "activation 'gelu'"),
    (Qwen2Config(**COMMON, use_sliding_window=True, sliding_window=16), "sliding-window"),
    (GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64), "model_type 'gpt2'"),
])
def test_unsupported_checkpoints_raise_clearly(config, words, tmp_path):
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedCheckpoint, match=words):
        load_hf(tmp_path)


def test_old_style_rope_scaling_is_rejected():
    hf = config_to_hf(ModelConfig(**COMMON))
    del hf["rope_parameters"]
    assert config_from_hf(hf).rope_theta == 10000.0  # transformers 4.x: rope_theta at the top level
    with pytest.raises(UnsupportedCheckpoint, match="rope type 'dynamic'"):
        config_from_hf({**hf, "rope_scaling": {"type": "dynamic", "factor": 2.0}})


def test_bad_folders_raise_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config_to_hf(ModelConfig(**COMMON))))
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        load_hf(tmp_path)
    # weights of another shape than the config says
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**{**COMMON, "vocab_size": 90})).save_pretrained(tmp_path / "other")
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(UnsupportedCheckpoint, match=r"embed_tokens.weight has shape \(90, 32\)"):
        load_hf(tmp_path)
    # weights of a model with fewer layers than the config says
    LlamaForCausalLM(LlamaConfig(**{**COMMON, "num_hidden_layers": 1})).save_pretrained(tmp_path / "short")
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "short" / "model.safetensors").read_bytes())
    with pytest.raises(UnsupportedCheckpoint, match=r"missing \['layers.1"):
        load_hf(tmp_path)


def test_generic_path_loads_and_trains_a_gpt2_folder(tmp_path):
    from train.engine import Engine
    from train.optim import build_optimizer

    torch.manual_seed(0)
    save(GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64)), tmp_path)
    model = GenericCausalLM(tmp_path)
    assert model.num_parameters() == sum(p.numel() for p in model.hf.parameters())
    ids = torch.randint(0, 97, (2, 12))
    targets = ids.roll(-1, dims=1)
    targets[:, -3:] = -100
    logits = model(ids)
    assert logits.shape == (2, 12, 97)
    expected = F.cross_entropy(logits[:, :-3].reshape(-1, 97), targets[:, :-3].reshape(-1))
    loss = model(ids, targets)
    assert torch.allclose(loss, expected, atol=1e-6)
    optimizer = build_optimizer(model, lr=1e-2)
    loss.backward()
    optimizer.step()
    assert model(ids, targets).item() < loss.item()
    with pytest.raises(TypeError, match="native"):
        Engine(model, tokenizer=None)


EXPORTS = {
    "llama-tied": dict(),
    "qwen2-untied": dict(qkv_bias=True, tie_word_embeddings=False),
    "qwen3-head_dim": dict(qk_norm=True, head_dim=12, num_key_value_heads=1),
}


@pytest.mark.parametrize("case", EXPORTS)
def test_export_loads_in_transformers_with_equal_logits(case, tokenizer, tmp_path):
    torch.manual_seed(0)
    model = perturb(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size, **EXPORTS[case]})))
    export_hf(model, tmp_path, tokenizer)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    assert type(hf).__name__ == {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                                 "qwen3": "Qwen3ForCausalLM"}[model.config.arch]
    ids = torch.randint(0, tokenizer.vocab_size, (2, 13))
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, model(ids), atol=1e-5)
    assert hf.config.eos_token_id == tokenizer.eos_id and hf.config.pad_token_id == tokenizer.pad_id
    assert hf.generation_config.eos_token_id == [tokenizer.eos_id, tokenizer.answer_end_id]
    # and back: the same config and weights
    again = load_hf(tmp_path)
    assert again.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_export_in_bfloat16_and_of_a_wrapped_model(tmp_path):
    torch.manual_seed(0)
    model = perturb(Transformer(ModelConfig(**COMMON, tie_word_embeddings=False)))
    wrapped = torch.nn.Module()
    wrapped.module = model  # as DistributedDataParallel holds it
    export_hf(wrapped, tmp_path, dtype=torch.bfloat16)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["torch_dtype"] == "bfloat16"
    assert not (tmp_path / "tokenizer.json").exists() and not (tmp_path / "generation_config.json").exists()
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    assert torch.equal(weights["lm_head.weight"], model.lm_head.weight.to(torch.bfloat16))
    assert load_hf(tmp_path, dtype=torch.bfloat16).lm_head.weight.dtype == torch.bfloat16


def test_exported_tokenizer_matches_ours(tokenizer, tmp_path):
    export_hf(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})), tmp_path, tokenizer)
    auto = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    texts = ["Problem: 12 + 30\nAnswer: <think>12 + 30 = 42</think> <answer>42</answer>",
             "The cat sat.\n\n  Then 1234567 dogs <answer>-3.5</answer>", "<think></think><answer></answer>"]
    for text in texts:
        ids = tokenizer.encode(text)
        assert auto.encode(text, add_special_tokens=False) == ids
        assert auto.decode(ids) == tokenizer.decode(ids) == text
        with_specials = tokenizer.encode(text, bos=True, eos=True)
        assert auto.decode(with_specials, skip_special_tokens=True) == text
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert auto.encode(tag, add_special_tokens=False) == [tokenizer.special_ids()[tag]]
    assert auto.tokenize("x<answer>7</answer>")[1:] == ["<answer>", "7", "</answer>"]
    assert (auto.bos_token_id, auto.eos_token_id, auto.pad_token_id) == (tokenizer.bos_id, tokenizer.eos_id,
                                                                         tokenizer.pad_id)
    assert len(auto) == tokenizer.vocab_size
    batch = auto(["1 + 1", "12 + 345 = 357"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_id and batch["attention_mask"][0][-1] == 0


def test_trl_trains_the_exported_folder(tokenizer, tmp_path):
    import datasets
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    export_hf(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})), tmp_path / "model",
              tokenizer)
    rows = [{"prompt": f"{a} + 1 =", "completion": f" <answer>{a + 1}</answer>"} for a in range(8)]
    trainer = SFTTrainer(model=str(tmp_path / "model"), train_dataset=datasets.Dataset.from_list(rows),
                         args=SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=2, per_device_train_batch_size=4,
                                        report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True))
    assert trainer.processing_class.pad_token_id == tokenizer.pad_id
    example = trainer.train_dataset[0]
    assert example["input_ids"][-1] == tokenizer.eos_id  # TRL appends our EOS to the completion
    assert tokenizer.decode(example["input_ids"]) == rows[0]["prompt"] + rows[0]["completion"]
    result = trainer.train()
    assert result.global_step == 2 and 0 < result.training_loss < 10


def test_engine_greedy_equals_transformers_generate_on_the_export(tokenizer, tmp_path):
    from train.engine import Engine

    torch.manual_seed(0)
    model = perturb(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size}, qkv_bias=True,
                                            tie_word_embeddings=False)))
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # well-separated logits: no near-ties for float noise to flip
    export_hf(model, tmp_path, tokenizer)
    hf = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    auto = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True, padding_side="left")
    prompts = ["Problem: What is 12 + 30?\nAnswer:", "7 *", "<think>"]
    ours = Engine(model, tokenizer).generate(prompts, max_new_tokens=12, temperature=0)
    batch = auto([auto.bos_token + p for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        theirs = hf.generate(**batch, do_sample=False, max_new_tokens=12)[:, batch["input_ids"].shape[1]:]
    stops = {tokenizer.eos_id, tokenizer.answer_end_id}
    for g, row in zip(ours, theirs.tolist()):
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        assert g.token_ids == row[:end]
        assert g.finish_reason == ("stop" if end < len(row) or row[-1] in stops else "length")


def test_load_policy_reads_hf_folders_and_explains_what_it_cannot(tokenizer, tmp_path):
    from train.load import load_policy

    torch.manual_seed(0)
    ours = perturb(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})))
    export_hf(ours, tmp_path / "ours", tokenizer)
    model, loaded_tokenizer = load_policy(tmp_path / "ours")
    ids = torch.randint(0, tokenizer.vocab_size, (1, 7))
    assert torch.equal(model(ids), ours(ids)) and loaded_tokenizer.special_ids() == tokenizer.special_ids()
    # a native architecture without our tokenizer
    torch.manual_seed(0)
    save(LlamaForCausalLM(LlamaConfig(**COMMON)), tmp_path / "llama")
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        load_policy(tmp_path / "llama")
    # an architecture the stages cannot train natively
    save(GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
         tmp_path / "gpt2")
    tokenizer.save(tmp_path / "gpt2" / "tokenizer.json")
    with pytest.raises(ValueError, match="GenericCausalLM"):
        load_policy(tmp_path / "gpt2")


def test_generic_path_trains_in_the_loop_and_exports(tokenizer, tmp_path):
    from train.data import PackedData
    from train.dist import DistInfo
    from train.loop import TrainConfig, train_loop

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    save(GPT2LMHeadModel(config), tmp_path / "gpt2")
    model = GenericCausalLM(tmp_path / "gpt2")
    rows = torch.randint(0, tokenizer.vocab_size, (8, 17))
    out = tmp_path / "run" / "gpt2"  # not there yet: the loop makes it
    cfg = TrainConfig(out_dir=str(out), max_steps=3, batch_size=2, save_every=2, log_every=1, progress=False,
                      device="cpu", warmup_steps=0)
    last = train_loop(cfg, model=model, tokenizer=tokenizer, train_data=PackedData(rows),
                      val_data=PackedData(rows[:2]), info=DistInfo(), stage="generic", model_config={})
    assert last["step"] == 3 and last["val_loss"] > 0
    assert sorted(p.name for p in out.glob("step_*")) == ["step_00000002", "step_00000003"]
    exported = AutoModelForCausalLM.from_pretrained(out / "final", local_files_only=True).eval()
    ids = rows[:1, :9]
    with torch.no_grad():
        assert torch.allclose(exported(ids).logits, model.eval()(ids), atol=1e-5)
    assert AutoTokenizer.from_pretrained(out / "final").pad_token_id == tokenizer.pad_id


# ---------------------------------------------------------------------------------------------
# The chat template and the model card of an export

QUESTIONS = ["What is 2 + 3?", 'Solve "x" in {x + 1 = 2}: {{ not jinja }} {% raw %}\n\tand é, 中, 🙂', ""]


def chat(auto, messages, **kwargs):
    return auto.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)


@pytest.mark.parametrize("template", ["r1_zero", "plain", "Question: {prompt}\nThink, then answer ({prompt}).\nA:"])
def test_the_exported_chat_template_renders_our_prompt_exactly(template, tokenizer, tmp_path):
    """``apply_chat_template`` on the exported folder gives the prompt the trainer feeds the model, text and
    tokens: BOS, then ``render_prompt`` (chat-template text is tokenized without special tokens, so the
    template carries the BOS the trainer prepends); with the R1-Zero instructions as the system message
    (how ``rlvr gen --format verl`` writes rows) too; and SFT's sequence for an assistant turn."""
    from trl.data_utils import apply_chat_template

    from train.template import render_completion, render_prompt, resolve_template
    from verifiers.format import SYSTEM_PROMPT

    export_hf(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})), tmp_path, tokenizer,
              template=template)
    assert "chat_template" in json.loads((tmp_path / "tokenizer_config.json").read_text())
    auto = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = resolve_template(template)[1]
    for question in QUESTIONS:
        ours = render_prompt(question, text)
        user = [{"role": "user", "content": question}]
        assert chat(auto, user) == auto.bos_token + ours
        ids = auto.apply_chat_template(user, add_generation_prompt=True, return_dict=True)["input_ids"]
        assert ids == tokenizer.encode(ours, bos=True)
        # TRL renders conversational prompts through it
        assert apply_chat_template({"prompt": user}, auto)["prompt"] == auto.bos_token + ours
        if template == "r1_zero":
            assert chat(auto, [{"role": "system", "content": SYSTEM_PROMPT}, *user]) == auto.bos_token + ours
            other = chat(auto, [{"role": "system", "content": "Be brief."}, *user])
            assert other == auto.bos_token + render_prompt(question, "Be brief.\nUser: {prompt}\nAssistant:")
        answered = [*user, {"role": "assistant", "content": "<think>2 + 3 = 5</think> <answer>5</answer>"}]
        sft = auto.apply_chat_template(answered, tokenize=False)
        assert sft == auto.bos_token + ours + render_completion("2 + 3 = 5", "5") + auto.eos_token
    with pytest.raises(Exception, match="only system, user and assistant messages"):
        chat(auto, [{"role": "tool", "content": "x"}])


def test_a_tokenizer_without_bos_gets_a_chat_template_without_it(tokenizer, tmp_path):
    from train.template import R1_ZERO, render_prompt
    from train.tokenizer import Tokenizer

    no_bos = Tokenizer(tokenizer.hf, {"bos": None, "eos": "<|eos|>", "pad": "<|pad|>"})  # a Qwen-like checkpoint
    export_hf(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})), tmp_path, no_bos)
    auto = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert chat(auto, [{"role": "user", "content": "What is 2 + 3?"}]) == render_prompt("What is 2 + 3?", R1_ZERO)


def test_the_model_card_tells_the_settings_and_results_and_its_code_runs(tokenizer, tmp_path):
    from train.hf import write_model_card

    torch.manual_seed(0)
    folder = export_hf(Transformer(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size})),
                       tmp_path / "grpo" / "final", tokenizer, template="plain")
    settings = {"init_from": "runs/x/sft/final", "template": "plain", "max_steps": 30, "lr": 2e-05,
                "rewards": "accuracy,format=0.5"}
    metrics = {"step": 30, "reward": 1.25, "rewards/accuracy/mean": 0.75, "eval_per_task": {"add": 0.5},
               "kl": None}
    card = write_model_card(folder, stage="grpo", settings=settings, metrics=metrics,
                            evaluation={"accuracy": 0.625, "pass@4": 0.875}).read_text()
    head, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert "library_name: transformers" in head and "- grpo" in head
    assert "from runs/x/sft/final, 30 steps" in body and "User: {prompt}\nAssistant:" in body
    for line in ("| `rewards/accuracy/mean` | 0.75 |", "| `eval_per_task/add` | 0.5 |", "| `lr` | 2e-05 |",
                 "| `rewards` | accuracy,format=0.5 |", "| `pass@4` | 0.875 |"):
        assert line in body, line
    assert "`kl`" not in body  # an undefined metric is left out
    code = body.split("```python\n")[1].split("```")[0].replace("max_new_tokens=256", "max_new_tokens=4")
    exec(code, {})  # the card's own example loads the folder, prompts through the chat template, generates


def test_a_reward_models_card_scores_through_the_chat_template_as_the_trainer_does(tokenizer, tmp_path, capsys):
    """A reward model's card runs: its chat template renders prompt and answer as the reward trainer encodes a
    pair's side (BOS, templated prompt, the completion after a space, EOS), so the printed score is ours."""
    from train.hf import write_model_card
    from train.model import RewardModel
    from train.template import PLAIN, render_completion, render_prompt

    torch.manual_seed(0)
    model = perturb(RewardModel(ModelConfig(**{**COMMON, "vocab_size": tokenizer.vocab_size}))).eval()
    folder = export_hf(model, tmp_path / "rm" / "final", tokenizer, template="plain")
    card = write_model_card(folder, stage="rm", settings={"template": "plain", "max_steps": 5}, metrics={}).read_text()
    assert "pipeline_tag: text-classification" in card and "reward model" in card
    exec(card.split("```python\n")[1].split("```")[0], {})
    printed = float(capsys.readouterr().out.strip())
    ids = tokenizer.encode(render_prompt("What is 2 + 3?", PLAIN), bos=True) + tokenizer.encode(
        render_completion("2 + 3 = 5", "5"), eos=True)
    with torch.no_grad():
        assert printed == pytest.approx(model(torch.tensor([ids])).item(), abs=1e-4)
