"""``rlvr prefs``: pair construction (never a completion against itself, never an unjudged completion
chosen, prompts with all-correct or all-wrong samples), sampling and judging with the engine, the files
written and read back, and bad flags or data reported with exit code 2 or a message naming the row."""

import json
from pathlib import Path

import datasets
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import train.prefs
from train.cli import main as rlvr
from train.engine import Generation
from train.load import make_problem_rows
from train.model import Transformer
from train.prefs import (
    COLUMNS,
    STRATEGIES,
    Sample,
    build_pairs,
    load_preferences,
    main,
    make_preferences,
    write_preferences,
)
from train.template import PLAIN, render_prompt
from verifiers.rewards import Judged


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


# ---------------------------------------------------------------------------------------------
# build_pairs


def sample(text: str, correct: bool | None, well_formed: bool, tokens: int) -> Sample:
    """A sampled completion judged ``correct`` (None: not judged) and ``well_formed``."""
    return Sample(text, tokens, Judged(None if correct is None else float(correct), correct=correct,
                                       well_formed=well_formed))


def valid_pair(strategy: str, chosen: Sample, rejected: Sample) -> bool:
    """The rules of each strategy, written out independently of the implementation."""
    c, r = chosen.judged, rejected.judged
    if c.correct is not True or not c.well_formed or chosen.text == rejected.text:
        return False
    if strategy == "correct_vs_incorrect":
        return r.correct is False
    if strategy == "shorter_correct":
        return r.correct is True and r.well_formed and chosen.tokens < rejected.tokens
    return not r.well_formed


# few texts, so that duplicates (as from low-temperature sampling) are common
scored = st.builds(sample, text=st.sampled_from("abcdefg"), correct=st.sampled_from([True, False, None]),
                   well_formed=st.booleans(), tokens=st.integers(0, 4))
strategy_lists = st.lists(st.sampled_from(STRATEGIES), min_size=1, max_size=3, unique=True)


@settings(max_examples=400, deadline=None)
@given(st.lists(scored, max_size=10), strategy_lists, st.integers(1, 6), st.integers(0, 2**32))
def test_every_pair_follows_its_strategy_and_as_many_as_exist_are_found(samples, strategies, k, seed):
    pairs = build_pairs(samples, strategies=strategies, pairs_per_prompt=k, seed=seed)
    assert pairs == build_pairs(samples, strategies=strategies, pairs_per_prompt=k, seed=seed)  # deterministic
    assert len(pairs) <= k
    for c, r, reason in pairs:
        assert c != r and samples[c].text != samples[r].text  # never against itself, nor a copy of itself
        assert samples[c].judged.correct is True and samples[c].judged.well_formed  # an unjudged one: never chosen
        assert reason in strategies and valid_pair(reason, samples[c], samples[r])
        if reason != "format_broken":  # the correctness strategies never reject what they could not judge
            assert samples[r].judged.correct is not None
    texts = [(samples[c].text, samples[r].text) for c, r, _ in pairs]
    assert len(set(texts)) == len(texts)  # distinct pairs
    possible = {(a.text, b.text) for a in samples for b in samples for s in strategies if valid_pair(s, a, b)}
    assert len(pairs) == min(k, len(possible))  # none missed: [] exactly when no pair exists


@settings(max_examples=200, deadline=None)
@given(st.lists(scored, max_size=10), strategy_lists, st.integers(1, 6), st.integers(0, 2**32))
def test_prompts_with_all_correct_or_all_wrong_samples(samples, strategies, k, seed):
    all_wrong = [sample(s.text, s.judged.correct and None, s.judged.well_formed, s.tokens) for s in samples]
    assert build_pairs(all_wrong, strategies=strategies, pairs_per_prompt=k, seed=seed) == []  # False or None
    all_correct = [sample(s.text, True, s.judged.well_formed, s.tokens) for s in samples]
    assert build_pairs(all_correct, strategies=["correct_vs_incorrect"], pairs_per_prompt=k, seed=seed) == []
    perfect = [sample(s.text, True, True, s.tokens) for s in samples]
    assert build_pairs(perfect, strategies=["correct_vs_incorrect", "format_broken"], pairs_per_prompt=k,
                       seed=seed) == []
    for c, r, _ in build_pairs(perfect, strategies=["shorter_correct"], pairs_per_prompt=k, seed=seed):
        assert perfect[c].tokens < perfect[r].tokens  # all correct: only length can tell them apart


