"""verify_math on the labelled corpus, on real benchmark answers, and its contract under load."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from pathlib import Path

import pytest

from verifiers import Verdict, verify_math, verify_math_batch
from verifiers.verdict import STATUSES

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = [json.loads(line) for line in (DATA / "math_cases.jsonl").read_text().splitlines() if line.strip()]
REAL = [json.loads(line) for line in (DATA / "real_answers.jsonl").read_text().splitlines() if line.strip()]
COULD_NOT_JUDGE = ("no_answer", "unparseable", "timeout")


def _accepted(case: dict, verdict: Verdict) -> bool:
    if verdict.status == case["expected"]:
        return True
    note = case.get("note", "")
    if "acceptable" in note and verdict.status in COULD_NOT_JUDGE:
        return True
    return "timeout acceptable" in note and case["expected"] == "incorrect" and not verdict.correct


def test_corpus_is_large_and_covers_every_form():
    categories = {c["category"] for c in CASES}
    assert len(CASES) >= 300
    assert {"fractions", "units", "intervals", "matrices", "equations", "extraction", "ambiguity"} <= categories
    assert sum(c["expected"] == "incorrect" for c in CASES) > 200  # near misses matter as much


@pytest.mark.parametrize("case", CASES, ids=[f"{c['category']}-{k}" for k, c in enumerate(CASES)])
def test_labelled_case(case):
    verdict = verify_math(case["gold"], case["completion"])
    assert verdict.status in STATUSES and isinstance(verdict.reason, str) and verdict.reason
    assert _accepted(case, verdict), (verdict, case.get("note"))
    assert verdict.status != "timeout" or "acceptable" in case.get("note", "")


def perturb(answer: str, seed: int) -> str | None:
    """Change one number of the answer (the same rule as bench/verify_math.py)."""
    numbers = list(re.finditer(r"\d+", answer))
    if not numbers:
        return None
    m = random.Random(seed).choice(numbers)
    return answer[: m.start()] + str(int(m.group(0)) + 1) + answer[m.end() :]


def test_real_answers_verify_against_themselves_and_not_when_changed():
    verified = rejected = changed = 0
    for index, row in enumerate(REAL):
        answer = row["answer"]
        same = verify_math(answer, f"<answer>\\boxed{{{answer}}}</answer>")
        assert same.status != "timeout", answer
        verified += same.correct
        other = perturb(answer, index)
        if other is not None:
            changed += 1
            verdict = verify_math(answer, f"<answer>\\boxed{{{other}}}</answer>")
            assert verdict.status != "timeout", answer
            rejected += not verdict.correct
    assert len(REAL) == 3918
    assert verified / len(REAL) >= 0.97
    assert rejected / changed >= 0.99


@pytest.mark.parametrize(("gold", "completion", "status"), [
    ("1", "<answer>9^{9^{9^9}}</answer>", "incorrect"),
    ("9^{9^{9^9}}", "<answer>9^{9^{9^9}}</answer>", "correct"),
    ("10^{10^{100}}", "<answer>10^{10^{100}}+1</answer>", "incorrect"),
    ("1" * 5000, "<answer>" + "1" * 4999 + "2</answer>", "incorrect"),
    ("1" * 5000, "<answer>" + "1" * 5000 + "</answer>", "correct"),
    ("\\frac{1}{2004!}", "<answer>\\frac{1}{2006!}</answer>", "incorrect"),
    ("(20000)!", "<answer>20000!</answer>", "correct"),
])
def test_huge_values_are_exact_or_refused(gold, completion, status):
    assert verify_math(gold, completion).status == status


def test_a_tiny_budget_gives_a_timeout_verdict_not_an_exception():
    long_sum = "+".join(f"{k}x^{{{k}}}" for k in range(300))
    verdict = verify_math(long_sum, f"<answer>{long_sum}+1</answer>", timeout_s=1e-6)
    assert verdict.status == "timeout" and "budget" in verdict.reason


def test_bad_input_types_are_verdicts():
    assert verify_math(None, "<answer>1</answer>").status == "unparseable"  # type: ignore[arg-type]
    assert verify_math("1", None).status == "no_answer"  # type: ignore[arg-type]
    assert verify_math(3, "<answer>3</answer>").correct
    assert verify_math("1", "1", extract=False).correct
    assert verify_math("1", "  ", extract=False).status == "no_answer"


def test_hedges_are_not_answers_unless_the_gold_has_several_values():
    assert verify_math("7", "<answer>7 or 8</answer>").status == "no_answer"
    assert verify_math("5 or 9", "<answer>9 or 5</answer>").correct
    assert verify_math("5, 9", "<answer>5 or 9</answer>").correct


SAMPLE = [(c["gold"], c["completion"]) for c in CASES[::7]]
# a budget no call nears: threads share the GIL and workers the cores of a loaded 2-core machine, and a call
# that ran out of its default 1 s of wall clock there would say "timeout", which is not what these tests are about
# (a clean-clone run saw one thread's verdict differ so)
SLACK_S = 60.0
EXPECTED = [verify_math(g, c, timeout_s=SLACK_S).status for g, c in SAMPLE]


def test_works_from_threads():
    results: dict[int, list[str]] = {}

    def work(k: int) -> None:
        results[k] = [verify_math(g, c, timeout_s=SLACK_S).status for g, c in SAMPLE]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == EXPECTED for k in range(6))


def test_works_from_async_code():
    async def score_all() -> list[str]:
        direct = [verify_math(g, c, timeout_s=SLACK_S).status for g, c in SAMPLE[:10]]
        offloaded = await asyncio.gather(*(asyncio.to_thread(verify_math, g, c, timeout_s=SLACK_S)
                                           for g, c in SAMPLE[:10]))
        assert direct == [v.status for v in offloaded]
        return direct

    assert asyncio.run(score_all()) == EXPECTED[:10]


def test_batch_keeps_input_order_in_worker_processes():
    pairs = SAMPLE * 3
    verdicts = verify_math_batch(pairs, workers=2, chunksize=8, timeout_s=SLACK_S)
    assert [v.status for v in verdicts] == EXPECTED * 3
    dict_pairs = [{"gold": g, "completion": c} for g, c in SAMPLE]
    assert [v.status for v in verify_math_batch(dict_pairs, timeout_s=SLACK_S)] == EXPECTED


def test_batch_from_inside_a_daemonic_pool_worker():
    import multiprocess

    with multiprocess.get_context("spawn").Pool(1) as pool:
        statuses = pool.apply(_statuses_in_worker, (SAMPLE[:5],))
    assert statuses == EXPECTED[:5]


def _statuses_in_worker(pairs: list) -> list[str]:
    from verifiers import verify_math

    return [verify_math(g, c).status for g, c in pairs]


def test_verdicts_are_deterministic():
    first = [verify_math(g, c) for g, c in SAMPLE]
    time.sleep(0)
    assert first == [verify_math(g, c) for g, c in SAMPLE]


GSM8K = [json.loads(line) for line in (DATA / "gsm8k_test.jsonl").read_text().splitlines() if line.strip()]


def test_gsm8k_solutions_verify_against_their_final_numbers():
    """Real worked solutions (with <<a*b=c>> notes and #### lines) against their gold numbers."""
    wrong = []
    for row in GSM8K:
        solution = row["answer"]
        gold = solution.rsplit("####", 1)[1].strip()
        if not verify_math(gold, solution).correct:
            wrong.append(gold)
        off_by_one = solution.rsplit("####", 1)[0] + f"#### {int(gold.replace(',', '')) + 1}"
        assert not verify_math(gold, off_by_one).correct, gold
    assert len(GSM8K) == 1319 and not wrong


@pytest.mark.parametrize(("gold", "answer", "status"), [
    ("\\frac13", "0.\\overline{3}", "correct"),
    ("\\frac16", "0.1\\overline{6}", "correct"),
    ("\\frac{\\pi}{6}", "30 degrees", "correct"),
    ("(3,4)", "(x, y) = (3, 4)", "correct"),
    ("$\\boxed{5}$", "5", "correct"),
    ("1000000", "1 000 000", "correct"),
    ("11", "1 1", "unparseable"),
    ("y=-x+3", "x+y=3", "correct"),
    ("e^{i\\pi}", "-1", "correct"),
    ("x \\geq 2", "[2, \\infty)", "correct"),
    ("\\infty", "-\\infty", "incorrect"),
    ("\\cos^2\\theta", "1-\\sin^2\\theta", "correct"),
    ("A=18, B=5", "18, 5", "correct"),
    ("c_1=1, c_2=2", "c_2 = 1, c_2 = 2", "incorrect"),
    ("\\cos(e) \\approx -0.912", "\\cos(e)", "correct"),
    ("\\cos(e) \\approx -0.912", "-0.912", "correct"),
    ("\\cos(2.01) \\approx -0.425", "\\cos(3.01) \\approx -0.425", "incorrect"),
    ("m n - \\lfloor m/2 \\rfloor", "m n - \\lfloor m/3 \\rfloor", "incorrect"),
    ("\\sin(\\sin(\\frac{34}{i}))", "\\sin(\\sin(\\frac{34}{i}))+1", "incorrect"),
    ("(158, 157)", "(158,157)", "correct"),  # a pair, whatever the spacing
    ("158157", "158,157", "correct"),
    ("(158, 157)", "(158,158)", "incorrect"),
    ("35, 36, 37", "37,36,35", "correct"),
    ("\\{3\\}", "x = 3", "correct"),  # a one-element set is its element
    ("\\{2, 3\\}", "3", "incorrect"),
])
def test_forms(gold, answer, status):
    assert verify_math(gold, answer, extract=False).status == status
