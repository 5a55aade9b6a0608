"""generate, mixtures, determinism across processes, splits without leakage, corpus, importers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datagen import dedupe, generate, generate_mix, list_kinds, list_tasks, split, to_corpus
from datagen.importers import import_gsm8k, import_math, import_reasoning_gym
from datagen.registry import TASKS, make_problem, make_rows
from verifiers import verify_math
from verifiers.problem import FIELDS, Problem, encode_meta

DATA = Path(__file__).resolve().parents[1] / "data"


def test_generate_is_deterministic_and_seeded_per_item():
    a = generate("arithmetic", n=50, seed=3)
    assert a.column_names == list(FIELDS)
    assert a.to_list() == generate("arithmetic", n=50, seed=3).to_list()
    assert a["prompt"] != generate("arithmetic", n=50, seed=4)["prompt"]
    # item k does not depend on how many items were asked for
    assert generate("arithmetic", n=10, seed=3).to_list() == a.select(range(10)).to_list()
    assert a["difficulty"][:11] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
    assert set(generate("arithmetic", n=5, difficulty=7)["difficulty"]) == {7}


def test_same_bytes_in_another_process(tmp_path):
    script = ("from datagen import generate; import sys; "
              "generate('arithmetic', n=200, seed=9).to_json(sys.argv[1], lines=True)")
    outs = []
    for k in range(2):
        path = tmp_path / f"{k}.jsonl"
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env={"PYTHONHASHSEED": str(k),
                       "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]


def _kinds_of(ds) -> set[str]:
    return {json.loads(meta)["kind"] for meta in ds["meta"]}


def test_kinds_keep_to_some_of_a_task_s_questions():
    assert list_kinds("number_theory") == ["gcd", "lcm", "mod_pow", "nth_prime", "next_prime", "prime_factors"]
    assert list_kinds("fractions") == ["arithmetic", "simplify"] and list_kinds("arithmetic") == []
    gcd = generate("number_theory", n=60, seed=2, kinds=["gcd"])
    assert _kinds_of(gcd) == {"gcd"} and all(p.startswith("What is the greatest common divisor") for p in gcd["prompt"])
    assert _kinds_of(generate("number_theory", n=200, seed=2, kinds=["nth_prime", "lcm"])) == {"lcm", "nth_prime"}
    assert _kinds_of(generate("polynomial", n=60, seed=2, kinds="factor")) == {"factor"}
    # the set counts, not its order; all of them is the task itself
    assert (generate("number_theory", n=50, seed=2, kinds=["lcm", "gcd"]).to_list()
            == generate("number_theory", n=50, seed=2, kinds=["gcd", "lcm"]).to_list())
    assert (generate("number_theory", n=50, seed=2, kinds=list_kinds("number_theory")).to_list()
            == generate("number_theory", n=50, seed=2).to_list())


def test_bad_kinds_are_clear_errors():
    with pytest.raises(ValueError, match="unknown kinds 'gdc' for 'number_theory'; its kinds: gcd, lcm"):
        generate("number_theory", n=1, kinds=["gdc"])
    with pytest.raises(ValueError, match="no kinds"):
        generate("number_theory", n=1, kinds=[])
    with pytest.raises(ValueError, match="'arithmetic' has one kind"):
        generate("arithmetic", n=1, kinds=["gcd"])


def test_rows_are_the_problems_rows_with_canonical_meta():
    """make_rows (the fast path every dataset is made by) gives what Problem.to_row gives, for every task
    and some kinds; a generator that writes its meta JSON itself writes it as encode_meta would."""
    for name in list_tasks():
        levels = [1 + i % 10 for i in range(30)]
        rows = make_rows(name, range(30), 5, levels)
        assert rows == [make_problem(name, 5, levels[i], i).to_row() for i in range(30)], name
        assert all(row["meta"] == encode_meta(json.loads(row["meta"])) for row in rows), name
        for kind in TASKS[name].kinds:
            rows = make_rows(name, range(20), 5, levels, [kind])
            assert rows == [make_problem(name, 5, levels[i], i, [kind]).to_row() for i in range(20)], (name, kind)
            assert all(row["meta"] == encode_meta(json.loads(row["meta"])) for row in rows), (name, kind)
    with pytest.raises(ValueError, match=r"arithmetic/s0/000001: difficulty must be 1\.\.10, not 0"):
        make_rows("arithmetic", range(2), 0, [1, 0])
    with pytest.raises(ValueError, match="not 'hard'"):
        make_rows("arithmetic", range(1), 0, ["hard"])


def test_mixture_counts_follow_the_weights():
    tasks = [t for t in list_tasks("math")][:2]
    weights = {tasks[0]: 3, tasks[-1]: 1} if len(tasks) > 1 else {tasks[0]: 1}
    mix = generate_mix(weights, n=100, seed=0)
    counts = {t: mix["task"].count(t) for t in weights}
    assert sum(counts.values()) == 100
    if len(tasks) > 1:
        assert counts[tasks[0]] == 75 and counts[tasks[-1]] == 25


def test_split_has_no_leakage_and_dedupe_removes_repeats():
    ds = generate("arithmetic", n=2000, seed=0, difficulty=1)  # small numbers: many repeated prompts
    parts = split(ds, test_size=0.2, seed=0)
    train = {p.lower() for p in parts["train"]["prompt"]}
    test = {p.lower() for p in parts["test"]["prompt"]}
    assert train and test and not train & test
    assert parts["train"].num_rows + parts["test"].num_rows == 2000
    unique = dedupe(ds)
    assert unique.num_rows == len(set(ds["prompt"])) < 2000


def test_to_corpus_renders_worked_solutions():
    docs = to_corpus(generate("arithmetic", n=3, seed=0))
    assert len(docs) == 3 and all("Solution:" in d and "The answer is" in d for d in docs)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        generate("nope", n=1)
    with pytest.raises(ValueError, match="difficulty must be"):
        generate("arithmetic", n=1, difficulty=11)
    with pytest.raises(ValueError, match="weights"):
        generate_mix({"arithmetic": 0}, n=5)
    with pytest.raises(ValueError, match="verifier must be one of"):
        Problem(id="x", task="t", prompt="p", answer="1", solution="s", verifier="chess", difficulty=1)


def test_gsm8k_importer_golds_verify_against_the_original_solutions():
    ds = import_gsm8k(DATA / "gsm8k_test.jsonl")
    originals = [json.loads(line) for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines()]
    assert ds.num_rows == 1319
    for row, original in zip(ds, originals):
        assert verify_math(row["answer"], original["answer"]).correct, row["id"]
        assert verify_math(row["answer"], row["solution"]).correct, row["id"]
        assert "<<" not in row["solution"]


def test_math_importer_takes_the_last_boxed_answer(tmp_path):
    path = tmp_path / "math.jsonl"
    path.write_text(json.dumps({"problem": "What is $1/2+1/4$?", "level": "Level 2", "type": "Algebra",
                                "solution": "Add: $\\frac12+\\frac14=\\boxed{\\frac{3}{4}}$."}) + "\n")
    row = import_math(path)[0]
    assert row["answer"] == "\\frac{3}{4}" and row["difficulty"] == 4
    path.write_text(json.dumps({"problem": "x", "solution": "no box"}) + "\n")
    with pytest.raises(ValueError, match=r"math\.jsonl:1: solution has no"):
        import_math(path)


def test_reasoning_gym_importer():
    pytest.importorskip("reasoning_gym")
    ds = import_reasoning_gym("basic_arithmetic", size=20, seed=1)
    assert ds.num_rows == 20 and set(ds["verifier"]) == {"math"}
    assert all(verify_math(r["answer"], f"<answer>{r['answer']}</answer>").correct for r in ds)