def test_pairs_spread_over_strategies_and_completions():
    right = [sample(f"<answer>4</answer>{'.' * n}", True, True, 5 + n) for n in range(2)]
    wrong = [sample(f"<answer>{n}</answer>", False, True, 5) for n in (5, 6)]
    broken = sample("4", True, False, 1)
    pairs = build_pairs(right + wrong, pairs_per_prompt=2)
    assert {c for c, _, _ in pairs} == {0, 1} and {r for _, r, _ in pairs} == {2, 3}  # four texts, not two
    pairs = build_pairs(right + wrong + [broken], strategies=["correct_vs_incorrect", "format_broken"],
                        pairs_per_prompt=2)
    assert [reason for _, _, reason in pairs] == ["correct_vs_incorrect", "format_broken"]
    choices = {tuple(build_pairs(right + wrong, seed=seed)) for seed in range(20)}
    assert len(choices) > 1  # the seed picks among the candidates


def test_copies_and_unjudged_completions_make_no_pairs():
    same = sample("<answer>4</answer>", True, True, 5)
    assert build_pairs([same, same, sample("<answer>4</answer>", False, False, 5)],
                       strategies=STRATEGIES, pairs_per_prompt=5) == []  # one text: nothing to compare
    unjudged = sample("<think>hmm</think> <answer>?</answer>", None, True, 9)
    assert build_pairs([same, unjudged], strategies=STRATEGIES, pairs_per_prompt=5) == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown strategy 'longest'; choose from correct_vs_incorrect"):
        build_pairs([], strategies=["longest"])
    with pytest.raises(ValueError, match="pairs_per_prompt must be at least 1"):
        build_pairs([], pairs_per_prompt=0)


# ---------------------------------------------------------------------------------------------
# make_preferences


class ScriptedEngine:
    """Stands in for train.engine.Engine: each question's completions come from a script, not a model."""

    max_batch_size = 4  # with 4 generations: one prompt per batch, so several batches

    def __init__(self, tokenizer, scripts: dict[str, list[str]]):
        self.tokenizer, self.scripts, self.calls = tokenizer, scripts, []

    def generate(self, prompts, *, num_samples, max_new_tokens, temperature, top_p):
        self.calls.append((len(prompts), num_samples, max_new_tokens, temperature, top_p))
        out = []
        for k, ids in enumerate(prompts):
            question = next(q for q in self.scripts if q in self.tokenizer.decode(ids))
            texts = self.scripts[question]
            assert len(texts) == num_samples
            out += [Generation(k, self.tokenizer.encode(t), t, [], "stop") for t in texts]
        return out


GOOD = " <think>2 + 2 = 4</think> <answer>4</answer>"
SHORT = " <think>4</think> <answer>4</answer>"
SCRIPTS = {
    "What is 2 + 2?": [GOOD, SHORT, " <think>2 + 2 = 5</think> <answer>5</answer>", "4"],  # mixed
    "What is 1 + 1?": [" <think>1 + 1 = 2</think> <answer>2</answer>", " <think>2</think> <answer>2</answer>",
                       " <answer>2</answer>", "2"],  # all correct
    "What is 3 + 3?": [" <think>3 + 3 = 7</think> <answer>7</answer>", "7", "<think>hmm</think>", "no idea"],  # none
}
ROWS = [{"id": f"add/{q[8]}", "task": "add", "prompt": q, "answer": str(2 * int(q[8])), "solution": "",
         "verifier": "math"} for q in SCRIPTS]


def test_make_preferences_samples_judges_and_pairs(tokenizer, tiny_config):
    model = Transformer(tiny_config)
    engine = ScriptedEngine(tokenizer, SCRIPTS)
    long_row = {**ROWS[0], "id": "long", "prompt": "What is 2 + 2? " + "Think hard. " * 40}
    pairs, stats = make_preferences(model, tokenizer, [*ROWS, long_row], template="plain", num_generations=4,
                                    max_new_tokens=8, temperature=0.7, top_p=0.9, pairs_per_prompt=3,
                                    strategies=["correct_vs_incorrect", "format_broken"], engine=engine)
    assert engine.calls == [(1, 4, 8, 0.7, 0.9)] * 3
    assert stats == {"prompts": 3, "prompts_skipped": 1, "samples": 12, "accuracy": 0.58333, "unjudged": 0.08333,
                     "format": 0.5, "pairs": 6, "pairs_by_reason": {"correct_vs_incorrect": 2, "format_broken": 4},
                     "prompts_all_correct": 1, "prompts_all_wrong": 1, "prompts_with_pairs": 2}
    for row in pairs:
        assert list(row) == list(COLUMNS)
        assert row["question"] in SCRIPTS and row["template"] == "plain" and row["task"] == "add"
        assert row["templated"] and row["prompt"] == render_prompt(row["question"], PLAIN)
        assert row["chosen_score"] == 1.0 and row["chosen"] != row["rejected"]
        assert row["rejected_score"] == (0.0 if row["reason"] == "correct_vs_incorrect" else 1.0)
    first = [r for r in pairs if r["id"] == "add/2"]
    assert len(first) == 3 and {r["chosen"] for r in first} == {GOOD, SHORT}
    assert {r["reason"] for r in pairs if r["id"] == "add/1"} == {"format_broken"}  # all correct
    assert not [r for r in pairs if r["id"] == "add/3"]  # none correct: nothing to choose

    # the template may be given by its text; the shorter strategy compares token counts
    pairs, stats = make_preferences(model, tokenizer, ROWS[:1], template=PLAIN, num_generations=4, max_new_tokens=8,
                                    strategies="shorter_correct", engine=ScriptedEngine(tokenizer, SCRIPTS))
    assert [(r["chosen"], r["rejected"], r["template"]) for r in pairs] == [(SHORT, GOOD, "plain")]
    with pytest.raises(ValueError, match="num_generations must be at least 2"):
        make_preferences(model, tokenizer, ROWS, template="plain", num_generations=1, engine=engine)
    with pytest.raises(ValueError, match="template 'chat'"):
        make_preferences(model, tokenizer, ROWS, template="chat", engine=engine)


