"""A verifier a user registers is honoured everywhere a verifier name is (issue 17).

The checker is defined at module level, so spawn-started workers can import it. GRPO's reward
workers are covered in tests/train/test_grpo.py.
"""

import json

import pytest

from verifiers import Problem, Rubric, Verdict, register_verifier, registry, score
from verifiers.pool import pool_map
from verifiers.scoring import score_files
from verifiers.trl import reward_funcs


def palindrome(completion: str, problem: dict) -> Verdict:
    """Correct when the answer reads the same both ways (and matches the gold's length)."""
    answer = completion.split("<answer>")[-1].split("</answer>")[0].strip()
    if not answer:
        return Verdict("no_answer", "empty")
    ok = answer == answer[::-1] and len(answer) == len(problem["answer"])
    return Verdict("correct" if ok else "incorrect", "palindrome" if ok else "not a palindrome", answer)


def _verdict_in_worker(job: tuple[str, dict]) -> str:
    completion, problem = job
    return registry.judge(completion, problem).status


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(registry.VERIFIERS, "palindrome", None)  # both restored after the test
    monkeypatch.setitem(registry._USER, "palindrome", None)
    register_verifier("palindrome", palindrome)
    return Problem(id="p/0", task="p", prompt="A palindrome of 3 letters?", answer="aba", solution="aba",
                   verifier="palindrome", difficulty=1).to_row()


def test_a_problem_row_refuses_an_unknown_verifier_and_accepts_a_registered_one(registered):
    with pytest.raises(ValueError, match="verifier must be one of"):
        Problem(id="x", task="x", prompt="q", answer="a", solution="a", verifier="chess", difficulty=1)
    assert registered["verifier"] == "palindrome"


def test_score_and_the_trl_adapter_use_it(registered):
    good, bad = "<think>t</think>\n<answer>xyx</answer>", "<think>t</think>\n<answer>xyz</answer>"
    assert score(good, registered).total == 2.0 and score(bad, registered).parts["accuracy"] == 0.0
    accuracy, = reward_funcs("accuracy")
    columns = {k: [v, v] for k, v in registered.items()}
    assert accuracy(prompts=["q", "q"], completions=[good, bad], **columns) == [1.0, 0.0]


def test_spawned_workers_see_it(registered, tmp_path):
    jobs = [("<answer>aba</answer>", registered), ("<answer>abc</answer>", registered)]
    assert list(pool_map(_verdict_in_worker, jobs, workers=2)) == ["correct", "incorrect"]
    problems, completions = tmp_path / "p.jsonl", tmp_path / "c.jsonl"
    rows = [{**registered, "id": f"p/{i}"} for i in range(4)]
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    completions.write_text("".join(json.dumps({"id": r["id"], "completion": f"<answer>{w}</answer>"}) + "\n"
                                   for r, w in zip(rows, ["aba", "abc", "cdc", "dd"])))
    summary = score_files(problems, completions, tmp_path / "out.jsonl", Rubric(["accuracy"]), workers=2)
    assert [r["status"] for r in summary.rows] == ["correct", "incorrect", "correct", "incorrect"]


def test_a_lambda_cannot_travel_and_says_so(monkeypatch):
    monkeypatch.setitem(registry.VERIFIERS, "shout", None)
    monkeypatch.setitem(registry._USER, "shout", None)
    register_verifier("shout", lambda c, p: Verdict("correct", "loud"))
    jobs = [("A", {"verifier": "shout"}), ("B", {"verifier": "shout"})]
    with pytest.raises(ValueError, match="cannot import"):
        list(pool_map(_verdict_in_worker, jobs, workers=2))
    assert list(pool_map(_verdict_in_worker, jobs, workers=1)) == ["correct", "correct"]
