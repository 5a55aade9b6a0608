"""``rlvr dpo`` on CPU with a tiny model: it learns from given pairs (sigmoid, ipo, hinge, simpo; RPO lowers the
chosen NLL), iterative rounds sample, pair and train with each round's starting model as the reference, a round
without pairs is skipped, runs resume exactly (also in the middle of a round, reusing the round's pairs), gradient
accumulation and two-process DDP equal one larger batch, and bad configs exit with code 2 naming the flag.

Iterative rounds use a scripted engine (``ScriptedEngine``): a tiny model that answers some problems right and
some wrong would take an SFT run; the script samples right, wrong and malformed answers from torch's global RNG,
as the engine does, so a regenerated round differs from a reused one unless the RNG was restored."""

import json
import math
import random
import re
from pathlib import Path
from typing import ClassVar

import pytest
import torch

import train.dpo
from train.cli import main as rlvr
from train.dpo import DPOConfig, dpo
from train.dpo_loss import collate_pairs, encode_pairs, pair_logprobs
from train.engine import Generation
from train.load import load_policy

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = ("step_time", "pairs_per_s")  # differ from run to run; everything else in a row must repeat


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def pair(a: int, b: int) -> dict:
    """The correct sum chosen over a systematically wrong one (the sum with a 0 appended: ten times too big)."""
    s = a + b
    return {"prompt": f"What is {a} + {b}?", "chosen": f" <think>{a} + {b} = {s}</think> <answer>{s}</answer>",
            "rejected": f" <think>{a} + {b} = {s}</think> <answer>{s}0</answer>"}


ALL_PAIRS = [pair(a, b) for a in range(10) for b in range(5)]
random.Random(0).shuffle(ALL_PAIRS)
TRAIN_PAIRS, HELD_OUT_PAIRS = ALL_PAIRS[:40], ALL_PAIRS[40:]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """``pairs.jsonl`` (the training pairs) and ``problems.jsonl`` ("What is A + B?" with gold answers)."""
    folder = tmp_path_factory.mktemp("data")
    write_jsonl(folder / "pairs.jsonl", TRAIN_PAIRS)
    problems = [{"id": f"add/{a}/{b}", "task": "add", "prompt": f"What is {a} + {b}?", "answer": str(a + b),
                 "solution": f"{a} + {b} = {a + b}", "verifier": "math"} for a in range(12) for b in range(6)]
    write_jsonl(folder / "problems.jsonl", problems)
    return folder


def config(policy: Path, out: Path, **overrides) -> DPOConfig:
    settings = dict(init_from=str(policy), out_dir=str(out), template="plain", eval_problems=0, batch_size=8,
                    max_length=128, lr=1e-2, beta=0.5, warmup_steps=2, max_steps=16, device="cpu", progress=False,
                    seed=0)
    return DPOConfig(**{**settings, **overrides})


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def without_timings(metrics: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in metrics]


