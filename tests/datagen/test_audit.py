"""``rlvr check-data``: each kind of bad row planted in a generated set is found and named; clean sets,
imported GSM8K and the verl / OpenRLHF layouts pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.api import mix_rows
from datagen.audit import audit, audit_row, main, wrong_solution
from datagen.cli import main as gen
from datagen.importers import import_gsm8k_rows
from verifiers.code import run_tests

DATA = Path(__file__).resolve().parents[1] / "data"
MIX = {"arithmetic": 1, "fractions": 1, "countdown": 1, "linear_system": 1, "code_function": 1, "code_stdio": 1,
       "word_problem": 1, "polynomial": 1}


def _write(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows() -> list[dict]:
    return mix_rows(MIX, 80, seed=5, difficulty=range(6, 11))


def test_a_clean_generated_set_has_no_findings(tmp_path, capsys):
    assert main([str(_write(_rows(), tmp_path / "clean.jsonl")), "--strict"]) == 0
    out = capsys.readouterr().out
    assert "80 rows, 0 with findings; nothing found" in out
    assert "by verifier: code 20, countdown 10, equation 10, factor 2, math 34, simplest 4" in out
    assert "by difficulty: 6 16, 7 16, 8 16, 9 16, 10 16" in out


def _planted(rows: list[dict]) -> dict[str, str]:
    """Plant one bad row of each kind; returns id -> the kind the audit must report for it."""
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    want = {}

    def plant(row: dict, kind: str, **changes) -> None:
        row.update(changes)
        want[row["id"]] = kind

    plant(by_task["arithmetic"][0], "bad_row", verifier="nonsense")
    plant(by_task["arithmetic"][1], "bad_row", difficulty=0)
    plant(by_task["fractions"][0], "gold_rejected", answer="\\frac{3}{")
    countdown = by_task["countdown"][0]
    plant(countdown, "gold_rejected", answer=countdown["answer"] + " + 1")
    code = by_task["code_function"][0]
    plant(code, "gold_rejected", answer=wrong_solution(code["tests"]))
    weak = by_task["code_function"][1]
    tests = json.loads(weak["tests"])
    plant(weak, "changed_gold_accepted", tests=json.dumps({**tests, "cases": tests["cases"][:1]}))
    story = by_task["word_problem"][0]
    plant(story, "solution_disagrees", solution=story["solution"].rsplit("\n", 1)[0] + "\nThe answer is 12345678.")
    copy = by_task["polynomial"][1]
    plant(copy, "duplicate_prompt", prompt=by_task["polynomial"][0]["prompt"])
    twin = by_task["code_stdio"][1]
    plant(twin, "duplicate_id", id=by_task["code_stdio"][0]["id"])
    want[twin["id"]] = "duplicate_id"
    return want


def test_each_planted_bad_row_is_named_with_its_kind(tmp_path, capsys):
    rows = _rows()
    want = _planted(rows)
    leaked = rows[3]
    test_split = [dict(leaked, id="test/1", prompt=leaked["prompt"].replace(",", ""))]
    path = _write(rows, tmp_path / "train.jsonl")
    assert main([str(path), "--test", str(_write(test_split, tmp_path / "test.jsonl")), "--strict",
                 "--workers", "2"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    for key, kind in want.items():
        assert any(f": {key}: {kind}: " in line for line in lines), (key, kind, out)
    assert any(f"train.jsonl:4: {leaked['id']}: in_test_split: prompt also at " in line for line in lines), out
    found_ids = {line.split(": ")[1] for line in lines if line.startswith(str(path))}
    assert found_ids == {*want, leaked["id"]}  # nothing else is blamed
    # each finding names the file and line of its row
    twin_line = next(line for line in lines if "duplicate_id" in line)
    assert twin_line.startswith(f"{path}:") and "same id as" in twin_line
    # without --strict the report is the same but the status is 0
    assert main([str(path)]) == 0


def test_wrong_programs_fail_and_references_pass():
    for row in mix_rows({"code_function": 1, "code_stdio": 1}, 40, seed=1):
        assert run_tests(row["answer"], row["tests"]).passed, row["id"]
        assert not run_tests(wrong_solution(row["tests"]), row["tests"], extract=False).passed, row["id"]


def test_imported_gsm8k_passes_and_a_planted_wrong_gold_is_caught():
    records = [json.loads(line) for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines()[:60]]
    rows = import_gsm8k_rows(records)
    assert audit([(f"gsm8k:{k + 1}", r) for k, r in enumerate(rows)]) == []
    rows[7]["answer"] = str(int(rows[7]["answer"]) + 1)  # the worked solution now disagrees
    assert [(f.id, f.kind) for f in audit_row(rows[7])] == [(rows[7]["id"], "solution_disagrees")]


@pytest.mark.parametrize("fmt,suffix", [("verl", ".parquet"), ("openrlhf", ".jsonl")])
def test_trainer_layouts_are_audited_like_our_rows(tmp_path, capsys, fmt, suffix):
    out = tmp_path / f"train{suffix}"
    assert gen(["code_function=1,countdown=1,linear_system=1", "--n", "15", "--difficulty", "6-10", "--format", fmt,
                "--out", str(out), "--workers", "1"]) == 0
    assert main([str(out), "--strict"]) == 0, capsys.readouterr().out
    assert "by verifier: code 5, countdown 5, equation 5" in capsys.readouterr().out


def test_verls_own_gsm8k_rows_are_audited(capsys):
    assert main([str(DATA / "verl_gsm8k.jsonl"), "--strict"]) == 0, capsys.readouterr().out


def test_unreadable_input_is_status_2(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\nnot json\n')
    assert main([str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:2: not JSON" in capsys.readouterr().err
