"""Find the final answer in a model completion.

In this order: the content of the single ``<answer>...</answer>`` block (a ``\\boxed{}`` inside it
wins); with no answer block, the last ``\\boxed{}``/``\\fbox{}``, then a GSM8K ``#### 42`` line, then
a final "the answer is X"; a completion that is nothing but a short answer is taken whole. Text
inside ``<think>`` never counts, nor does an answer tag quoted in a Markdown code fence. Two answer blocks, two different boxed answers in one block, and
hedges such as ``7 or 8`` are not an answer.

>>> extract_answer("<think>maybe \\\\boxed{5}</think><answer>6</answer>")
'6'
>>> extract_answer("So x = 3.\\n#### 1,234")
'1,234'
>>> extract_answer("<answer>7 or 8</answer>") is None
True
"""

from __future__ import annotations

import bisect
import re

__all__ = ["Extraction", "answer_of", "extract_answer", "find_answer", "is_hedge"]

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"^\s*####\s*(.+?)\s*$", re.M)
_ANSWER_IS = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*(.+?)\s*(?:\.\s*$|\.\s+[A-Z]|$|\n)", re.I | re.S
)
_HEDGE = re.compile(r"(?:^|[\s$}])(?:or|\\text\{\s*or\s*\}|\\lor|\\vee)(?:[\s${\\]|$)", re.I)
_SHORT = 40
_SENTENCE = re.compile(r"\b(?:is|are|was|the|result|answer|so|then|we|get)\b", re.I)


class Extraction(tuple):
    """``(answer, reason)``: the answer text or None, and where it came from or why there is none."""

    __slots__ = ()

    def __new__(cls, answer: str | None, reason: str):
        return super().__new__(cls, (answer, reason))

    @property
    def answer(self) -> str | None:
        return self[0]

    @property
    def reason(self) -> str:
        return self[1]


