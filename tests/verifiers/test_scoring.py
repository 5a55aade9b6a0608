"""Scoring a dataset of completions: rewards per line, pass@k, resume after a crash, bad input named."""

import json

import pytest

from verifiers.cli import main
from verifiers.problem import InputError, load_problems
from verifiers.rewards import Rubric
from verifiers.scoring import pass_at_k, score_files


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    problems = [{"id": f"p{i}", "prompt": f"{i}+{i}?", "answer": str(2 * i), "verifier": "math", "meta": "{}"}
                for i in range(6)]
    problems.append({"id": "cd", "prompt": "reach 83", "answer": "", "verifier": "countdown",
                     "meta": json.dumps({"numbers": [25, 5, 4, 3], "target": 83})})
    completions = []
    for i in range(6):
        completions += [{"id": f"p{i}", "completion": f"<think>add</think>\n<answer>{2 * i + j}</answer>"}
                        for j in range(3)]
    completions += [{"id": "cd", "completion": "<answer>(25-5)*4+3</answer>"},
                    {"id": "cd", "completion": "<think>t</think>"}]
    return write_jsonl(tmp_path / "problems.jsonl", problems), write_jsonl(tmp_path / "c.jsonl", completions)


def test_scores_every_completion_with_pass_at_k(files, tmp_path):
    problems, completions = files
    out = tmp_path / "scores.jsonl"
    summary = score_files(problems, completions, out, Rubric({"accuracy": 1, "format": 0.5}), ks=(1, 3))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20 and sorted(r["line"] for r in rows) == list(range(1, 21))
    first = next(r for r in rows if r["line"] == 1)
    assert first["parts"] == {"accuracy": 1.0, "format": 1.0} and first["total"] == 1.5
    last = next(r for r in rows if r["line"] == 20)
    assert last["status"] == "no_answer" and last["total"] is None
    assert summary.accuracy() == pytest.approx(7 / 19)
    assert summary.pass_at(1) == pytest.approx((6 * (1 / 3) + 1 / 2) / 7)
    assert summary.pass_at(3) == pytest.approx(1.0)  # every p_i has one right answer among 3
    text = str(summary)
    assert "pass@3" in text and "could not judge: 1" in text and "no_answer: no answer found" in text


def test_resume_after_a_crash_keeps_results_and_cuts_a_torn_line(files, tmp_path):
    problems, completions = files
    out = tmp_path / "scores.jsonl"
    rubric = Rubric(["accuracy"])
    score_files(problems, completions, out, rubric)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:7]) + lines[7][:10])  # a crash in the middle of line 8
    summary = score_files(problems, completions, out, rubric)
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["line"] for r in again) == list(range(1, 21))
    assert summary.resumed == 6  # two complete groups of three survived; the torn group is redone
    assert score_files(problems, completions, out, rubric).resumed == 20


def test_workers_give_the_same_results(files, tmp_path):
    problems, completions = files
    one = score_files(problems, completions, tmp_path / "a.jsonl", Rubric(["accuracy", "length"]))
    two = score_files(problems, completions, tmp_path / "b.jsonl", Rubric(["accuracy", "length"]), workers=2)
    assert [(r["line"], r["total"]) for r in one.rows] == [(r["line"], r["total"]) for r in two.rows]


def test_bad_input_names_the_line(files, tmp_path):
    problems, _ = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "p0", "completion": "x"}\n{"id": "nope", "completion": "y"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: id 'nope' is not among the problems"):
        score_files(problems, bad, tmp_path / "o.jsonl", Rubric(["accuracy"]))
    bad.write_text('{"id": "p0"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: missing field 'completion'"):
        score_files(problems, bad, tmp_path / "o.jsonl", Rubric(["accuracy"]))
    dup = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a"}, {"id": "a"}])
    with pytest.raises(InputError, match=r"dup\.jsonl:2: duplicate problem id 'a'"):
        load_problems(dup)
    assert not (tmp_path / "o.jsonl").exists()


def test_problems_from_parquet_and_saved_dataset(files, tmp_path):
    from datasets import Dataset

    problems, _ = files
    data = Dataset.from_list([json.loads(line) for line in problems.read_text().splitlines()])
    data.to_parquet(str(tmp_path / "p.parquet"))
    data.save_to_disk(str(tmp_path / "saved"))
    assert load_problems(tmp_path / "p.parquet") == load_problems(tmp_path / "saved") == load_problems(problems)


def test_cli_dataset_mode(files, tmp_path, capsys):
    problems, completions = files
    code = main(["score", "--problems", str(problems), "--completions", str(completions),
                 "--rewards", "accuracy,format=0.5", "--k", "1,2", "-o", str(tmp_path / "s.jsonl")])
    err = capsys.readouterr().err
    assert code == 0 and "pass@2" in err and "format rate" in err
    assert main(["score", "--problems", str(problems), "--completions", str(completions), "--rewards", "acc"]) == 2
    assert "unknown reward 'acc'" in capsys.readouterr().err
    assert main(["score", "--problems", str(problems)]) == 2
    assert main(["score", "--problems", str(problems), "--completions", str(completions), "--k", "0"]) == 2


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(10, 0, 1) == 0 and pass_at_k(10, 10, 5) == 1
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