def same_numbers(resumed: list[dict], expected: list[dict]) -> None:
    """Equal rows, floats to a tolerance (a resumed run repeats the uninterrupted one's arithmetic)."""
    assert len(resumed) == len(expected)
    for ours, theirs in zip(without_timings(resumed), without_timings(expected)):
        assert ours.keys() == theirs.keys(), (ours, theirs)
        for key, value in theirs.items():
            if isinstance(value, float):
                assert ours[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (key, ours, theirs)
            else:
                assert ours[key] == value, (key, ours, theirs)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    model, _ = load_policy(folder)
    return model.state_dict()


def same_weights(a: Path, b: Path, atol: float = 1e-6) -> bool:
    x, y = weights(a), weights(b)
    return x.keys() == y.keys() and all(torch.allclose(x[k], y[k], atol=atol, rtol=0) for k in x)


@torch.no_grad()
def logprobs(folder: Path, pairs: list[dict]):
    """Chosen and rejected log-probs of ``pairs`` under the model in ``folder``, measured outside the trainer."""
    model, tokenizer = load_policy(folder)
    model.eval()
    examples, skipped = encode_pairs(tokenizer, pairs, "plain", 128)
    assert skipped == 0
    return pair_logprobs(model, collate_pairs(examples, tokenizer.pad_id))


def margin(folder: Path, pairs: list[dict]) -> float:
    out = logprobs(folder, pairs)
    return (out.chosen - out.rejected).mean().item()


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


class Crash(Exception):
    """Stands in for a kill: raised from ``on_step`` or from the sampler."""


def crash_at(step: int):
    def on_step(row: dict) -> None:
        if row["step"] == step:
            raise Crash(step)
    return on_step


# ---------------------------------------------------------------------------------------------
# Learning from given pairs


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "hinge", "simpo"])
def test_a_tiny_model_learns_to_prefer_the_chosen_answers(policy, data, tmp_path, loss_type):
    out = tmp_path / "run"
    seen = []
    last = dpo(config(policy, out, pairs=str(data / "pairs.jsonl"), loss_type=loss_type), on_step=seen.append)
    metrics = rows(out)
    assert [r["step"] for r in metrics] == list(range(1, 17)) and {r["round"] for r in metrics} == {1}
    assert seen == metrics and last == metrics[-1]  # on_step sees every row; the last one is returned
    for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                "logps/rejected", "nll", "grad_norm", "tokens", "lr"):
        assert key in last, key
    assert metrics[0]["round/pairs"] == 40 and metrics[0]["round/skipped_too_long"] == 0
    assert not any(k.startswith("round/") for r in metrics[1:] for k in r)  # at the round's first step only

    # the policy starts at the reference: zero implicit rewards, and each loss at its value for a zero margin
    first = metrics[0]
    if loss_type != "simpo":
        assert first["rewards/chosen"] == pytest.approx(0, abs=1e-4)
        assert first["rewards/margins"] == pytest.approx(0, abs=1e-4)
        expected = {"sigmoid": math.log(2), "ipo": (1 / (2 * 0.5)) ** 2, "hinge": 1.0}[loss_type]
        assert first["loss"] == pytest.approx(expected, abs=1e-4)

    # learnt: the last steps rank nearly every pair right, and, measured outside the trainer, the policy moved
    # towards the chosen answers (relative to where it started) and its margin grew, on held-out pairs too
    assert mean(r["rewards/accuracies"] for r in metrics[-8:]) >= 0.85, [r["rewards/accuracies"] for r in metrics]
    assert mean(r["loss"] for r in metrics[-4:]) < first["loss"]
    for pairs in (TRAIN_PAIRS, HELD_OUT_PAIRS):
        before, after = logprobs(policy, pairs), logprobs(out / "final", pairs)
        implicit = (after.chosen - before.chosen) - (after.rejected - before.rejected)
        assert (implicit > 0).float().mean() >= 0.8, (loss_type, implicit)
        assert margin(out / "final", pairs) > margin(policy, pairs) + 2, loss_type

    # the round's pairs and (except for the reference-free simpo) reference log-probs, kept in rounds/000
    folder = out / "rounds" / "000"
    assert (folder / "done").exists()
    assert [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()] == TRAIN_PAIRS
    assert json.loads((folder / "stats.json").read_text()) == {"pairs": 40, "skipped_too_long": 0}
    if loss_type == "simpo":
        assert not (folder / "ref_logps.pt").exists()
    else:
        ref = torch.load(folder / "ref_logps.pt")
        initial = logprobs(policy, TRAIN_PAIRS)
        assert ref.shape == (40, 2)
        assert torch.allclose(ref, torch.stack([initial.chosen, initial.rejected], 1), atol=1e-4)
    assert (out / "final" / "model.safetensors").is_file() and (out / "step_00000016").is_dir()


def test_rpo_lowers_the_chosen_nll_more_than_dpo_alone(policy, data, tmp_path):
    runs = {}
    for alpha in (0.0, 1.0):
        runs[alpha] = tmp_path / f"rpo{alpha}"
        dpo(config(policy, runs[alpha], pairs=str(data / "pairs.jsonl"), rpo_alpha=alpha))
    plain, rpo = rows(runs[0.0]), rows(runs[1.0])
    assert plain[0]["nll"] == rpo[0]["nll"]  # the same model, pairs and batch at step 1
    assert rpo[0]["loss"] == pytest.approx(plain[0]["loss"] + rpo[0]["nll"], abs=1e-4)  # DPO + alpha * NLL
    assert mean(r["nll"] for r in rpo[-4:]) < mean(r["nll"] for r in plain[-4:]) - 0.5, (plain, rpo)
    for pairs in (TRAIN_PAIRS, HELD_OUT_PAIRS):
        assert logprobs(runs[1.0] / "final", pairs).chosen_nll < logprobs(runs[0.0] / "final", pairs).chosen_nll - 0.5
    assert mean(r["rewards/accuracies"] for r in rpo[-8:]) >= 0.85  # still learns the preference


