"""``rlvr rm``: a tiny reward model learns a rule that separates chosen from rejected (held-out pairwise accuracy
well above chance), bad rows are counted and named, its export is a reward model that transformers and
``LearnedReward`` read, and bad settings exit 2 naming the flag."""

import json
import random
from pathlib import Path

import pytest
import torch

from train.cli import main as rlvr
from train.learned_reward import LearnedReward
from train.rm import RMConfig, rm

pytestmark = pytest.mark.usefixtures("single_thread")


def rule_pairs(n: int, seed: int = 0) -> list[dict]:
    """Pairs a simple rule separates: the chosen answer is even, the rejected one odd."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randrange(40), rng.randrange(6)
        even, odd = 2 * rng.randrange(20), 2 * rng.randrange(20) + 1
        rows.append({"prompt": f"Problem: {a} + {b}", "chosen": f" <answer>{even}</answer>",
                     "rejected": f" <answer>{odd}</answer>"})
    return rows


def write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def config(policy, pairs, out, **overrides) -> RMConfig:
    settings = dict(init_from=str(policy), pairs=str(pairs), out_dir=str(out), template="plain", batch_size=16,
                    max_length=64, lr=3e-3, warmup_steps=2, max_steps=40, eval_every=20, eval_fraction=0.2,
                    device="cpu", progress=False, seed=0)
    return RMConfig(**{**settings, **overrides})


def test_a_tiny_reward_model_learns_a_simple_rule(policy, tmp_path, capsys):
    rows = rule_pairs(300)
    bad = [{**rows[0], "rejected": ""}, {**rows[1], "rejected": rows[1]["chosen"]},
           {**rows[2], "chosen": " 1" * 80}]
    pairs = write(tmp_path / "pairs.jsonl", [*rows, *bad])
    last = rm(config(policy, pairs, tmp_path / "rm"))
    assert f"skipped 1 pair(s), identical: {pairs}:302" in capsys.readouterr().err
    history = metrics(tmp_path / "rm")
    start = history[0]
    assert start["step"] == 0 and start["pairs"] == 300
    assert (start["skipped/empty"], start["skipped/identical"], start["skipped/too_long"]) == (1, 1, 1)
    assert start["train_pairs"] + start["eval_pairs"] == 300 and start["eval_pairs"] > 20
    assert last["eval_accuracy"] >= 0.9 and last["eval_accuracy"] > start["eval_accuracy"] + 0.3
    assert last["eval_margin"] > 0 and last["eval_loss"] < start["eval_loss"]
    for key in ("loss", "accuracy", "margin", "mean_reward", "grad_norm", "pairs_per_s", "eval_mean_reward",
                "eval_std_reward", "eval_min_reward", "eval_max_reward"):
        assert key in last, key

    # the export is a reward model: transformers scores as we do, and it ranks unseen pairs by the rule
    from transformers import AutoModelForSequenceClassification

    final = tmp_path / "rm" / "final"
    assert AutoModelForSequenceClassification.from_pretrained(final).config.num_labels == 1
    reward = LearnedReward(final, device="cpu")
    unseen = rule_pairs(50, seed=1)
    prompts = [f"User: {r['prompt']}\nAssistant:" for r in unseen]
    chosen = reward(prompts, [r["chosen"] for r in unseen])
    rejected = reward(prompts, [r["rejected"] for r in unseen])
    assert sum(c > r for c, r in zip(chosen, rejected)) >= 45
    # a run folder loads as the same reward model
    assert LearnedReward(tmp_path / "rm", device="cpu")(prompts[:3], [r["chosen"] for r in unseen[:3]]) == \
        pytest.approx(chosen[:3], abs=1e-5)


def test_packed_pairs_train_as_unpacked_ones(policy, tmp_path):
    pairs = write(tmp_path / "pairs.jsonl", rule_pairs(64))
    plain = rm(config(policy, pairs, tmp_path / "plain", max_steps=4, eval_every=0))
    packed = rm(config(policy, pairs, tmp_path / "packed", max_steps=4, eval_every=0, pack_pairs=True))
    for key in ("loss", "accuracy", "eval_loss", "eval_accuracy", "eval_mean_reward"):
        assert packed[key] == pytest.approx(plain[key], rel=1e-3, abs=1e-4), key


def test_starts_from_a_reward_model_and_refuses_a_policy_as_one(policy, tmp_path):
    pairs = write(tmp_path / "pairs.jsonl", rule_pairs(64))
    rm(config(policy, pairs, tmp_path / "first", max_steps=3, eval_every=0))
    again = rm(config(tmp_path / "first" / "final", pairs, tmp_path / "second", max_steps=1, eval_every=0))
    start = metrics(tmp_path / "second")[0]
    assert start["eval_accuracy"] == metrics(tmp_path / "first")[-1]["eval_accuracy"]  # the head came along
    assert again["step"] == 1
    with pytest.raises(ValueError, match=r"a policy .*not a reward model"):
        LearnedReward(policy, device="cpu")


def test_bad_input_exits_2_naming_the_row_or_flag(policy, tmp_path, capsys):
    good = rule_pairs(40)
    cases = {
        "not text": (write(tmp_path / "a.jsonl", [*good, {"prompt": "p", "chosen": 3, "rejected": "x"}]),
                     [], "a.jsonl:41: 'chosen' must be text, got int"),
        "too few": (write(tmp_path / "b.jsonl", good[:5]), [], "fewer than one batch of 16"),
        "all skipped": (write(tmp_path / "c.jsonl", [{**r, "rejected": r["chosen"]} for r in good]), [],
                        "0 usable, skipped {'identical': 40}"),
        "fraction": (tmp_path / "a.jsonl", ["--eval-fraction", "1"], "--eval-fraction must be in"),
        "length": (tmp_path / "a.jsonl", ["--max-length", "100000"], "exceeds the model's max_position_embeddings"),
    }
    for name, (pairs, extra, message) in cases.items():
        code = rlvr(["rm", "--init-from", str(policy), "--pairs", str(pairs), "--out-dir", str(tmp_path / name),
                     "--device", "cpu", "--no-progress", "--template", "plain", *extra])
        assert code == 2, name
        assert message in capsys.readouterr().err, name
    assert rlvr(["rm", "--pairs", str(tmp_path / "a.jsonl")]) == 2
    assert "--init-from is required" in capsys.readouterr().err
    assert torch.get_num_threads() == 1


class Crash(Exception):
    pass


def test_resume_continues_exactly(policy, tmp_path, monkeypatch):
    """Killed in step 5 (checkpoints at 2 and 4), then --resume: steps 5-6 as in an uninterrupted run."""
    import train.rm

    pairs = write(tmp_path / "pairs.jsonl", rule_pairs(96))
    settings = dict(max_steps=6, save_every=2, keep_last=0, eval_every=3)
    full = rm(config(policy, pairs, tmp_path / "full", **settings))
    step = train.rm._train_step
    calls = []

    def crash_at_five(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise Crash
        return step(*args, **kwargs)

    monkeypatch.setattr(train.rm, "_train_step", crash_at_five)
    with pytest.raises(Crash):
        rm(config(policy, pairs, tmp_path / "part", **settings))
    monkeypatch.setattr(train.rm, "_train_step", step)
    resumed = rm(config(policy, pairs, tmp_path / "part", resume=True, **settings))
    timings = ("step_time", "pairs_per_s")
    ours, theirs = metrics(tmp_path / "part"), metrics(tmp_path / "full")
    assert [r["step"] for r in ours] == [0, 1, 2, 3, 4, 5, 6]
    for a, b in zip(ours, theirs, strict=True):
        assert {k: v for k, v in a.items() if k not in timings} == pytest.approx(
            {k: v for k, v in b.items() if k not in timings}, rel=1e-5, abs=1e-6)
    assert resumed["eval_accuracy"] == full["eval_accuracy"]
    reload = [LearnedReward(tmp_path / run / "final", device="cpu")(["User: 1 + 1\nAssistant:"], [" 2"])[0]
              for run in ("part", "full")]
    assert reload[0] == pytest.approx(reload[1], abs=1e-6)


def test_two_process_ddp_run_equals_one_process_with_the_global_batch(policy, tmp_path, torchrun):
    pairs = write(tmp_path / "pairs.jsonl", rule_pairs(96))
    rm(config(policy, pairs, tmp_path / "single", max_steps=4, eval_every=2))
    out = tmp_path / "ddp"
    torchrun("-m", "train.rm", "--init-from", str(policy), "--pairs", str(pairs), "--out-dir", str(out),
             "--template", "plain", "--batch-size", "8", "--max-length", "64", "--lr", "3e-3", "--warmup-steps", "2",
             "--max-steps", "4", "--eval-every", "2", "--eval-fraction", "0.2", "--device", "cpu", "--no-progress")
    ours, theirs = metrics(out), metrics(tmp_path / "single")
    assert [r["step"] for r in ours] == [r["step"] for r in theirs] == [0, 1, 2, 3, 4]  # rank 0 alone logs
    for a, b in zip(ours[1:], theirs[1:]):
        for key in ("loss", "accuracy", "margin", "mean_reward", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-4), key
    assert ours[-1]["eval_accuracy"] == theirs[-1]["eval_accuracy"]