def test_make_preferences_with_the_engine_and_an_untrained_model(tokenizer, tiny_config):
    torch.manual_seed(0)
    rows = make_problem_rows("arithmetic", 5, 0, "1")
    pairs, stats = make_preferences(Transformer(tiny_config), tokenizer, rows, template="plain", num_generations=3,
                                    max_new_tokens=6, strategies=STRATEGIES, pairs_per_prompt=2)
    assert stats["prompts"] + stats["prompts_skipped"] == 5 and stats["samples"] == 3 * stats["prompts"]
    assert stats["pairs"] == len(pairs) == sum(stats["pairs_by_reason"].values())
    assert stats["prompts_with_pairs"] <= stats["prompts"] - stats["prompts_all_wrong"]
    assert 0 <= stats["accuracy"] <= 1 and 0 <= stats["format"] <= 1
    assert stats["format"] == 0 and pairs == []  # random bytes are never in the <think>/<answer> format


# ---------------------------------------------------------------------------------------------
# Files and the command line


@pytest.fixture
def problems(tmp_path) -> Path:
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def args(policy: Path, problems: Path, out: Path, *extra: str) -> list[str]:
    return ["--init-from", str(policy), "--problems", str(problems), "--template", "plain", "--num-generations", "4",
            "--max-new-tokens", "6", "--device", "cpu", "--no-progress", "--out", str(out), *extra]


def test_bad_flags_exit_2_naming_the_flag(policy, problems, tmp_path, capsys):
    out = tmp_path / "prefs.jsonl"
    cases = [
        (["--strategies", "correct_vs_incorrect,longest"], ["--strategies", "unknown strategy 'longest'",
                                                            "shorter_correct"]),
        (["--strategies", ""], ["--strategies", "no strategy"]),
        (["--num-generations", "1"], ["--num-generations must be at least 2"]),
        (["--pairs-per-prompt", "0"], ["--pairs-per-prompt must be at least 1"]),
        (["--max-new-tokens", "0"], ["--max-new-tokens must be at least 1"]),
        (["--temperature", "0"], ["--temperature must be positive"]),
        (["--top-p", "1.5"], ["--top-p must be in (0, 1]"]),
        (["--out", str(tmp_path / "prefs.csv")], ["--out", "prefs.csv", ".jsonl or .parquet"]),
        (["--out", ""], ["--out is required"]),
        (["--init-from", ""], ["--init-from is required"]),
        (["--init-from", str(tmp_path / "nowhere")], ["nowhere: no such model folder"]),
    ]
    for extra, words in cases:
        code = main(args(policy, problems, out, *extra))
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert err.startswith("rlvr prefs: error:") and "Traceback" not in err, (extra, err)
        for word in words:
            assert word in err, (extra, word, err)
    assert not out.exists()


def test_an_untrained_model_finds_no_pairs_and_writes_nothing(policy, problems, tmp_path, capsys):
    out = tmp_path / "prefs.jsonl"
    assert main(args(policy, problems, out)) == 2
    err = capsys.readouterr().err
    assert "no preference pairs from 3 problems x 4 samples (accuracy" in err and "format 0.0%" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["prefs.jsonl", "prefs.parquet", "prefs"])