def _closing_braces(text: str) -> dict[int, int]:
    """Index of each ``{`` -> index of its matching ``}``, in one pass (escaped braces skipped)."""
    pairs, stack, i = {}, [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}``/``\\fbox{...}`` (balanced braces), in order.

    >>> boxed_contents(r"\\boxed{\\frac{1}{2}} and \\fbox{3}")
    ['\\\\frac{1}{2}', '3']
    """
    out = []
    closing = None
    for m in _BOX.finditer(text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            closing = _closing_braces(text) if closing is None else closing
            if i in closing:
                out.append(text[i + 1 : closing[i]])
        elif i < len(text):  # \boxed 5
            word = re.match(r"[^\s$]+", text[i : i + 200])
            if word:
                out.append(word.group(0))
    return out


def _blocks(text: str, tag: str, skip_fenced: bool = False) -> tuple[list[tuple[int, int]], list[int]]:
    """Closed ``<tag>...</tag>`` spans (content start, end) and unclosed openings; linear time.

    With ``skip_fenced``, an opening tag inside a Markdown code fence is quoted text, not a tag.
    """
    low = text.lower()
    opening, closing = f"<{tag}>", f"</{tag}>"
    fences = [m.start() for m in re.finditer("```", text)] if skip_fenced else []
    spans, unclosed, i = [], [], 0
    while True:
        start = low.find(opening, i)
        if start < 0:
            return spans, unclosed
        if bisect.bisect_left(fences, start) % 2:  # an odd number of fences before it: inside one
            i = start + len(opening)
            continue
        end = low.find(closing, start + len(opening))
        if end < 0:
            unclosed.append(start)
            return spans, unclosed
        spans.append((start + len(opening), end))
        i = end + len(closing)


def _strip_think(text: str) -> str:
    spans, unclosed = _blocks(text, "think")
    if spans or unclosed:
        kept, last = [], 0
        for start, end in spans:
            kept.append(text[last : start - len("<think>")])
            last = end + len("</think>")
        kept.append(text[last : unclosed[0]] if unclosed else text[last:])  # an unclosed think runs to the end
        text = " ".join(kept)
    low = text.lower()
    if "</think>" in low:  # the prompt opened the think block: everything before its end is thought
        text = text[low.rindex("</think>") + len("</think>") :]
    return text


def _clean(answer: str) -> str:
    """Drop surrounding ``$`` and a final period: ``$x = 2$.`` -> ``x = 2``."""
    answer = re.sub(r"(?<!\\)[.\s]+$", "", answer.strip())
    return re.sub(r"^\$+|(?<!\\)\$+$", "", answer).strip()


def find_answer(completion: str) -> Extraction:
    """The answer text and where it was found, keeping hedges (``verify_math`` judges those).

    >>> find_answer("The answer is $5$.")
    ('5', 'the answer is')
    """
    if not isinstance(completion, str):
        return Extraction(None, f"completion is {type(completion).__name__}, not str")
    text = _strip_think(completion)
    spans, unclosed = _blocks(text, "answer", skip_fenced=True)
    blocks = [text[start:end] for start, end in spans]
    if not blocks and unclosed:  # generation stopped at the closing tag and dropped it
        blocks = [text[unclosed[0] + len("<answer>") :]]
    if len(blocks) > 1:
        return Extraction(None, f"{len(blocks)} answer blocks")
    if blocks:
        block = blocks[0]
        boxes = {re.sub(r"\s+", "", b) for b in boxed_contents(block)}
        if len(boxes) > 1:
            return Extraction(None, "different boxed answers in the answer block")
        if boxes:
            return _found(boxed_contents(block)[-1], "boxed in answer block")
        said = _ANSWER_IS.match(block.strip())
        if said:  # <answer>The answer is 24.</answer>
            return _found(said.group(1), "answer block")
        return _found(block, "answer block")
    boxes = boxed_contents(text)
    if boxes:
        last_line = [ln for ln in text.splitlines() if _BOX.search(ln)][-1]
        between = _BOX.split(last_line)[-2] if len(boxed_contents(last_line)) > 1 else ""
        if is_hedge(between) and len({re.sub(r"\s+", "", b) for b in boxed_contents(last_line)}) > 1:
            return Extraction(None, "boxed alternatives: a hedge")
        return _found(boxes[-1], "last boxed")
    hashes = _HASHES.findall(text)
    if hashes:
        return _found(hashes[-1], "#### line")
    said = _ANSWER_IS.findall(text)
    if said:
        return _found(said[-1], "the answer is")
    stripped = text.strip()
    if stripped and not _BOX.search(stripped) and (_short(stripped) or _all_math(stripped)):
        return _found(stripped, "whole completion")
    return Extraction(None, "no answer found")


def _short(text: str) -> bool:
    """A few tokens and no sentence (``5 cm``, ``x = 2``, ``seven``; not ``the result is``)."""
    return len(text) <= _SHORT and len(text.split()) <= 4 and not _SENTENCE.search(text)


def _all_math(text: str) -> bool:
    """No prose: once LaTeX commands are removed, no word of three or more letters is left."""
    bare = re.sub(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+", " ", text)
    return len(text) <= 2000 and not re.search(r"[A-Za-z]{3,}", bare)


def _found(answer: str, where: str) -> Extraction:
    answer = _clean(answer)
    if not answer:
        return Extraction(None, f"empty {where}")
    return Extraction(answer, where)


def answer_of(completion: str, extract: bool = True) -> Extraction:
    """The answer to judge: found in the completion (``extract``), or the completion itself.

    >>> answer_of("<answer>4</answer>"), answer_of(" 4 ", extract=False), answer_of("", extract=False)
    (('4', 'answer block'), ('4', 'given'), (None, 'empty answer'))
    """
    if extract:
        return find_answer(completion)
    if isinstance(completion, str) and completion.strip():
        return Extraction(completion.strip(), "given")
    return Extraction(None, "empty answer")


def is_hedge(answer: str) -> bool:
    """True when the answer lists alternatives (``7 or 8``, ``3 \\lor 4``).

    >>> is_hedge("7 or 8"), is_hedge("x = 3")
    (True, False)
    """
    return bool(_HEDGE.search(answer))


def extract_answer(completion: str) -> str | None:
    """The final answer of a completion, or None when there is none or it hedges.

    >>> extract_answer("<think>2+2</think>\\n<answer>\\\\boxed{4}</answer>")
    '4'
    """
    answer, _ = find_answer(completion)
    if answer is None or is_hedge(answer):
        return None
    return answer