def test_gradient_accumulation_matches_the_larger_batch(policy, data, tmp_path):
    """Two micro-batches of 4 pairs are one batch of 8 (the same pairs, in the same order): the same metrics and
    weights up to float rounding (which Adam magnifies in weights whose gradient is nearly 0: hence lr 1e-3)."""
    big, accumulated = tmp_path / "big", tmp_path / "accum"
    settings = dict(pairs=str(data / "pairs.jsonl"), max_steps=6, lr=1e-3)
    dpo(config(policy, big, **settings))
    dpo(config(policy, accumulated, batch_size=4, grad_accum=2, **settings))
    for ours, theirs in zip(rows(accumulated), rows(big), strict=True):
        for key in ("loss", "rewards/chosen", "rewards/margins", "rewards/accuracies", "logps/chosen",
                    "logps/rejected"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=1e-4), key
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-3)
        assert ours["tokens"] == theirs["tokens"]
    assert same_weights(accumulated / "final", big / "final", atol=1e-4)
    assert not same_weights(big / "final", policy, atol=1e-3)  # they did train


def test_packed_pairs_train_as_unpacked_ones(policy, data, tmp_path):
    """--pack-pairs (one row per pair, the prompt computed once) gives the same reference log-probs, metrics
    and weights as two rows per pair, up to float rounding."""
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    settings = dict(pairs=str(data / "pairs.jsonl"), max_steps=4, lr=1e-3)
    dpo(config(policy, plain, **settings))
    dpo(config(policy, packed, pack_pairs=True, **settings))
    ref_plain = torch.load(plain / "rounds" / "000" / "ref_logps.pt")
    assert torch.allclose(torch.load(packed / "rounds" / "000" / "ref_logps.pt"), ref_plain, atol=1e-4)
    for ours, theirs in zip(rows(packed), rows(plain), strict=True):
        for key in ("loss", "rewards/margins", "logps/chosen", "logps/rejected", "nll"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=1e-4), key
        assert ours["tokens"] == theirs["tokens"]
    assert same_weights(packed / "final", plain / "final", atol=1e-4)


