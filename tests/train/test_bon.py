"""``rlvr bon``: the kept completion is the one the reward model scores highest in its group, the set it writes
is what ``rlvr sft`` trains on (the completions verbatim), rounds sample from the previous round's model and
``--resume`` keeps finished rounds, and picking by the verifiers keeps only correct completions."""

import json

import pytest

from train.bon import BonConfig, bon, pick_best, sample_round
from train.cli import main as rlvr
from train.hf import export_hf
from train.load import load_policy
from train.model import ModelConfig, RewardModel
from train.sft import SFTConfig, build_sft_data, sft
from verifiers.rewards import Rubric

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory, tokenizer):
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128)
    return export_hf(RewardModel(config), tmp_path_factory.mktemp("rm"), tokenizer)


def settings(policy, out, **overrides) -> BonConfig:
    values = dict(init_from=str(policy), out_dir=str(out), tasks="arithmetic", difficulty="1", n_problems=60,
                  eval_problems=4, template="plain", prompts_per_round=6, num_generations=3, max_completion_length=8,
                  sft_steps=0, batch_size=4, max_len=96, device="cpu", progress=False, seed=0)
    return BonConfig(**{**values, **overrides})


class Longest:
    """A stand-in teacher that prefers longer completions, and remembers what it was shown."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, prompts, completions, **_):
        self.seen += completions
        return [float(len(c)) for c in completions]


def test_the_best_of_each_group_is_kept(policy, tokenizer):
    model, tokenizer = load_policy(policy)
    rows = [{"id": f"p{k}", "prompt": f"{k} + 1", "answer": str(k + 1), "verifier": "math", "task": "arithmetic"}
            for k in range(4)]
    teacher = Longest()
    cfg = settings(policy, "unused", temperature=1.5)
    kept, stats = sample_round(model, tokenizer, rows, cfg, template="User: {prompt}\nAssistant:",
                               rubric=Rubric(["accuracy"]), reward=teacher)
    assert len(teacher.seen) == 12 and stats["samples"] == 12 and stats["kept"] == 4
    for k, row in enumerate(kept):
        group = teacher.seen[3 * k:3 * k + 3]
        assert row["completion"] == max(group, key=len) and row["score"] == len(row["completion"])
        assert row["id"] == f"p{k}" and row["answer"] == str(k + 1)  # the problem row comes along
    assert stats["sample_rm_score"] == pytest.approx(sum(map(len, teacher.seen)) / 12)
    assert stats["sample_accuracy"] is not None  # every sample judged by the verifiers too


def test_pick_best_honours_eligibility():
    assert pick_best([3.0, 5.0, 4.0], [True, False, True]) == 2
    assert pick_best([1.0, 2.0], [False, False]) is None
    assert pick_best([None, None]) is None


def test_the_written_set_is_what_sft_trains_on(policy, reward_model, tmp_path, tokenizer):
    last = bon(settings(policy, tmp_path / "bon", reward_model=str(reward_model)))
    written = tmp_path / "bon" / "rounds" / "000" / "sft.jsonl"
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(rows) == 6 == last["kept"] and all("completion" in r for r in rows)
    data, skipped = build_sft_data(rows, tokenizer, "User: {prompt}\nAssistant:", max_len=96)
    assert skipped == 0
    for row, (_, labels) in zip(rows, data.examples):
        target = [t for t in labels if t != -100]
        assert tokenizer.decode(target) == row["completion"]  # verbatim, then EOS
        assert target[-1] == tokenizer.eos_id
    result = sft(SFTConfig(init_from=str(policy), problems=str(written), out_dir=str(tmp_path / "sft"),
                           template="plain", eval_problems=0, max_steps=2, batch_size=2, warmup_steps=0, max_len=96, max_new_tokens=16,
                           device="cpu", progress=False))
    assert result["step"] == 2


def test_rounds_train_on_their_picks_and_resume_keeps_them(policy, reward_model, tmp_path):
    cfg = settings(policy, tmp_path / "bon", reward_model=str(reward_model), rounds=2, sft_steps=2)
    bon(cfg)
    out = tmp_path / "bon"
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["round"] for r in history] == [1, 2]
    assert all("eval_accuracy" in r and "sample_rm_score" in r for r in history)
    second = json.loads((out / "rounds" / "001" / "sft" / "step_00000002" / "config.json").read_text())
    assert second["train"]["init_from"] == str(out / "rounds" / "000" / "sft" / "final")
    assert (out / "final" / "config.json").exists()
    before = (out / "metrics.jsonl").read_text()
    stamp = (out / "rounds" / "001" / "sft.jsonl").stat().st_mtime_ns
    again = bon(settings(policy, out, reward_model=str(reward_model), rounds=2, sft_steps=2, resume=True))
    assert again == history[-1] and (out / "metrics.jsonl").read_text() == before
    assert (out / "rounds" / "001" / "sft.jsonl").stat().st_mtime_ns == stamp  # not sampled again
    with pytest.raises(ValueError, match="holds an earlier run"):
        bon(cfg)


def test_picking_by_verifiers_keeps_only_correct_answers(policy, tmp_path, capsys):
    # an untrained model answers nothing correctly: there is nothing to keep, and the error says so
    code = rlvr(["bon", "--init-from", str(policy), "--out-dir", str(tmp_path / "v"), "--tasks", "arithmetic",
                 "--difficulty", "1", "--n-problems", "40", "--eval-problems", "0", "--template", "plain",
                 "--prompts-per-round", "3", "--num-generations", "2", "--max-completion-length", "4",
                 "--sft-steps", "0", "--device", "cpu", "--no-progress"])
    assert code == 2
    assert "no completion was kept from 6 samples" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--num-generations", "1"], "--num-generations must be at least 2"),
    (["--sft-steps", "0", "--rounds", "2"], "pass --rounds 1"),
    (["--rewards", "nonsense"], "--rewards 'nonsense'"),
])
def test_bad_settings_exit_2_naming_the_flag(policy, tmp_path, capsys, flags, message):
    assert rlvr(["bon", "--init-from", str(policy), "--out-dir", str(tmp_path / "x"), *flags]) == 2
    assert message in capsys.readouterr().err
