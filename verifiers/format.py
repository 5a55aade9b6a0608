"""Check that a completion follows the R1-Zero template: ``<think>...</think>`` then ``<answer>...</answer>``.

Tags are the exact, case-sensitive strings ``<think>``, ``</think>``, ``<answer>`` and ``</answer>``;
look-alikes such as ``<Think>`` or ``<think >`` are plain text. Tags inside markdown code fences
still count as tags, so a model cannot smuggle a second answer block past the check in a code block.
An empty think block is fine; an empty (or whitespace-only) answer is not. Text after ``</answer>``
fails in every mode: it is where a model hides a second answer that a lenient parser might take.

Every check is a handful of ``str.count``/``str.find`` calls, so it runs in linear time on any input.

>>> check_format("<think>2+2 is 4</think>\\n<answer>4</answer>")
FormatResult(ok=True, reason='ok')
>>> check_format("<think>2+2 is 4</think>\\n<answer>4</answer> Hope this helps!")
FormatResult(ok=False, reason='text after </answer>')
>>> check_format("2+2 is 4</think><answer>4</answer>", think_in_prompt=True).ok
True
>>> tag_count("<think>hmm</think> 4"), format_reward("<answer>4</answer>")
(0.5, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SYSTEM_PROMPT", "FormatResult", "check_format", "format_reward", "prompt_opens_think", "tag_count"]

THINK, END_THINK, ANSWER, END_ANSWER = "<think>", "</think>", "<answer>", "</answer>"
TAGS = (THINK, END_THINK, ANSWER, END_ANSWER)
LENIENT_OUTSIDE_CHARS = 200  # text tolerated before and between the blocks when strict=False
MAX_ANSWER_CHARS = 10_000  # a final answer, or a program; not the reasoning

# The R1-Zero template's instructions (DeepSeek-R1 paper, Table 1), in one place: the preamble of
# ``train.template.R1_ZERO``, and the chat system message of the data rlvr exports to chat-based trainers
# (``rlvr gen --format verl|openrlhf``).
SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>."
)


def prompt_opens_think(prompt: str) -> bool:
    """Whether a rendered prompt ends inside a think block (a chat template that prefills ``<think>``),
    so completions start with the reasoning and carry no ``<think>`` of their own.

    >>> prompt_opens_think("<|im_start|>assistant\\n<think>\\n"), prompt_opens_think("Assistant:")
    (True, False)
    """
    return prompt.rstrip().endswith(THINK)


@dataclass(frozen=True)
class FormatResult:
    """Whether a completion is well formed and, if not, a short reason saying what is wrong.

    >>> r = check_format("<answer>4</answer>")
    >>> bool(r), r.reason
    (False, 'missing <think>')
    """

    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def check_format(completion: str, strict: bool = True, *, think_in_prompt: bool = False,
                 max_answer_chars: int = MAX_ANSWER_CHARS) -> FormatResult:
    """Check the R1-Zero template: exactly one think block, then exactly one non-empty answer block.

    ``strict`` allows only whitespace before ``<think>``, between ``</think>`` and ``<answer>``, and
    after ``</answer>``. ``strict=False`` tolerates up to 200 characters of other text before and
    between the blocks (together), but never text after ``</answer>``; tags must still each appear
    once, in order. ``think_in_prompt=True`` is for prompts that end with ``<think>``: the completion
    starts inside the think block, so it must not open one itself. The answer block holds a final
    answer, not the reasoning: more than ``max_answer_chars`` characters in it fail. Never raises.

    >>> check_format("<think></think><answer>7</answer>")  # an empty think block is allowed
    FormatResult(ok=True, reason='ok')
    >>> check_format("<think>x</think><answer>1</answer><answer>2</answer>").reason
    '2 <answer> blocks'
    >>> check_format("Sure! <think>x</think><answer>1</answer>").reason
    'text before <think>'
    >>> check_format("Sure! <think>x</think><answer>1</answer>", strict=False).ok
    True
    >>> check_format(None)
    FormatResult(ok=False, reason='completion is NoneType, not str')
    """
    if not isinstance(completion, str):
        return FormatResult(False, f"completion is {type(completion).__name__}, not str")
    reason = _problem(completion, strict, think_in_prompt, max_answer_chars)
    return FormatResult(reason is None, reason or "ok")


def _problem(text: str, strict: bool, think_in_prompt: bool, max_answer_chars: int) -> str | None:
    """What is wrong with ``text``, or None; the first failed check wins, from counts to order to content."""
    count = {tag: text.count(tag) for tag in TAGS}
    first = {tag: text.find(tag) for tag in TAGS}

    if count[ANSWER] > 1:
        return f"{count[ANSWER]} <answer> blocks"
    if think_in_prompt and count[THINK]:
        return "<think> in completion: the prompt already opened it"
    if count[THINK] > 1:
        second = text.find(THINK, first[THINK] + len(THINK))
        if first[END_THINK] < 0 or second < first[END_THINK]:
            return "nested <think>"
        return f"{count[THINK]} <think> blocks"
    for closing in (END_THINK, END_ANSWER):
        if count[closing] > 1:
            return f"stray {closing}"
    for tag in TAGS:
        if count[tag] == 0 and not (tag == THINK and think_in_prompt):
            return f"missing {tag}"

    # Each tag now appears exactly once (no <think> with think_in_prompt: the text starts inside it).
    think_open = first[THINK] if count[THINK] else 0
    think_close, answer_open, answer_close = first[END_THINK], first[ANSWER], first[END_ANSWER]
    if think_close < think_open:
        return "stray </think>"
    if answer_close < answer_open:
        return "stray </answer>"
    if answer_open < think_close:
        if think_open < answer_open or think_in_prompt:
            return "<answer> inside <think>"
        if think_open < answer_close:
            return "<think> inside <answer>"
        return "answer before think"

    answer = text[answer_open + len(ANSWER) : answer_close].strip()
    if not answer:
        return "empty answer"
    if len(answer) > max_answer_chars:
        return f"answer block of {len(answer):,} characters (at most {max_answer_chars:,})"
    if text[answer_close + len(END_ANSWER) :].strip():
        return "text after </answer>"
    before = "" if think_in_prompt else text[:think_open].strip()
    between = text[think_close + len(END_THINK) : answer_open].strip()
    if strict:
        if before:
            return "text before <think>"
        if between:
            return "text between </think> and <answer>"
    elif len(before) + len(between) > LENIENT_OUTSIDE_CHARS:
        return f"{len(before) + len(between)} characters outside the blocks (at most {LENIENT_OUTSIDE_CHARS})"
    return None


def tag_count(completion: str, *, think_in_prompt: bool = False) -> float:
    """Partial credit for early training: 0.25 for each of the four tags that appears exactly once.

    Order and content are ignored. With ``think_in_prompt`` the ``<think>`` quarter is earned by
    its absence instead. The result is in [0, 1]; a non-str completion scores 0.0.

    >>> tag_count("<think>a</think><answer>b</answer>"), tag_count("<think>a</think> b")
    (1.0, 0.5)
    >>> tag_count("a</think><answer>b</answer>", think_in_prompt=True)
    1.0
    """
    if not isinstance(completion, str):
        return 0.0
    score = 0.0
    for tag in TAGS:
        wanted = 0 if tag == THINK and think_in_prompt else 1
        if completion.count(tag) == wanted:
            score += 0.25
    return score


def format_reward(completion: str, strict: bool = True, *, think_in_prompt: bool = False) -> float:
    """1.0 when :func:`check_format` accepts the completion, else 0.0.

    >>> format_reward("<think>a</think>\\n<answer>b</answer>\\n"), format_reward("<think>a</think>b")
    (1.0, 0.0)
    """
    return 1.0 if check_format(completion, strict, think_in_prompt=think_in_prompt) else 0.0