def test_resume_continues_exactly(policy, data, tmp_path):
    """Killed after step 5 (checkpoints at 2 and 4), then --resume to 6: steps 5-6 as in an uninterrupted run."""
    full, part = tmp_path / "full", tmp_path / "part"
    settings = dict(pairs=str(data / "pairs.jsonl"), max_steps=6, save_every=2, keep_last=0)
    dpo(config(policy, full, **settings))
    with pytest.raises(Crash):
        dpo(config(policy, part, **settings), on_step=crash_at(5))
    assert sorted(p.name for p in part.glob("step_*")) == ["step_00000002", "step_00000004"]
    assert not (part / "final").exists() and [r["step"] for r in rows(part)] == [1, 2, 3, 4, 5]
    steps = []
    dpo(config(policy, part, resume=True, **settings), on_step=lambda row: steps.append(row["step"]))
    assert steps == [5, 6]  # from the checkpoint at step 4, not from the start
    same_numbers(rows(part), rows(full))  # the crashed attempt's step 5 was dropped, not repeated
    assert same_weights(part / "final", full / "final")

    # a fresh run in the folder is refused; with --overwrite the earlier run's rounds/ go too, or their pairs
    # would be trained on again instead of the new ones
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run.*--resume.*--overwrite"):
        dpo(config(policy, full, **settings))
    other = write_jsonl(tmp_path / "other.jsonl", HELD_OUT_PAIRS)
    dpo(config(policy, full, pairs=str(other), batch_size=4, max_steps=2, overwrite=True))
    assert [r["step"] for r in rows(full)] == [1, 2] and rows(full)[0]["round/pairs"] == 10
    kept = (full / "rounds" / "000" / "pairs.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in kept] == HELD_OUT_PAIRS
    assert torch.load(full / "rounds" / "000" / "ref_logps.pt").shape == (10, 2)


def test_a_non_finite_loss_stops_the_run_before_its_step_is_saved(policy, data, tmp_path, monkeypatch):
    """A step's metrics are read one step late (the GPU is kept busy), yet a NaN loss at step 3 still stops the run
    with a clear error before step 3 is checkpointed or logged."""
    calls = []

    def poisoned(*args, **kwargs):
        result = train.dpo_loss.preference_loss(*args, **kwargs)
        calls.append(1)
        return result._replace(losses=result.losses * math.nan) if len(calls) == 3 else result

    monkeypatch.setattr(train.dpo, "preference_loss", poisoned)
    out = tmp_path / "nan"
    with pytest.raises(FloatingPointError, match=r"loss is nan.*--lr or --beta"):
        dpo(config(policy, out, pairs=str(data / "pairs.jsonl"), max_steps=6, save_every=1, log_every=1))
    assert sorted(p.name for p in out.glob("step_*")) == ["step_00000001", "step_00000002"]
    assert [r["step"] for r in rows(out)] == [1, 2]


# ---------------------------------------------------------------------------------------------
# Iterative rounds


class ScriptedEngine:
    """Stands in for ``train.engine.Engine`` (as DPO samples with it): answers "What is A + B?" right (half the samples), wrong, or right
    but without the <think>/<answer> format, drawing on torch's global RNG as sampling does."""

    calls: ClassVar[list[int]] = []  # prompts per generate() call
    crash_on_call: ClassVar[int | None] = None  # raise Crash in this call (1-based)
    all_wrong_from_call: ClassVar[int | None] = None  # from this call on, every answer is wrong: no pairs

    def __init__(self, model, tokenizer, *, max_batch_size: int = 512, **kwargs):
        self.tokenizer, self.max_batch_size = tokenizer, max_batch_size

    def generate(self, prompts, *, num_samples=1, max_new_tokens=256, temperature=1.0, top_p=1.0, top_k=0):
        cls = type(self)
        cls.calls.append(len(prompts))
        if cls.crash_on_call == len(cls.calls):
            raise Crash(f"sampling call {len(cls.calls)}")
        wrong_only = cls.all_wrong_from_call is not None and len(cls.calls) >= cls.all_wrong_from_call
        out = []
        for k, ids in enumerate(prompts):
            a, b = map(int, re.search(r"What is (\d+) \+ (\d+)\?", self.tokenizer.decode(ids)).groups())
            s = a + b
            for _ in range(num_samples):
                kind, wrong = torch.randint(0, 4, ()).item(), s + torch.randint(1, 9, ()).item()
                if wrong_only or kind == 2:
                    text = f" <think>{a} + {b} = {wrong}</think> <answer>{wrong}</answer>"
                elif kind == 3:
                    text = f" {s}"
                else:
                    text = f" <think>{a} + {b} = {s}</think> <answer>{s}</answer>"
                out.append(Generation(k, self.tokenizer.encode(text), text, [], "stop"))
        return out


def scripted(cfg: DPOConfig, *, crash: bool = False, on_step=None, crash_on_call=None,
             all_wrong_from_call=None) -> list[int]:
    """Run ``dpo(cfg)`` with the scripted engine (expecting a ``Crash`` if ``crash``); return the prompts of each
    sampling call it made."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train.dpo, "Engine", ScriptedEngine)
        mp.setattr(ScriptedEngine, "calls", [])
        mp.setattr(ScriptedEngine, "crash_on_call", crash_on_call)
        mp.setattr(ScriptedEngine, "all_wrong_from_call", all_wrong_from_call)
        calls = ScriptedEngine.calls
        if crash:
            with pytest.raises(Crash):
                dpo(cfg, on_step=on_step)
        else:
            dpo(cfg, on_step=on_step)
    return calls


def iterative(policy: Path, data: Path, out: Path, **overrides) -> DPOConfig:
    """Two rounds of four steps: 8 problems x 4 samples, up to 2 pairs per problem, batches of 4 pairs."""
    settings = dict(problems=str(data / "problems.jsonl"), rounds=2, max_steps=8, prompts_per_round=8,
                    num_generations=4, pairs_per_prompt=2, max_completion_length=24, batch_size=4, save_every=3,
                    keep_last=0)
    return config(policy, out, **{**settings, **overrides})


@pytest.fixture(scope="module")
def two_rounds(policy, data, tmp_path_factory, one_thread):
    """An uninterrupted iterative run: (its folder, the sampling calls it made)."""
    out = tmp_path_factory.mktemp("iterative") / "run"
    calls = scripted(iterative(policy, data, out))
    return out, calls


def round_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines()]


def test_rounds_sample_pair_and_train_with_the_rounds_starting_model_as_reference(two_rounds, policy):
    out, calls = two_rounds
    assert calls == [8, 8]  # one sampling call per round, for its 8 problems
    metrics = rows(out)
    assert [r["step"] for r in metrics] == list(range(1, 9))
    assert [r["round"] for r in metrics] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert not any(r.get("skipped") for r in metrics)

    prompts = []
    for k, start in ((0, 1), (1, 5)):
        folder = out / "rounds" / f"{k:03d}"
        assert (folder / "done").exists()
        pairs = round_rows(folder)
        stats = json.loads((folder / "stats.json").read_text())
        # make_preferences' numbers, and the pairs encode_pairs skipped as too long
        assert stats["prompts"] == 8 and stats["samples"] == 32 and stats["prompts_skipped"] == 0
        assert stats["pairs"] == len(pairs) >= 4 and stats["skipped_too_long"] == 0
        assert 0 < stats["accuracy"] < 1 and 0 < stats["format"] < 1 and stats["unjudged"] == 0
        assert stats["prompts_with_pairs"] + stats["prompts_all_correct"] + stats["prompts_all_wrong"] >= 8
        assert sum(stats["pairs_by_reason"].values()) == stats["pairs"]
        assert set(stats["pairs_by_reason"]) == {"correct_vs_incorrect", "format_broken"}
        for row in pairs:
            assert row["chosen_score"] == 1.0 and row["chosen"] != row["rejected"] and row["template"] == "plain"
        prompts.append({row["prompt"] for row in pairs})
        # the round's stats at its first step (and at no other step, below)
        first = metrics[start - 1]
        assert {key: first[f"round/{key}"] for key in stats} == stats
        # each round's reference is the model it started from: the initial policy, then the model after step 4
        start_model = policy if k == 0 else out / "step_00000004"
        expected = logprobs(start_model, pairs)
        ref = torch.load(folder / "ref_logps.pt")
        assert torch.allclose(ref, torch.stack([expected.chosen, expected.rejected], 1), atol=1e-4)
        # so at the first step of each round the policy is its reference: no implicit reward, loss log 2
        assert first["rewards/margins"] == pytest.approx(0, abs=1e-4)
        assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert not any(key.startswith("round/") for r in metrics if r["step"] not in (1, 5) for key in r)
    assert not prompts[0] & prompts[1]  # each round samples a fresh slice of the problems
    assert metrics[3]["rewards/margins"] > 0 and metrics[7]["rewards/margins"] > 0
    assert not same_weights(out / "step_00000004", policy) and not same_weights(out / "final", out / "step_00000004")


def test_resume_in_the_middle_of_a_round_reuses_its_pairs(two_rounds, policy, data, tmp_path):
    """Killed at step 7 (last checkpoint: step 6, in round 2): the resumed run samples nothing, trains on round 2's
    pairs and reference log-probs from rounds/001 and ends as the uninterrupted run did."""
    full, _ = two_rounds
    out = tmp_path / "run"
    assert scripted(iterative(policy, data, out), crash=True, on_step=crash_at(7)) == [8, 8]
    assert max(p.name for p in out.glob("step_*")) == "step_00000006"
    pairs_before = (out / "rounds" / "001" / "pairs.jsonl").read_text()
    steps = []
    calls = scripted(iterative(policy, data, out, resume=True), on_step=lambda row: steps.append(row["step"]))
    assert calls == [] and steps == [7, 8]  # no sampling: a regenerated round would draw other samples
    assert (out / "rounds" / "001" / "pairs.jsonl").read_text() == pairs_before
    same_numbers(rows(out), rows(full))
    assert same_weights(out / "final", full / "final")


def test_resume_at_a_round_boundary_samples_the_next_round_as_the_uninterrupted_run(two_rounds, policy, data,
                                                                                    tmp_path):
    """Killed while sampling round 2 (last checkpoint: step 4, the end of round 1; rounds/001 unfinished): the
    resumed run samples round 2 again from the checkpoint's RNG state, so the same pairs and the same steps."""
    full, _ = two_rounds
    out = tmp_path / "run"
    assert scripted(iterative(policy, data, out), crash=True, crash_on_call=2) == [8, 8]
    assert max(p.name for p in out.glob("step_*")) == "step_00000004"
    assert not (out / "rounds" / "001" / "done").exists()
    calls = scripted(iterative(policy, data, out, resume=True))
    assert calls == [8]  # round 2 only
    assert round_rows(out / "rounds" / "001") == round_rows(full / "rounds" / "001")
    same_numbers(rows(out), rows(full))
    assert same_weights(out / "final", full / "final")


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step:UserWarning")
def test_a_round_without_pairs_is_skipped(policy, data, tmp_path, capsys):
    """Round 2's samples are all wrong: its steps are logged as skipped, the weights stay as round 1 left them."""
    out = tmp_path / "run"
    seen = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train.dpo, "Engine", ScriptedEngine)
        mp.setattr(ScriptedEngine, "calls", [])
        mp.setattr(ScriptedEngine, "all_wrong_from_call", 2)
        last = dpo(iterative(policy, data, out, max_steps=4, save_every=0), on_step=seen.append)
    metrics = rows(out)
    assert [r["step"] for r in metrics] == [1, 2, 3, 4] and [r["round"] for r in metrics] == [1, 1, 2, 2]
    assert not any(r.get("skipped") for r in metrics[:2])
    for r in metrics[2:]:
        assert r["skipped"] is True and r["round/pairs"] == 0 and r["round/accuracy"] == 0, r
        assert "loss" not in r and "grad_norm" not in r
    assert [r["step"] for r in seen] == [1, 2]  # on_step follows optimizer steps
    assert last == metrics[-1]  # the last metrics row, as for a trained step
    assert "dpo round 2: no pairs, its 2 step(s) are skipped" in capsys.readouterr().err
    assert json.loads((out / "rounds" / "001" / "stats.json").read_text())["pairs"] == 0
    assert (out / "rounds" / "001" / "done").exists()
    assert sorted(p.name for p in out.glob("step_*")) == ["step_00000002", "step_00000004"]
    assert same_weights(out / "final", out / "step_00000002", atol=0)
    assert not same_weights(out / "final", policy)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step:UserWarning")