def test_rlvr_prefs_writes_a_dataset_in_trls_columns(policy, problems, tmp_path, capsys, monkeypatch, name):
    monkeypatch.setattr(train.prefs, "Engine", lambda model, tokenizer: ScriptedEngine(tokenizer, SCRIPTS))
    out = tmp_path / "data" / name
    argv = ["prefs", *args(policy, problems, out, "--strategies", "correct_vs_incorrect,shorter_correct",
                             "--pairs-per-prompt", "2")]
    assert rlvr(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    stats = json.loads(lines[-1])
    assert stats["pairs"] == 3 and stats["prompts_all_correct"] == 1 and stats["out"] == str(out)
    assert lines[0].startswith("prefs: 3 problems x 4 samples (accuracy 58.3%") and str(out) in lines[1]
    rows = load_preferences(out)
    assert [r["reason"] for r in rows] == ["correct_vs_incorrect", "shorter_correct", "shorter_correct"]
    assert all(list(r) == list(COLUMNS) for r in rows)
    assert rows[1]["chosen"] == SHORT and rows[1]["rejected"] == GOOD  # fewer tokens, both correct
    assert datasets.Dataset.from_list(rows).column_names[:3] == ["prompt", "chosen", "rejected"]

    assert rlvr(argv) == 2  # an existing output is refused ...
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert rlvr([*argv, "--overwrite"]) == 0  # ... unless asked
    assert load_preferences(out) == rows  # the same seed picks the same pairs
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary file left behind


def test_load_preferences_checks_every_row(tmp_path):
    good = {"prompt": "What is 2 + 2?", "chosen": "<answer>4</answer>", "rejected": "<answer>5</answer>", "x": 1}
    path = tmp_path / "user.jsonl"
    cases = [
        ({"prompt": "q", "chosen": "a"}, "user.jsonl:2: 'rejected' must be a non-empty string (missing)"),
        ({**good, "chosen": "  "}, "user.jsonl:2: 'chosen' must be a non-empty string (got str '  ')"),
        ({**good, "prompt": [{"role": "user", "content": "hi"}]}, "user.jsonl:2: 'prompt' must be a non-empty string"),
        ({**good, "rejected": None}, "user.jsonl:2: 'rejected' must be a non-empty string (got NoneType"),
    ]
    for bad, message in cases:
        path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(ValueError) as info:
            load_preferences(path)
        assert message in str(info.value)
    path.write_text(json.dumps(good) + "\n\n")
    assert load_preferences(path) == [good]  # other columns are kept

    parquet = tmp_path / "user.parquet"
    datasets.Dataset.from_list([good, {**good, "chosen": ""}]).to_parquet(str(parquet))
    with pytest.raises(ValueError, match=r"user.parquet: row 2: 'chosen' must be a non-empty string"):
        load_preferences(parquet)
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list([good]),
                          "test": datasets.Dataset.from_list([good])}).save_to_disk(str(folder))
    assert load_preferences(folder) == [good]
    datasets.DatasetDict({"test": datasets.Dataset.from_list([good])}).save_to_disk(str(tmp_path / "splits"))
    with pytest.raises(ValueError, match="splits test and no 'train' split"):
        load_preferences(tmp_path / "splits")

    path.write_text("")
    with pytest.raises(ValueError, match=r"user\.jsonl: no preference pairs"):
        load_preferences(path)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl: no such file"):
        load_preferences(tmp_path / "nowhere.jsonl")


def test_write_preferences_round_trips_each_format(tmp_path):
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b", "chosen_score": 1.0, "rejected_score": None,
             "reason": "format_broken", "id": "1", "task": "t", "answer": "a", "question": "q", "template": "plain",
             "templated": True}]
    for name in ("p.jsonl", "p.parquet", "p"):
        write_preferences(rows, tmp_path / name)
        assert load_preferences(tmp_path / name) == rows
    write_preferences(rows * 2, tmp_path / "p")  # replaces a saved folder
    assert len(load_preferences(tmp_path / "p")) == 2


def test_trl_dpo_trainer_reads_a_written_file(policy, tmp_path):
    """The file `rlvr prefs` writes, every column included, is a dataset TRL's DPOTrainer trains on."""
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = [{"prompt": render_prompt(f"{a} + {a}?", PLAIN), "chosen": f" <answer>{2 * a}</answer>",
             "rejected": f" <answer>{2 * a + 1}</answer>", "chosen_score": 1.0, "rejected_score": 0.0,
             "reason": "correct_vs_incorrect", "id": str(a), "task": "add", "answer": str(2 * a),
             "question": f"{a} + {a}?", "template": "plain", "templated": True} for a in range(8)]
    write_preferences(rows, tmp_path / "pairs.jsonl")
    dataset = datasets.load_dataset("json", data_files=str(tmp_path / "pairs.jsonl"), split="train")
    config = trl.DPOConfig(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=4, max_steps=1,
                           report_to="none", bf16=False, use_cpu=True, save_strategy="no")
    trainer = trl.DPOTrainer(model=AutoModelForCausalLM.from_pretrained(policy), args=config,
                             train_dataset=dataset, processing_class=AutoTokenizer.from_pretrained(policy))
    loss = trainer.train().training_loss
    assert loss == pytest.approx(0.6931, abs=0.01)  # a fresh policy is its own reference: log 2
