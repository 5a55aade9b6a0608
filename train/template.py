"""The R1-Zero prompt template, in one place, and the SFT target built from a worked solution.

>>> render_prompt("What is 2 + 3?").endswith("User: What is 2 + 3?\\nAssistant:")
True
>>> render_completion("2 + 3 = 5", "5")
' <think>2 + 3 = 5</think> <answer>5</answer>'
"""

from __future__ import annotations

__all__ = ["PLAIN", "R1_ZERO", "TEMPLATES", "render_completion", "render_prompt", "resolve_template", "worked_reasoning"]

# DeepSeek-R1 paper, Table 1 (the template used to train R1-Zero), with "{prompt}" for the question.
R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>.\nUser: {prompt}\nAssistant:"
)

# The same question/answer turn without the instructions: for tiny models on a CPU budget, where the
# 90-token preamble would dominate every sequence. The format is then learnt from SFT alone.
PLAIN = "User: {prompt}\nAssistant:"
TEMPLATES = {"r1_zero": R1_ZERO, "plain": PLAIN}


def resolve_template(template: str) -> tuple[str, str]:
    """``(name, text)`` of a template given by name (``plain``) or by its text (with ``{prompt}``); a text
    that is none of ours is named ``custom``.

    >>> resolve_template("plain")
    ('plain', 'User: {prompt}\\nAssistant:')
    >>> resolve_template("Q: {prompt}\\nA:")[0]
    'custom'
    """
    if template in TEMPLATES:
        return template, TEMPLATES[template]
    if "{prompt}" not in template:
        raise ValueError(f"template {template[:40]!r}: expected one of {', '.join(TEMPLATES)} or a text with "
                         "{prompt}")
    return next((key for key, text in TEMPLATES.items() if text == template), "custom"), template


def render_prompt(prompt: str, template: str = R1_ZERO) -> str:
    """The question as the policy sees it."""
    return template.replace("{prompt}", prompt)


def render_completion(solution: str, answer: str) -> str:
    """What SFT teaches the model to write after the prompt: reasoning, then the answer."""
    return f" <think>{solution}</think> <answer>{answer}</answer>"


def worked_reasoning(row: dict) -> str:
    """What a problem's worked solution shows in ``<think>``: the whole solution, except for a code problem,
    whose solution is the plan followed by the program that is also its answer: there the plan alone, so the
    program is written once, in ``<answer>``.

    >>> worked_reasoning({"solution": "6 + 7 = 13.\\nThe answer is 13.", "answer": "13", "verifier": "math"})
    '6 + 7 = 13.\\nThe answer is 13.'
    >>> worked_reasoning({"solution": "Add them.\\n\\n```python\\nadd = int.__add__\\n```",
    ...                   "answer": "```python\\nadd = int.__add__\\n```", "verifier": "code"})
    'Add them.'
    """
    solution, answer = row["solution"], row["answer"]
    if row.get("verifier") == "code" and answer and solution.endswith(answer):
        return solution[: -len(answer)].rstrip()
    return solution
