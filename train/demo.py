"""``rlvr demo``: the main job on its small built-in default.

For now: generate one problem of every task and check that its gold answer passes its own
verifier while a perturbed answer fails (code runs in the sandbox), then score a built-in sample of
model outputs with the math verifier. As the trainer lands it grows into the whole pipeline
(generate, pretrain, SFT, GRPO, DPO, plots).
"""

from __future__ import annotations

import argparse
import time

from verifiers import verify_math

__all__ = ["SAMPLE", "main"]

# (question, gold, completion): outputs of the kind a model produces during RL on math.
SAMPLE: list[tuple[str, str, str]] = [
    ("Janet has 16 eggs, eats 3 and bakes with 4. She sells the rest at $2 each. How much does she make?",
     "18", "<think>16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.</think>\n<answer>\\$18</answer>"),
    ("What is 1/4 + 1/4?", "\\frac12", "<think>Two quarters make a half.</think>\n<answer>0.5</answer>"),
    ("Expand (x+1)^2.", "x^2+2x+1", "<think>Square the binomial.</think>\n<answer>(x+1)(x+1)</answer>"),
    ("Solve 2x + 3 = 7.", "2", "<think>2x = 4.</think>\n<answer>x = 2</answer>"),
    ("Solve x^2 = 9.", "\\pm 3", "<think>Two roots.</think>\n<answer>\\{-3, 3\\}</answer>"),
    ("Solve x + 5 > 2.", "x > -3", "<think>Subtract 5.</think>\n<answer>(-3, \\infty)</answer>"),
    ("Simplify sqrt(8).", "2\\sqrt{2}", "<think>8 = 4 * 2.</think>\n<answer>\\sqrt{8}</answer>"),
    ("What is 2^100?", "2^{100}", "<think>Exactly.</think>\n<answer>1267650600228229401496703205376</answer>"),
    ("What is 2^100 + 1?", "2^{100}+1", "<think>Almost.</think>\n<answer>1267650600228229401496703205376</answer>"),
    ("A rope is 50 cm long. How long in metres?", "0.5\\text{ m}", "The length is \\boxed{50\\text{ cm}}."),
    ("Compute 15% of 200.", "30", "15% of 200 is 30.\n#### 30"),
    ("Which choice is prime? (A) 4 (B) 7 (C) 9", "B", "<think>7 is prime.</think>\n<answer>\\textbf{(B)} 7</answer>"),
    ("How many sides does a heptagon have?", "7", "<think>hepta = 7</think>\n<answer>7 or 8</answer>"),
    ("Evaluate sin(pi/6).", "\\frac{1}{2}", "<think>Thirty degrees.</think>\n<answer>\\sin 30^\\circ</answer>"),
    ("What is 1/3 as a decimal?", "\\frac13", "<think>Divide.</think>\n<answer>0.333</answer>"),
    ("What is 1/3 as a decimal to 1 place?", "\\frac13", "<think>Divide.</think>\n<answer>0.3</answer>"),
    ("Find the tower.", "1", "<think>Huge.</think>\n<answer>9^{9^{9^9}}</answer>"),
    ("Give the answer.", "42", "<think>I think the answer is \\boxed{42} but I am not sure"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rlvr demo", description=__doc__)
    parser.add_argument("--timeout", type=float, default=1.0, help="time budget per verification (s)")
    parser.add_argument("--difficulty", type=int, default=3, help="difficulty of the generated problems (1..10)")
    args = parser.parse_args(argv)
    _generated(args.difficulty)
    print("\nrlvr demo: verifying a built-in sample of model outputs\n")
    header = f"{'#':>2}  {'gold':<16} {'extracted':<26} {'status':<11} {'ms':>6}  reason"
    print(header)
    print("-" * len(header))
    counts: dict[str, int] = {}
    for k, (_, gold, completion) in enumerate(SAMPLE, 1):
        start = time.perf_counter()
        verdict = verify_math(gold, completion, timeout_s=args.timeout)
        ms = 1000 * (time.perf_counter() - start)
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
        extracted = (verdict.extracted or "-").replace("\n", " ")
        print(f"{k:>2}  {_cut(gold, 16):<16} {_cut(extracted, 26):<26} {verdict.status:<11} {ms:6.1f}  "
              f"{verdict.reason}")
    print("\n" + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 0


def _generated(difficulty: int) -> None:
    """One problem per task: its gold answer must pass its verifier, a perturbed one must not."""
    from datagen.checks import completion, perturb
    from datagen.registry import list_tasks, make_problem
    from verifiers.rewards import judge

    print(f"rlvr demo: one generated problem per task (difficulty {difficulty})\n")
    header = f"{'task':<16} {'verifier':<10} {'prompt':<44} {'gold':>8} {'perturbed':>10}"
    print(header)
    print("-" * len(header))
    for name in list_tasks():
        row = make_problem(name, 0, difficulty, 0).to_row()
        gold = judge(completion(row["answer"]), row).status
        wrong = "```python\nprint()\n```" if row["verifier"] == "code" else perturb(row["answer"])
        bad = judge(completion(wrong), row).status
        prompt = " ".join(row["prompt"].split())
        print(f"{name:<16} {row['verifier']:<10} {_cut(prompt, 44):<44} {gold:>8} {bad:>10}")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
