"""The Ray backend of the pool: the same results as the local pool, on a local cluster the test starts."""

from __future__ import annotations

import json
import random

import pytest

from datagen.api import mix_rows
from datagen.checks import perturb
from verifiers.pool import pool_map
from verifiers.registry import _USER, VERIFIERS, register_verifier
from verifiers.rewards import Rubric
from verifiers.scoring import score_files
from verifiers.verdict import Verdict

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _completions(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` completions: right, wrong, unformatted, empty and answer-less ones, over the problems."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        row = rows[k % len(rows)]
        answer = [row["answer"], perturb(row["answer"]), "", "no idea"][rng.randrange(4)]
        think = "let me see " * rng.randrange(1, 6)
        text = (f"<think>{think}</think>\n<answer>{answer}</answer>" if rng.random() < 0.8
                else f"{think} so the answer is {answer}")
        out.append({"id": row["id"], "completion": text})
    return out


def test_scores_of_ten_thousand_completions_match_the_local_pool(cluster, tmp_path):
    rows = mix_rows({"arithmetic": 2, "fractions": 1, "countdown": 1, "linear_system": 1}, 400, seed=3)
    problems, completions = tmp_path / "problems.jsonl", tmp_path / "completions.jsonl"
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    completions.write_text("".join(json.dumps(c) + "\n" for c in _completions(rows, 10_000)))
    rubric = Rubric({"accuracy": 1.0, "format": 0.5, "length": 0.1})
    local = score_files(problems, completions, tmp_path / "local.jsonl", rubric, workers=1)
    remote = score_files(problems, completions, tmp_path / "ray.jsonl", rubric, backend="ray")
    assert len(local.rows) == len(remote.rows) == 10_000
    assert remote.rows == local.rows  # every field of every row, in line order
    assert len({r["status"] for r in local.rows}) >= 3  # the work was varied


def test_generated_rows_match_the_local_pool(cluster):
    weights = {"arithmetic": 1, "code_function": 1, "word_problem": 1}
    assert mix_rows(weights, 3000, seed=1, backend="ray") == mix_rows(weights, 3000, seed=1, workers=1)


def always_right(completion: str, problem: dict) -> Verdict:
    return Verdict("correct", "registered in the driver")


def _verdict(job: tuple[str, dict]) -> str:
    from verifiers.registry import judge

    return judge(*job).reason


def test_ray_workers_know_the_drivers_registered_verifiers(cluster):
    register_verifier("always_right", always_right)
    try:
        jobs = [("anything", {"verifier": "always_right"})] * 6
        assert list(pool_map(_verdict, jobs, 1, chunksize=2, backend="ray", ordered=False)) == \
            ["registered in the driver"] * 6
    finally:
        VERIFIERS.pop("always_right"), _USER.pop("always_right")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="backend must be 'local' or 'ray'"):
        list(pool_map(abs, [1], 1, backend="dask"))


def test_command_lines_with_ray_match_the_local_ones(cluster, tmp_path):
    from datagen.cli import main as gen
    from verifiers.cli import main as score

    assert gen(["arithmetic=1,countdown=1", "--n", "300", "--out", str(tmp_path / "local.jsonl"), "--workers", "1"]) == 0
    assert gen(["arithmetic=1,countdown=1", "--n", "300", "--out", str(tmp_path / "ray.jsonl"), "--ray"]) == 0
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()
    rows = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(c) + "\n" for c in _completions(rows, 900)))
    common = ["--problems", str(tmp_path / "local.jsonl"), "--completions", str(tmp_path / "c.jsonl"), "--no-progress"]
    assert score([*common, "-o", str(tmp_path / "local.scores.jsonl")]) == 0
    assert score([*common, "-o", str(tmp_path / "ray.scores.jsonl"), "--ray"]) == 0

    def by_line(name: str) -> list[dict]:
        return sorted((json.loads(x) for x in (tmp_path / name).read_text().splitlines()), key=lambda r: r["line"])

    assert by_line("ray.scores.jsonl") == by_line("local.scores.jsonl")
