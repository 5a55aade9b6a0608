"""The prompt templates, in one place, the chat template that renders them, and the SFT target built from
a worked solution.

>>> render_prompt("What is 2 + 3?").endswith("User: What is 2 + 3?\\nAssistant:")
True
>>> render_completion("2 + 3 = 5", "5")
' <think>2 + 3 = 5</think> <answer>5</answer>'
"""

from __future__ import annotations

import json

from verifiers.format import SYSTEM_PROMPT

__all__ = ["PLAIN", "R1_ZERO", "TEMPLATES", "chat_template", "render_completion", "render_prompt",
           "resolve_template", "worked_reasoning"]

# The question/answer turn, with "{prompt}" for the question. Alone it is the template for tiny models on a
# CPU budget, where the 90-token preamble would dominate every sequence: the format is then learnt from SFT.
PLAIN = "User: {prompt}\nAssistant:"
# DeepSeek-R1 paper, Table 1 (the template used to train R1-Zero): the instructions, then the turn.
R1_ZERO = f"{SYSTEM_PROMPT}\n{PLAIN}"
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


def chat_template(template: str = R1_ZERO, *, bos: bool = True) -> str:
    """The Jinja chat template (``tokenizer_config.json``'s ``chat_template``) under which a user message
    renders as ``render_prompt(message, template)``, so ``apply_chat_template`` in transformers, TRL or
    vLLM gives a model trained here the prompt it was trained on; ``bos``: after the tokenizer's BOS token,
    as the trainer encodes prompts (chat templates carry it: their text is tokenized without special tokens).

    ``template`` is a name (``r1_zero``) or a text with ``{prompt}``. A system message replaces the R1-Zero
    instructions (the same text gives the same prompt: ``rlvr gen --format verl`` data renders exactly) and
    stands before the turn of other templates. An assistant message renders as the trainer's completions
    follow the prompt: after a space, then EOS (SFT on chat data sees the SFT stage's own sequences).

    >>> from jinja2 import Template
    >>> text = Template(chat_template("plain", bos=False)).render(
    ...     messages=[{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True)
    >>> text == render_prompt("What is 2 + 3?", PLAIN)
    True
    """
    _, text = resolve_template(template)
    system = None
    if text.startswith(SYSTEM_PROMPT + "\n"):  # the instructions, then the turn: a system message's place
        system, text = SYSTEM_PROMPT, text[len(SYSTEM_PROMPT) + 1:]
    *pieces, tail = text.split("{prompt}")  # a user message renders as its pieces around it; the tail asks
    lit = json.dumps  # a JSON string is a Jinja string literal (escapes and all)
    return (
        f"{{%- set system = {lit(system) if system is not None else 'none'} -%}}"
        f"{{%- set pieces = [{', '.join(map(lit, pieces))}] -%}}"
        f"{{%- set tail = {lit(tail)} -%}}"
        + ("{{- bos_token -}}" if bos else "")
        + "{%- if messages and messages[0]['role'] == 'system' -%}"
          "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
          "{%- else -%}{%- set turns = messages -%}{%- endif -%}"
          "{%- if system is not none -%}{{- system + '\\n' -}}{%- endif -%}"
          "{%- for message in turns -%}"
          "{%- if message['role'] == 'user' -%}"
          "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"
          "{%- for piece in pieces -%}{{- piece + message['content'] -}}{%- endfor -%}"
          "{%- elif message['role'] == 'assistant' -%}"
          "{{- tail + ' ' + message['content'] | trim + eos_token -}}"
          "{%- else -%}"
          "{{- raise_exception('only system, user and assistant messages, not ' + message['role']) -}}"
          "{%- endif -%}"
          "{%- endfor -%}"
          "{%- if add_generation_prompt -%}{{- tail -}}{%- endif -%}"
    )