def test_an_untrained_model_finds_no_pairs_and_every_round_is_skipped(policy, data, tmp_path, capsys):
    """The real engine and verifiers: random bytes are never a correct answer, so no round has a pair."""
    out = tmp_path / "run"
    code = rlvr(["dpo", "--init-from", str(policy), "--problems", str(data / "problems.jsonl"), "--template", "plain",
                 "--eval-problems", "0", "--rounds", "2", "--max-steps", "3", "--prompts-per-round", "3",
                 "--num-generations", "2", "--max-completion-length", "8", "--max-length", "128", "--device", "cpu",
                 "--no-progress", "--out-dir", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = rows(out)
    assert [(r["step"], r["round"], r["skipped"]) for r in metrics] == [(1, 1, True), (2, 1, True), (3, 2, True)]
    assert json.loads(captured.out.splitlines()[-1]) == metrics[-1]
    for k in range(2):
        stats = json.loads((out / "rounds" / f"{k:03d}" / "stats.json").read_text())
        assert stats["pairs"] == 0 and stats["accuracy"] == 0 and stats["samples"] == 6, stats
        assert (out / "rounds" / f"{k:03d}" / "done").exists()
    assert same_weights(out / "final", policy, atol=0)


# ---------------------------------------------------------------------------------------------
# The command line


def test_bad_configs_exit_2_naming_the_flag(policy, data, tmp_path, capsys):
    out = tmp_path / "out"
    no_rejected = {k: TRAIN_PAIRS[1][k] for k in ("prompt", "chosen")}
    broken = write_jsonl(tmp_path / "broken.jsonl", [TRAIN_PAIRS[0], no_rejected])
    base = ["--no-progress", "--device", "cpu", "--template", "plain", "--max-length", "128", "--eval-problems", "0",
            "--max-steps", "2", "--out-dir", str(out)]
    init = ["--init-from", str(policy)]
    pairs = ["--pairs", str(data / "pairs.jsonl")]
    cases = [
        ([*init, *pairs, "--rounds", "2"], ["--rounds", "--pairs"]),
        ([*init, *pairs, "--beta", "0"], ["--beta must be positive"]),
        ([*init, *pairs, "--label-smoothing", "0.6"], ["--label-smoothing must be in [0, 0.5)", "0.6"]),
        ([*init, *pairs, "--label-smoothing", "0.1", "--loss-type", "ipo"], ["--label-smoothing", "not ipo"]),
        ([*init, "--strategies", "nonsense"], ["--strategies", "unknown nonsense", "correct_vs_incorrect"]),
        ([*init, "--rounds", "3"], ["--rounds 3 is more than --max-steps 2"]),
        ([*init, "--pairs", str(broken)], [f"{broken}:2", "'rejected'", "missing"]),
        ([*init, *pairs, "--rpo-alpha", "-1"], ["--rpo-alpha must be non-negative"]),
        ([*init, *pairs, "--batch-size", "0"], ["--batch-size must be at least 1"]),
        ([*init, "--num-generations", "0"], ["--num-generations must be at least 1"]),
        ([*init, "--temperature", "0"], ["--temperature must be positive"]),
        ([*init, *pairs, "--max-length", "512"], ["--max-length 512", "max_position_embeddings (128)"]),
        ([*init, "--pairs", str(tmp_path / "nowhere.jsonl")], ["nowhere.jsonl: no such file"]),
        ([*init, *pairs, "--cuda-graphs"], ["--cuda-graphs needs a CUDA device", "device cpu"]),
        ([*pairs], ["--init-from is required"]),
        (["--init-from", str(tmp_path / "nowhere"), *pairs], ["nowhere: no such model folder"]),
    ]
    for argv, words in cases:
        code = rlvr(["dpo", *base, *argv])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert err.startswith("rlvr dpo: error:") and "Traceback" not in err, (argv, err)
        for word in words:
            assert word in err, (argv, word, err)
    assert not out.exists()  # every error came before the run folder was made


# ---------------------------------------------------------------------------------------------
# DDP


def test_two_process_ddp_run_equals_one_process_with_the_global_batch(policy, data, tmp_path, torchrun):
    """torchrun, 2 CPU processes (Gloo), 4 pairs each: each step sees the 8 pairs of the single-process run with
    batch 8, split by rank; the losses, metrics and final weights agree (to float rounding, as with gradient
    accumulation); rank 0 alone logs and saves."""
    single = tmp_path / "single"
    dpo(config(policy, single, pairs=str(data / "pairs.jsonl"), max_steps=6, save_every=3, lr=1e-3))
    out = tmp_path / "ddp"
    args = ["--init-from", str(policy), "--pairs", str(data / "pairs.jsonl"), "--template", "plain",
            "--eval-problems", "0", "--batch-size", "4", "--max-length", "128", "--lr", "1e-3", "--beta", "0.5",
            "--warmup-steps", "2", "--max-steps", "6", "--save-every", "3", "--device", "cpu", "--no-progress",
            "--out-dir", str(out)]
    result = torchrun("-m", "train.dpo", *args)
    assert result.stdout.count("dpo round 1/1: 40 pairs") == 1  # rank 0 prints
    for ours, theirs in zip(rows(out), rows(single), strict=True):  # one line per step: rank 0 logs
        assert ours["step"] == theirs["step"]
        for key in ("loss", "rewards/chosen", "rewards/margins", "rewards/accuracies", "logps/chosen",
                    "logps/rejected"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-3, abs=1e-4), key
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-3)
        assert ours["tokens"] == theirs["tokens"], (rows(out), rows(single))
    assert sorted(p.name for p in out.glob("step_*")) == ["step_00000003", "step_00000006"]
    ddp_ref, single_ref = (torch.load(o / "rounds" / "000" / "ref_logps.pt") for o in (out, single))
    assert ddp_ref.shape == (40, 2) and torch.allclose(ddp_ref, single_ref, atol=1e-4)  # every rank holds all pairs
    assert same_weights(out / "final", single / "final", atol=1e-4)
