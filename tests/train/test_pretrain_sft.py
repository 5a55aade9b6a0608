"""``rlvr pretrain`` and ``rlvr sft`` end to end on CPU with the tiny preset: metrics, checkpoints, the
exported model, exact resume after a kill and after a crash mid-save, held-out accuracy and format,
and clear errors (exit code 2) for bad configs and bad data."""

import json
from pathlib import Path

import pytest
import torch

import train.checkpoint
import train.loop
from train.checkpoint import latest_checkpoint
from train.engine import Generation
from train.evaluate import evaluate_policy
from train.load import load_policy
from train.pretrain import _held_out
from train.pretrain import main as pretrain_main
from train.sft import main as sft_main
from train.tokenizer import Tokenizer, train_tokenizer

STEPS, SAVE_EVERY = 8, 3
DOCS = [f"Problem: What is {a} + {b}?\nSolution: {a} + {b} = {a + b}.\nAnswer: {a + b}"
        for a in range(8) for b in range(5)]  # about 17 rows of 64 tokens: several epochs in 8 steps
# what must match between an uninterrupted run and a resumed one (tokens/s is a timing)
COMPARED = ("step", "loss", "lr", "grad_norm", "val_loss", "accuracy", "format", "unjudged", "completion_tokens")


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    (root / "corpus.txt").write_text("\n\n".join(DOCS))
    problems = [{"id": f"add/{a}/{b}", "task": "add", "prompt": f"What is {a} + {b}?", "answer": str(a + b),
                 "solution": f"{a} + {b} = {a + b}", "verifier": "math"} for a in range(12) for b in range(6)]
    (root / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems))
    return root


def pretrain(out: Path, corpus: Path, *extra: str) -> int:
    return pretrain_main(["--corpus", str(corpus), "--vocab-size", "300", "--seq-len", "64", "--batch-size", "4",
                          "--max-steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--log-every", "1",
                          "--eval-every", "4", "--warmup-steps", "3", "--no-progress", "--device", "cpu",
                          "--out-dir", str(out), *extra])


def sft(out: Path, init: Path, problems: Path, *extra: str) -> int:
    return sft_main(["--init-from", str(init), "--problems", str(problems), "--template", "plain",
                     "--batch-size", "4", "--max-steps", "4", "--save-every", "2", "--log-every", "1",
                     "--eval-every", "2", "--eval-problems", "3", "--max-new-tokens", "10", "--warmup-steps", "1",
                     "--no-progress", "--device", "cpu", "--out-dir", str(out), *extra])


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def compared(out: Path) -> list[dict]:
    return [{k: row[k] for k in COMPARED if k in row} for row in rows(out)]


@pytest.fixture(scope="module")
def reference(root, one_thread):
    """An uninterrupted pretraining run."""
    assert pretrain(root / "pretrain", root / "corpus.txt") == 0
    return root / "pretrain"


@pytest.fixture(scope="module")
def sft_reference(root, reference, one_thread):
    assert sft(root / "sft", reference, root / "problems.jsonl") == 0
    return root / "sft"


def test_pretrain_writes_metrics_checkpoints_and_a_model_transformers_loads(reference):
    from transformers import AutoModelForCausalLM

    metrics = rows(reference)
    assert [r["step"] for r in metrics] == list(range(1, STEPS + 1))
    assert all(r["loss"] > 0 and r["lr"] > 0 and r["grad_norm"] > 0 and r["tokens_per_s"] > 0 for r in metrics)
    assert [r["step"] for r in metrics if "val_loss" in r] == [4, 8]
    assert metrics[-1]["loss"] < metrics[0]["loss"] - 1  # it learns
    lrs = [r["lr"] for r in metrics]  # each row's lr is the one the next step uses
    assert lrs[0] < lrs[1] == max(lrs) and lrs[-1] == min(lrs) < lrs[2]  # warmup, then decay
    # checkpoints every 3 steps and at the end, the newest 2 kept
    assert sorted(p.name for p in reference.glob("step_*")) == ["step_00000006", "step_00000008"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "trainer_state.pt"):
        assert (reference / "step_00000008" / name).is_file()
    config = json.loads((reference / "step_00000008" / "config.json").read_text())
    assert config["stage"] == "pretrain" and config["model"]["vocab_size"] == 300
    assert config["train"]["max_steps"] == STEPS
    # the final export equals the last checkpoint and loads in transformers
    model, tokenizer = load_policy(reference)
    hf = AutoModelForCausalLM.from_pretrained(reference / "final", local_files_only=True)
    ids = torch.tensor([tokenizer.encode("Problem: What is 3 + 4?", bos=True)])
    with torch.no_grad():
        assert torch.allclose(hf(ids).logits, model(ids), atol=1e-5)
        final, _ = load_policy(reference / "final")
        assert torch.equal(final(ids), model(ids))


