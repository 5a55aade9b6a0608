"""``rlvr eval``: benchmark files read as they are, metrics checked by hand, a tiny model end to end."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from train.benchmark import (
    GREEDY,
    EvalConfig,
    Item,
    evaluate,
    main,
    majority_correct,
    metrics,
    pass_at_k,
    read_items,
    render_prompts,
)
from verifiers.problem import InputError

GSM8K = [{"question": "Tom has 2 apples and buys 3. How many?", "answer": "2 + 3 = <<2+3=5>>5\n#### 5"},
         {"question": "What is 4 times 2?", "answer": "4 * 2 = 8\n#### 8"}]
MATH = [{"problem": "Compute $1+1$.", "solution": "We get $\\boxed{2}$.", "level": "Level 1", "type": "Algebra"},
        {"problem": "Halve 1.", "solution": "It is $\\boxed{\\frac12}$.", "level": "Level 3", "type": "Prealgebra"}]
AIME = [{"ID": "2024-I-1", "Problem": "Find 7 + 8.", "Answer": 15}]
PROBLEMS = [{"id": "add/0", "task": "arithmetic", "prompt": "2 + 2 =", "answer": "4", "verifier": "math",
             "difficulty": 1},
            {"id": "ex/0", "task": "capital", "prompt": "Capital of France?", "answer": "Paris", "verifier": "exact",
             "difficulty": 2}]
HUMANEVAL = [{"task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n",
              "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_each_benchmark_format_is_read_as_it_is(tmp_path):
    gsm = read_items(write(tmp_path / "gsm8k.jsonl", GSM8K))
    assert [(i.id, i.kind, i.gold, i.task) for i in gsm] == [("0", "math", "5", "gsm8k"), ("1", "math", "8", "gsm8k")]
    math_items = read_items(write(tmp_path / "math.jsonl", MATH))
    assert [(i.gold, i.task, i.difficulty) for i in math_items] == [("2", "Algebra", "1"),
                                                                   ("\\frac12", "Prealgebra", "3")]
    (aime,) = read_items(write(tmp_path / "aime.jsonl", AIME))
    assert (aime.id, aime.prompt, aime.gold) == ("2024-I-1", "Find 7 + 8.", "15")
    problems = read_items(write(tmp_path / "problems.jsonl", PROBLEMS))
    assert [(i.kind, i.task, i.difficulty) for i in problems] == [("problem", "arithmetic", "1"),
                                                                   ("problem", "capital", "2")]
    (code,) = read_items(write(tmp_path / "humaneval.jsonl", HUMANEVAL))
    assert (code.id, code.kind) == ("HumanEval/0", "code")


def test_columns_can_be_named_and_bad_rows_are_named(tmp_path):
    rows = [{"q": "1+1?", "sol": "2", "uid": "a"}]
    (item,) = read_items(write(tmp_path / "own.jsonl", rows), {"prompt": "q", "answer": "sol", "id": "uid"})
    assert (item.id, item.prompt, item.gold) == ("a", "1+1?", "2")
    with pytest.raises(InputError, match=r"odd\.jsonl:1: columns"):
        read_items(write(tmp_path / "odd.jsonl", rows))
    with pytest.raises(InputError, match="duplicate id"):
        read_items(write(tmp_path / "dup.jsonl", [PROBLEMS[0], PROBLEMS[0]]))


def test_metrics_match_a_hand_computation(tmp_path):
    data = write(tmp_path / "data.jsonl", [{"id": "p", "problem": "?", "answer": "\\frac12"},
                                           {"id": "q", "problem": "?", "answer": "3"}])
    given_ = write(tmp_path / "given.jsonl", [
        {"id": "p", "completions": ["\\boxed{0.5}", "\\boxed{1/2}", "\\boxed{2}", "\\boxed{2}"]},
        {"id": "q", "completion": "The answer is 3."}, {"id": "q", "completion": "The answer is 4."},
        {"id": "q", "completion": "The answer is 4."}, {"id": "q", "completion": "I do not know, sorry."},
    ])
    summary = evaluate(EvalConfig(data=str(data), completions=str(given_), out=str(tmp_path / "out"), k="1,2,4"),
                       log=lambda _: None)
    m = summary["overall"]
    # p: 2 of 4 correct; q: 1 of 4 correct (the last could not be judged)
    assert m["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert m["pass@2"] == pytest.approx(((1 - math.comb(2, 2) / math.comb(4, 2)) + (1 - math.comb(3, 2) / 6)) / 2)
    assert m["pass@4"] == 1.0
    # maj@4: p's answers 0.5 and 1/2 are one answer (2 votes) tied with 2 (2 votes): the first wins, correct;
    # q: 4 has 2 votes against 3's one: wrong. maj@1: both first answers are right.
    assert (m["maj@1"], m["maj@4"]) == (1.0, 0.5)
    assert m["mean@2"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["accuracy"] is None and m["could_not_judge"] == 1
    assert m["unjudged_reasons"] == [["no_answer", "no answer found", 1]]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| all | 2 |" in report and "no answer found" in report
    assert (tmp_path / "out" / "pass_at_k.png").stat().st_size > 1000


def test_completions_must_name_known_ids(tmp_path, capsys):
    data = write(tmp_path / "data.jsonl", AIME)
    given_ = write(tmp_path / "given.jsonl", [{"id": "nope", "completion": "15"}])
    assert main(["eval", "--data", str(data), "--completions", str(given_), "--out", str(tmp_path / "o")]) == 2
    assert "given.jsonl:1: id 'nope' is not a row" in capsys.readouterr().err
    assert main(["--data", str(data)]) == 2
    assert "give --model" in capsys.readouterr().err


def test_prompts_use_our_templates_or_the_checkpoints_chat_template(tmp_path, policy):
    items = [Item("0", "What is 2+2?", "math", "4")]
    assert render_prompts(items, "plain") == ["User: What is 2+2?\nAssistant:"]
    assert render_prompts(items, "r1_zero")[0].endswith("User: What is 2+2?\nAssistant:")
    # our exports carry a chat template that renders our own prompt (issue 21)
    assert "What is 2+2?" in render_prompts(items, "chat", policy)[0]
    folder = tmp_path / "chat"
    folder.mkdir()
    for f in policy.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    bare = {k: v for k, v in config.items() if k != "chat_template"}
    (folder / "tokenizer_config.json").write_text(json.dumps(bare))
    with pytest.raises(ValueError, match="chat template"):
        render_prompts(items, "chat", folder)
    config["chat_template"] = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (prompt,) = render_prompts(items, "chat", folder)
    assert prompt.startswith("<|user|>What is 2+2?") and "\\boxed{}" in prompt and prompt.endswith("<|assistant|>")


@pytest.fixture(scope="module")
def long_policy(tmp_path_factory, tokenizer):
    """A tiny random model with room for a few hundred tokens, as a Hugging Face folder."""
    from train.hf import export_hf
    from train.model import ModelConfig, Transformer

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=48, max_position_embeddings=512)
    return export_hf(Transformer(config), tmp_path_factory.mktemp("long_policy"), tokenizer)


def test_a_model_is_evaluated_on_every_format_and_a_rerun_resumes(tmp_path, long_policy, single_thread):
    rows = GSM8K[:1] + MATH[:1] + AIME + PROBLEMS + HUMANEVAL
    data = write(tmp_path / "mixed.json", [])  # a JSON list works too
    data.write_text(json.dumps([{**r, "id": f"r{k}"} if "id" not in r and "ID" not in r and "task_id" not in r else r
                                for k, r in enumerate(rows)]))
    cfg = EvalConfig(data=str(data), model=str(long_policy), out=str(tmp_path / "run"), n=2, k="1,2",
                     max_new_tokens=6, template="plain", batch_size=4, device="cpu")
    summary = evaluate(cfg, log=lambda _: None)
    lines = (tmp_path / "run" / "completions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == len(rows) * 3  # one greedy and two samples per row
    assert {(r["sample"] if r["sample"] == GREEDY else "s") for r in records} == {GREEDY, "s"}
    assert all(r["status"] in ("correct", "incorrect", "no_answer", "unparseable", "timeout") for r in records)
    assert summary["overall"]["problems"] == len(rows) and set(summary["by_task"]) >= {"gsm8k", "Algebra", "code"}
    code = [r for r in records if r["id"] == "HumanEval/0"]
    assert code and all(not r["correct"] for r in code)  # a random model does not add numbers
    before = (tmp_path / "run" / "completions.jsonl").read_bytes()
    evaluate(cfg, log=lambda _: None)  # resumes: nothing left to generate
    assert (tmp_path / "run" / "completions.jsonl").read_bytes() == before
    with open(tmp_path / "run" / "completions.jsonl", "ab") as f:  # a crash mid-line is cut off and redone
        f.write(b'{"id": "torn')
    lines_after = [json.loads(x) for x in (tmp_path / "run" / "completions.jsonl").read_text().splitlines()[:-1]]
    assert len(lines_after) == len(records)
    evaluate(cfg, log=lambda _: None)
    assert (tmp_path / "run" / "completions.jsonl").read_bytes() == before
    with pytest.raises(ValueError, match="other settings"):
        evaluate(EvalConfig(**{**cfg.__dict__, "temperature": 1.0}), log=lambda _: None)
    assert "pass@2" in (tmp_path / "run" / "report.md").read_text()


def test_cli_runs_a_model(tmp_path, long_policy, single_thread, capsys):
    data = write(tmp_path / "gsm8k.jsonl", GSM8K)
    code = main(["eval", "--model", str(long_policy), "--data", str(data), "--n", "1", "--k", "1",
                 "--template", "plain", "--max-new-tokens", "4", "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert code == 0 and "accuracy" in capsys.readouterr().out
    assert len((tmp_path / "o" / "completions.jsonl").read_text().splitlines()) == 2


# ------------------------------------------------------------------------------------ properties


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_pass_at_k_is_the_unbiased_estimator_and_grows_with_k(n, data):
    c = data.draw(st.integers(0, n))
    outcomes = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(outcomes, k))
        exact = sum(any(s) for s in subsets) / len(subsets)  # the chance that one of k drawn samples passes
        assert pass_at_k(n, c, k) == pytest.approx(exact)
        if k > 1:
            assert pass_at_k(n, c, k) >= pass_at_k(n, c, k - 1)


@settings(max_examples=100, deadline=None)
@given(outcomes=st.lists(st.sampled_from(["correct", "incorrect", "no_answer"]), min_size=1, max_size=12))
def test_with_one_sample_maj_at_1_pass_at_1_and_mean_at_1_equal_accuracy(outcomes):
    records = [{"id": str(i), "sample": GREEDY, "status": s, "correct": s == "correct", "reason": "r",
                "extracted": None if s == "no_answer" else ("7" if s == "correct" else "8")}
               for i, s in enumerate(outcomes)]
    m = metrics(records, [1])
    assert m["accuracy"] == m["maj@1"] == m["pass@1"] == m["mean@1"] == outcomes.count("correct") / len(outcomes)


@settings(max_examples=100, deadline=None)
@given(votes=st.lists(st.tuples(st.sampled_from(["1/2", "0.5", "\\frac{2}{4}", "3", "4", None]), st.booleans()),
                      min_size=1, max_size=7))
def test_the_majority_counts_equivalent_answers_together(votes):
    votes = [(a, a in ("1/2", "0.5", "\\frac{2}{4}")) for a, _ in votes]
    half = sum(a in ("1/2", "0.5", "\\frac{2}{4}") for a, _ in votes)
    others = [sum(a == x for a, _ in votes) for x in ("3", "4")]
    if half > max(others):
        assert majority_correct(votes)
    elif half < max(others):
        assert not majority_correct(votes)
