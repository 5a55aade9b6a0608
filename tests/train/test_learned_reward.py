"""A reward model as a reward: ``LearnedReward`` scores as the model does whatever the batching, and
``rlvr grpo --reward-model PATH=WEIGHT`` adds it to the total at its weight and logs it as ``rewards/rm/mean``."""

import json

import pytest
import torch

from train.cli import main as rlvr
from train.grpo import GRPOConfig, grpo
from train.hf import export_hf
from train.learned_reward import LearnedReward, parse_reward_model
from train.load import load_policy, load_reward_model
from train.model import ModelConfig, RewardModel

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory, tokenizer):
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128)
    return export_hf(RewardModel(config), tmp_path_factory.mktemp("rm"), tokenizer)


def test_scores_are_the_models_whatever_the_batching(reward_model, tokenizer):
    prompts = ["User: 1 + 2?\nAssistant:", "User: 30 + 4?\nAssistant:", "Problem: 5 + 1"]
    completions = [" <answer>3</answer>", " <think>30 + 4 = 34</think> <answer>34</answer>", " 6"]
    one, all_at_once = (LearnedReward(reward_model, device="cpu", batch_size=b)(prompts, completions) for b in (1, 64))
    assert one == pytest.approx(all_at_once, abs=1e-5)
    model, _ = load_reward_model(reward_model)
    for prompt, completion, score in zip(prompts, completions, one):
        ids = tokenizer.encode(prompt, bos=True) + tokenizer.encode(completion, eos=True)
        assert model(torch.tensor([ids]))[0].item() == pytest.approx(score, abs=1e-5)
    with pytest.raises(ValueError, match="3 prompts for 2 completions"):
        LearnedReward(reward_model, device="cpu")(prompts, completions[:2])


def test_parse_reward_model():
    assert parse_reward_model("runs/rm=0.25") == ("runs/rm", 0.25)
    assert parse_reward_model("runs/a=b/rm") == ("runs/a=b/rm", 1.0)
    assert parse_reward_model("runs/rm=-1") == ("runs/rm", -1.0)
    with pytest.raises(ValueError, match="PATH"):
        parse_reward_model("=0.5")


def test_grpo_adds_the_learned_reward_at_its_weight_and_logs_it(policy, reward_model, tmp_path):
    out = tmp_path / "grpo"
    cfg = GRPOConfig(init_from=str(policy), out_dir=str(out), rewards="accuracy=0,format=0.5",
                     reward_model=f"{reward_model}=2.0", tasks="arithmetic", difficulty="1", n_problems=60,
                     template="plain", prompts_per_step=2, num_generations=4, max_completion_length=8, lr=1e-2,
                     max_steps=3, reward_workers=0, eval_every=0, eval_problems=0, device="cpu", progress=False,
                     seed=0)
    grpo(cfg)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert isinstance(row["rewards/rm/mean"], float) and row["accuracy"] is not None  # accuracy=0 still judges
        expected = 0.5 * row["rewards/format/mean"] + 2.0 * row["rewards/rm/mean"] + 0 * row["rewards/accuracy/mean"]
        assert row["reward"] == pytest.approx(expected, abs=1e-4)
    model, _ = load_policy(out / "final")
    assert not torch.equal(model.lm_head.weight, load_policy(policy)[0].lm_head.weight)


def test_grpo_with_the_reward_model_alone_and_bad_flags(policy, reward_model, tmp_path, capsys):
    common = ["grpo", "--init-from", str(policy), "--tasks", "arithmetic", "--difficulty", "1", "--n-problems", "40",
              "--template", "plain", "--prompts-per-step", "2", "--num-generations", "2",
              "--max-completion-length", "4", "--max-steps", "1", "--reward-workers", "0", "--eval-problems", "0",
              "--device", "cpu", "--no-progress"]
    assert rlvr([*common, "--out-dir", str(tmp_path / "alone"), "--rewards", "", "--reward-model",
                 str(reward_model)]) == 0
    row = json.loads((tmp_path / "alone" / "metrics.jsonl").read_text())
    assert row["reward"] == pytest.approx(row["rewards/rm/mean"], abs=1e-5)
    capsys.readouterr()
    assert rlvr([*common, "--out-dir", str(tmp_path / "x"), "--reward-model", str(tmp_path / "missing=0.5")]) == 2
    assert "--reward-model" in capsys.readouterr().err
    assert rlvr([*common, "--out-dir", str(tmp_path / "y"), "--reward-model", str(policy)]) == 2
    assert "a policy (a causal LM), not a reward model" in capsys.readouterr().err
    assert rlvr([*common, "--out-dir", str(tmp_path / "z"), "--init-from", str(reward_model)]) == 2
    assert "a reward model, not a policy" in capsys.readouterr().err