def kill_at_step(monkeypatch, step):
    """Make the run die during step ``step`` (after its update, before its metrics row is written)."""
    real, calls = train.loop.all_reduce_mean, []

    def dying(tensor):
        calls.append(1)
        if len(calls) == step:  # log_every=1: one call per step
            raise KeyboardInterrupt("killed")
        return real(tensor)

    monkeypatch.setattr(train.loop, "all_reduce_mean", dying)


def test_resume_after_a_kill_continues_exactly(root, reference, tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at_step(patch, 8)
        with pytest.raises(KeyboardInterrupt):
            pretrain(out, root / "corpus.txt")
    assert [r["step"] for r in rows(out)] == list(range(1, 8))  # step 7 was logged, step 6 saved
    assert latest_checkpoint(out).name == "step_00000006"
    assert not (out / "final").exists()
    assert pretrain(out, root / "corpus.txt", "--resume") == 0
    assert compared(out) == compared(reference)  # step 7 dropped and redone: the same numbers exactly
    model, _ = load_policy(out)
    expected, _ = load_policy(reference)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))


def test_a_crash_while_saving_keeps_the_last_checkpoint_and_resume_works(root, reference, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save, snapshot = torch.save, {}

    def failing(obj, path, *args, **kwargs):
        if "step_00000006" in str(path):  # the second checkpoint: half written, then the disk fails
            snapshot.update({p.name: p.read_bytes() for p in (out / "step_00000003").iterdir()})
            Path(path).write_bytes(b"\x80partial")
            raise RuntimeError("no space left on device")
        return real_save(obj, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(train.checkpoint.torch, "save", failing)
        with pytest.raises(RuntimeError, match="no space left"):
            pretrain(out, root / "corpus.txt")
    first = out / "step_00000003"
    assert sorted(p.name for p in out.iterdir() if "step" in p.name) == ["step_00000003"]  # no temporary left
    assert snapshot and {p.name: p.read_bytes() for p in first.iterdir()} == snapshot  # untouched
    assert latest_checkpoint(out) == first
    assert pretrain(out, root / "corpus.txt", "--resume") == 0
    assert compared(out) == compared(reference)


def test_sft_reports_held_out_accuracy_and_format(reference, sft_reference):
    metrics = rows(sft_reference)
    assert [r["step"] for r in metrics] == [1, 2, 3, 4]
    last = metrics[-1]
    for key in ("val_loss", "accuracy", "format", "unjudged", "completion_tokens", "per_task"):
        assert key in last and key in metrics[1], key
    assert 0 <= last["accuracy"] <= 1 and 0 <= last["format"] <= 1 and set(last["per_task"]) == {"add"}
    assert 0 < last["completion_tokens"] <= 10
    assert json.loads((sft_reference / "step_00000004" / "config.json").read_text())["stage"] == "sft"
    # the last evaluation's judged completions, one greedy completion of each held-out problem, as counted
    lines = [json.loads(line) for line in (sft_reference / "completions.jsonl").read_text().splitlines()]
    assert lines and {r["sample"] for r in lines} == {0} and {r["task"] for r in lines} == {"add"}
    assert sum(r["correct"] is True for r in lines) / len(lines) == pytest.approx(last["accuracy"])
    assert sum(r["tokens"] for r in lines) / len(lines) == pytest.approx(last["completion_tokens"])
    model, tokenizer = load_policy(sft_reference / "final")
    assert model.config.vocab_size == 300 and tokenizer.vocab_size == load_policy(reference)[1].vocab_size


def test_sft_resumes_exactly(root, reference, sft_reference, tmp_path, monkeypatch):
    out = tmp_path / "sft"
    with monkeypatch.context() as patch:
        kill_at_step(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            sft(out, reference, root / "problems.jsonl")
    assert latest_checkpoint(out).name == "step_00000002"
    assert sft(out, reference, root / "problems.jsonl", "--resume") == 0
    assert compared(out) == compared(sft_reference)


def test_sft_teaches_the_format(root, reference, tmp_path):
    """Enough steps on one easy task: greedy completions take the <think>/<answer> shape."""
    out = tmp_path / "sft"
    assert sft(out, reference, root / "problems.jsonl", "--max-steps", "80", "--eval-every", "0", "--save-every",
               "0", "--log-every", "80", "--lr", "3e-3", "--eval-problems", "8", "--max-new-tokens", "24") == 0
    last = rows(out)[-1]
    assert last["format"] >= 0.75 and last["loss"] < 1.0, last


def test_held_out_split_is_counted_in_tokens(root, tmp_path):
    """A held-out document of many characters but few tokens must not make the corpus 'too small'."""
    doc = next(d for k in range(1000) if _held_out(d := "the " * 20 + str(k)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join([*DOCS, doc]))
    assert pretrain(tmp_path / "run", corpus, "--max-steps", "1") == 0
    assert rows(tmp_path / "run")[-1]["val_loss"] > 0


def test_pretrain_on_generated_problems_with_a_progress_bar(tmp_path, capsys):
    assert pretrain_main(["--tasks", "arithmetic", "--n-problems", "60", "--difficulty", "1", "--vocab-size", "300",
                          "--seq-len", "32", "--batch-size", "2", "--max-steps", "2", "--device", "cpu",
                          "--out-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert [r["step"] for r in rows(tmp_path)] == [2]
    assert json.loads(out.splitlines()[-1]) == rows(tmp_path)[-1]  # the last row, printed
    assert "pretrain: 100%" in err and "2/2" in err
    assert (tmp_path / "final" / "model.safetensors").is_file()


def bad_pretrain_cases(root: Path, tmp: Path) -> list[tuple[list[str], list[str]]]:
    (tmp / "empty.txt").write_text("\n\n  \n")
    (tmp / "small.txt").write_text("\n\n".join(DOCS[:3]))
    (tmp / "notext.jsonl").write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    (tmp / "broken.jsonl").write_text('{"text": "fine"}\nnot json\n')
    tokens = train_tokenizer(DOCS, vocab_size=300).save(tmp / "tokenizer.json")
    n = Tokenizer.load(tokens).vocab_size
    corpus = ["--corpus", str(root / "corpus.txt")]
    return [
        (["--preset", "huge"], ["unknown preset 'huge'"]),
        (["--corpus", str(tmp / "missing.txt")], ["--corpus", "missing.txt: no such file"]),
        (["--corpus", str(tmp / "empty.txt")], ["--corpus", "empty.txt: no documents"]),
        (["--corpus", str(tmp / "notext.jsonl")], ["notext.jsonl:2", "'text'"]),
        (["--corpus", str(tmp / "broken.jsonl")], ["broken.jsonl:2", "not JSON"]),
        ([*corpus, "--seq-len", "4"], ["seq_len must be at least 8"]),
        ([*corpus, "--seq-len", "4096"], ["seq_len 4096", "max_position_embeddings (1024)"]),
        (["--corpus", str(tmp / "small.txt"), "--seq-len", "512"], ["too few for one row of 513"]),
        ([*corpus, "--tokenizer", str(tmp / "tokenizer.json"), "--vocab-size", "280"],
         [f"tokenizer has {n} tokens but the model's vocab_size is 280", f"--vocab-size {n}"]),
        ([*corpus, "--tokenizer", str(tmp / "nothing.json")], ["nothing.json: no tokenizer.json"]),
        ([*corpus, "--vocab-size", "100"], ["vocab_size must be at least 263"]),
        ([*corpus, "--max-steps", "0"], ["max_steps must be at least 1"]),
        ([*corpus, "--log-every", "0"], ["log_every must be at least 1"]),
        ([*corpus, "--eval-batches", "0"], ["eval_batches must be at least 1"]),
        ([*corpus, "--keep-last", "-1"], ["keep_last must be at least 0"]),
        ([*corpus, "--save-every", "-5"], ["save_every must be at least 0"]),
        ([*corpus, "--batch-size", "64"], ["fewer than one global batch"]),
        (["--tasks", "nosuch"], ["unknown task 'nosuch'"]),
        (["--config", str(tmp / "missing.yaml")], ["--config", "missing.yaml: no such file"]),
    ]


def test_bad_pretrain_configs_and_data_exit_2_with_a_clear_message(root, tmp_path, capsys):
    defaults = ["--no-progress", "--device", "cpu", "--max-steps", "1", "--batch-size", "2",
                "--out-dir", str(tmp_path / "out")]
    for argv, words in bad_pretrain_cases(root, tmp_path):
        code = pretrain_main([*defaults, *argv])  # the case's flags come last: they win
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert err.startswith("rlvr pretrain: error:"), (argv, err)
        for word in words:
            assert word in err, (argv, word, err)
        assert "Traceback" not in err


def test_bad_sft_configs_exit_2_with_a_clear_message(root, reference, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [
        ([], ["--init-from is required"]),
        (["--init-from", str(tmp_path / "nowhere")], ["nowhere: no such model folder"]),
        (["--init-from", str(tmp_path / "empty")], ["empty: neither a model folder", "nor a run with checkpoints"]),
        (["--init-from", str(reference), "--problems", str(tmp_path / "none.jsonl")], ["none.jsonl"]),
        (["--init-from", str(reference), "--problems", str(root / "problems.jsonl"), "--max-len", "5000"],
         ["--max-len 5000", "max_position_embeddings (1024)"]),
        (["--init-from", str(reference), "--problems", str(root / "problems.jsonl"), "--max-new-tokens", "1020"],
         ["--max-new-tokens 1020", "max_position_embeddings (1024)"]),
        (["--init-from", str(reference), "--problems", str(root / "problems.jsonl"), "--max-len", "5"],
         ["longer than --max-len 5"]),
        (["--init-from", str(reference), "--problems", str(root / "problems.jsonl"), "--worked-share", "1.5"],
         ["--worked-share must be between 0 and 1, got 1.5"]),
    ]
    for argv, words in cases:
        code = sft_main(["--no-progress", "--device", "cpu", "--max-steps", "1", "--batch-size", "2",
                         "--out-dir", str(tmp_path / "out"), *argv])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert err.startswith("rlvr sft: error:"), (argv, err)
        for word in words:
            assert word in err, (argv, word, err)
    assert not (tmp_path / "out" / "metrics.jsonl").exists()  # every error came before any training


def test_worked_share_keeps_the_solution_for_a_seeded_share_of_problems():
    from train.sft import sft_reasoning

    rows = [{"prompt": f"Calculate ${i} + {i}$.", "solution": f"{i} + {i} = {2 * i}.\nThe answer is {2 * i}.",
             "answer": str(2 * i)} for i in range(2000)]
    assert [sft_reasoning(r) for r in rows] == [r["solution"] for r in rows]
    assert {sft_reasoning(r, 0.0) for r in rows[:3]} == {"The answer is 0.", "The answer is 2.", "The answer is 4."}
    worked = [sft_reasoning(r, 0.3, seed=1) == r["solution"] for r in rows]
    assert 0.26 < sum(worked) / len(rows) < 0.34
    # the form hangs on the prompt and the seed, not on the row's place or the other rows
    assert [sft_reasoning(r, 0.3, seed=1) == r["solution"] for r in reversed(rows)] == worked[::-1]
    assert [sft_reasoning(r, 0.3, seed=2) == r["solution"] for r in rows] != worked
    # answer-only targets still end in the answer the verifier expects
    assert all(sft_reasoning(r, 0.3, seed=1).endswith(f"The answer is {r['answer']}.") for r in rows)


class StubEngine:
    """Returns fixed completions, in the engine's order (grouped by prompt)."""

    def __init__(self, completions: list[list[str]]):
        self.completions = completions

    def generate(self, prompts, *, num_samples, max_new_tokens, temperature):
        assert len(prompts) == len(self.completions)
        return [Generation(i, [1] * len(text), text, [0.0] * len(text), "stop")
                for i, texts in enumerate(self.completions) for text in texts[:num_samples]]


def test_evaluate_policy_counts_accuracy_format_and_pass_at_k():
    problems = [{"prompt": "What is 2 + 3?", "answer": "5", "verifier": "math", "task": "add"},
                {"prompt": "What is 2 * 3?", "answer": "6", "verifier": "math", "task": "mul"}]
    completions = [[" <think>2 + 3 = 5</think> <answer>5</answer>", " <answer>5</answer>"],  # right; right, no think
                   ["<think>2 * 3 = 5</think> <answer>5</answer>", "no answer at all"]]  # wrong; unjudged
    result = evaluate_policy(None, None, problems, num_samples=2, engine=StubEngine(completions))
    assert result["accuracy"] == 0.5 and result["format"] == 0.5 and result["unjudged"] == 0.25
    assert result["per_task"] == {"add": 1.0, "mul": 0.0}
    assert result["pass@2"] == 0.5
    greedy = evaluate_policy(None, None, problems, engine=StubEngine([c[:1] for c in completions]))
    assert greedy["accuracy"] == 0.5 and "pass@2" not in greedy
    assert evaluate_policy(None, None, [], engine=StubEngine([])) == {}


def test_gradient_accumulation_matches_the_larger_batch(root, reference, tmp_path):
    """Two micro-batches of 2 rows are one batch of 4 (the same rows, in the same order): the same
    losses and weights up to float rounding."""
    out = tmp_path / "run"
    assert pretrain(out, root / "corpus.txt", "--batch-size", "2", "--grad-accum", "2") == 0
    for ours, theirs in zip(rows(out), rows(reference), strict=True):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-3)
    model, _ = load_policy(out)
    expected, _ = load_policy(reference)
    for a, b in zip(model.parameters(), expected.parameters()):
        assert torch.allclose(a, b, atol=1e-4)


def test_two_process_ddp_run_equals_one_process_with_the_global_batch(root, reference, tmp_path, torchrun):
    """torchrun, 2 CPU processes (Gloo), 1 row per micro-batch and 2 micro-batches: each step sees the
    same 4 rows as the single-process run with batch 4, sharded by rank; rank 0 alone logs and saves."""
    out = tmp_path / "ddp"
    args = ["--corpus", str(root / "corpus.txt"), "--vocab-size", "300", "--seq-len", "64", "--batch-size", "1",
            "--grad-accum", "2", "--max-steps", str(STEPS), "--save-every", str(SAVE_EVERY), "--log-every", "1",
            "--eval-every", "4", "--warmup-steps", "3", "--no-progress", "--device", "cpu", "--out-dir", str(out)]
    result = torchrun("-m", "train.pretrain", *args)
    assert result.stdout.count("2 process(es) on cpu") == 1  # rank 0 prints
    for ours, theirs in zip(rows(out), rows(reference), strict=True):  # one line per step: rank 0 logs
        assert ours["step"] == theirs["step"]
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-3)
    assert sorted(p.name for p in out.glob("step_*")) == ["step_00000006", "step_00000008"]
    model, _ = load_policy(out / "final")
    expected, _ = load_policy(reference)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(model.parameters(), expected.parameters()))


def test_a_fresh_run_refuses_a_folder_with_an_earlier_run(root, reference, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(out, root / "corpus.txt", "--max-steps", "3") == 0
    first = latest_checkpoint(out)
    capsys.readouterr()
    assert pretrain(out, root / "corpus.txt", "--max-steps", "2") == 2
    message = capsys.readouterr().err
    assert "--resume" in message and "--overwrite" in message and first.name in message
    assert latest_checkpoint(out) == first  # nothing of the earlier run was touched
    assert pretrain(out, root / "corpus.txt", "--max-steps", "2", "--overwrite") == 0
    assert latest_checkpoint(out).name == "step_00000002"
    assert [r["step"] for r in rows(out)] == [1, 2]  # the old run's metrics are gone too


def test_code_targets_write_the_program_once_in_the_answer():
    """A code problem's solution is the plan, then the program that is also its answer: the SFT target
    thinks the plan and answers the program, which the code verifier then runs."""
    from datagen.api import make_rows
    from train.sft import sft_reasoning
    from train.template import render_completion
    from verifiers import check_format
    from verifiers.rewards import judge

    rows = make_rows("code_function", range(3), 0, [1, 2, 3]) + make_rows("code_stdio", range(3), 0, [1, 2, 3])
    for row in rows:
        think = sft_reasoning(row)
        assert "```" not in think and think and row["solution"].startswith(think)
        completion = render_completion(think, row["answer"])
        assert completion.count("def ") + completion.count("input()") >= 1
        assert check_format(completion).ok and judge(completion, row).correct, completion
