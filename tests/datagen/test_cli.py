"""``rlvr gen``: files in every format, the same rows for any number of workers, clear errors."""

import json

import datasets

from datagen.cli import main
from datagen.spec import parse_difficulty


def test_writes_parquet_jsonl_and_saved_dataset_identically(tmp_path, capsys):
    assert main(["arithmetic", "--n", "300", "--seed", "2", "--out", str(tmp_path / "a.parquet"), "--workers", "1"]) == 0
    assert main(["arithmetic", "--n", "300", "--seed", "2", "--out", str(tmp_path / "b.jsonl"), "--workers", "2"]) == 0
    assert main(["arithmetic", "--n", "300", "--seed", "2", "--out", str(tmp_path / "c")]) == 0
    a = datasets.Dataset.from_parquet(str(tmp_path / "a.parquet")).to_list()
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    c = datasets.load_from_disk(str(tmp_path / "c")).to_list()
    assert a == b == c and len(a) == 300
    assert "300 problems" in capsys.readouterr().err


def test_mixtures_and_groups(tmp_path):
    assert main(["math", "--n", "200", "--out", str(tmp_path / "m.jsonl"), "--difficulty", "1-3"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert len(rows) == 200 and {r["difficulty"] for r in rows} <= {1, 2, 3}


def test_errors_name_the_problem(tmp_path, capsys):
    assert main(["nope", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert main(["arithmetic", "--difficulty", "0-3", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert main(["arithmetic", "--n", "0", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert not (tmp_path / "x.jsonl").exists()
    assert parse_difficulty("1,4-5") == [1, 4, 5]


def test_list(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "arithmetic" in out and "(kinds: gcd, lcm, mod_pow" in out


def test_kinds_of_one_task(tmp_path, capsys):
    out = tmp_path / "g.jsonl"
    assert main(["number_theory", "--kinds", "gcd,lcm", "--n", "300", "--out", str(out), "--workers", "2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 300 and {json.loads(r["meta"])["kind"] for r in rows} == {"gcd", "lcm"}
    for argv, error in ((["number_theory", "--kinds", "gcd,euler"], "unknown kinds 'euler'"),
                        (["math", "--kinds", "gcd"], "--kinds needs a single task"),
                        (["arithmetic", "--kinds", "gcd"], "'arithmetic' has one kind")):
        assert main([*argv, "--out", str(tmp_path / "x.jsonl")]) == 2
        assert error in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
