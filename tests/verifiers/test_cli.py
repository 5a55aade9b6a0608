"""``rlvr score``: JSONL in, verdicts out, bad rows named, nothing lost."""

import json
import subprocess
import sys

from verifiers.cli import main


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_scores_a_file_and_keeps_every_field(tmp_path, capsys):
    src = tmp_path / "outputs.jsonl"
    write_jsonl(src, [
        {"id": 1, "gold": "\\frac12", "completion": "<answer>0.5</answer>"},
        {"id": 2, "gold": "3", "completion": "<answer>4</answer>"},
        {"id": 3, "gold": 7, "completion": "no idea, I'm afraid, let me think again"},
    ])
    assert main(["score", "--math", str(src)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "outputs.scored.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert [r["verdict"]["status"] for r in rows] == ["correct", "incorrect", "no_answer"]
    assert rows[0]["verdict"]["correct"] is True and rows[0]["verdict"]["extracted"] == "0.5"
    summary = capsys.readouterr().err
    assert "3 completions" in summary and "correct" in summary and "33.3%" in summary


def test_custom_fields_workers_and_stdout(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [{"answer": "2", "output": "x = 2"}] * 200)
    code = main(["--math", str(src), "--gold-field", "answer", "--completion-field", "output",
                 "--workers", "2", "-o", "-"])
    assert code == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 200 and all(r["verdict"]["correct"] for r in out)


def test_bad_rows_are_named_and_nothing_is_written(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"gold": "1", "completion": "1"}\n{"gold": "2"}\n')
    assert main(["score", "--math", str(src)]) == 2
    assert "bad.jsonl:2: missing field 'completion'" in capsys.readouterr().err
    assert not (tmp_path / "bad.scored.jsonl").exists()
    src.write_text('{"gold": "1", "completion": "1"}\nnot json\n')
    assert main(["score", "--math", str(src)]) == 2
    assert "bad.jsonl:2: not JSON" in capsys.readouterr().err
    assert main(["score", "--math", str(tmp_path / "missing.jsonl")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["score", "--math", str(src), "--workers", "0"]) == 2


def test_rlvr_console_entry_dispatches(tmp_path):
    src = tmp_path / "in.jsonl"
    write_jsonl(src, [{"gold": "1", "completion": "<answer>1</answer>"}])
    cmd = [sys.executable, "-m", "train.cli", "score", "--math", str(src), "-o", "-", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["verdict"]["status"] == "correct"
    helped = subprocess.run([sys.executable, "-m", "train.cli", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "score" in helped.stdout and "demo" in helped.stdout
    module = subprocess.run([sys.executable, "-m", "verifiers", "score", "--help"], capture_output=True, text=True)
    assert module.returncode == 0 and "--math" in module.stdout


def test_outputs_in_the_wild_are_read_leniently_unless_asked_strict(tmp_path, capsys):
    src = tmp_path / "wild.jsonl"
    write_jsonl(src, [
        {"gold": "42", "completion": "Final Answer: The final answer is 42. I hope it is correct."},
        {"gold": "12", "completion": "So there are 12 sequences in all.<|im_end|>"},
    ])
    assert main(["score", "--math", str(src), "-o", "-"]) == 0
    lenient = [json.loads(line)["verdict"] for line in capsys.readouterr().out.splitlines()]
    assert [v["status"] for v in lenient] == ["correct", "correct"]
    assert lenient[0]["reason"] == "same answer (final answer sentence)" and lenient[0]["extracted"] == "42"
    assert main(["score", "--math", str(src), "-o", "-", "--extraction", "strict"]) == 0
    strict = [json.loads(line)["verdict"] for line in capsys.readouterr().out.splitlines()]
    assert [v["status"] for v in strict] == ["correct", "no_answer"]


def test_extraction_is_refused_in_problems_mode(tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    write_jsonl(src, [{"id": "a", "answer": "1", "verifier": "math", "prompt": "?"}])
    code = main(["score", "--problems", str(src), "--completions", str(src), "--extraction", "lenient"])
    assert code == 2 and "rlvr eval --completions" in capsys.readouterr().err
