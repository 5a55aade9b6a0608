r"""Find the final answer in a model completion: in rlvr's template, or in the wild.

Two extractions, chosen by the caller (``extraction=``):

``strict`` (for rewards): the one ``<answer>...</answer>`` block of the R1 template (a ``\boxed{}``
inside it wins); else an explicit final answer, whichever comes last: a ``\boxed{}`` (several boxes
joined by commas or "and" are one answer), a final-answer sentence (``Final Answer: The final answer
is $X$. I hope it is correct.``, ``The final answer is: $\boxed{5}$``, a ``**Final Answer**`` heading),
a GSM8K ``#### 42`` line; else an answer statement (``the answer is X``, ``**Answer:** 12``,
``Answer \[ 9 \]``); else a completion that is nothing but a short answer. Never the last number
of a ramble: a reward must not pay for a guess the model did not commit to.

``lenient`` (for outputs rlvr did not shape): all of that, then where a reader would look: the value
of the concluding sentence (``Therefore, the probability is 2/3.``), the last display-math block, the
last math or number; and, when nothing follows a closed ``<think>`` block, the reasoning inside it.

Both first drop what is not the model's answer: text inside ``<think>`` (the prompt may have opened
it), chat-template residue and the turn after it (``<|im_end|>``, ``<|eot_id|>``, ``</s>``,
``<|im_start|>user ...``, a ``User:``/``Question:`` turn after an answer), and a second JSON escaping
(``\\frac`` for ``\frac``). An answer tag quoted in a Markdown code fence is not a tag. Two answer
blocks, or two different boxes in one block, are no answer. Hedges (``7 or 8``, ``\boxed{7} or
\boxed{8}``) are found and kept: ``verify_math`` refuses them unless the gold has several values.

The reason of an extraction names where the answer was found (``boxed``, ``final answer sentence``).

>>> extract_answer("<think>maybe \\boxed{5}</think><answer>6</answer>")
'6'
>>> find_answer("Final Answer: The final answer is $7.78$. I hope it is correct.<|im_end|>")
('7.78', 'final answer sentence')
>>> find_answer("Therefore, the probability is 2/3.", "lenient")
('2/3', 'concluding sentence')
>>> extract_answer("<answer>7 or 8</answer>") is None
True
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from verifiers.prose import (
    last_math,
    last_number_at,
    mask_math,
    math_spans,
    sentence_end,
    sentences,
    single_value,
    statement_value,
)

__all__ = ["EXTRACTIONS", "Extraction", "answer_of", "boxed_contents", "extract_answer", "find_answer",
           "gold_answer", "is_hedge"]

EXTRACTIONS = ("strict", "lenient")

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"^\s*####\s*(.+?)\s*$", re.M)
_FINAL = re.compile(r"\bfinal\s+answer\b[*_\s]*?(?:\s*(?:is\b|:|=)|[*_]*\s*\n)", re.I)
_ANSWER = re.compile(
    r"\banswers?\b(?:\s+(?:to|for|of)\b[^.\n$\d\\]{0,40}?)?[*_\s]*(?:\bis\b|\bare\b|:|=)|"
    r"\banswers?[*_]*[ \t]*(?=\\\[|\\\(|\$)|"
    r"^[ \t]*(?:#{1,4}[ \t]*|[*_]{2})(?:final[ \t]+)?answers?\b[*_:]*[ \t]*$", re.I | re.M)
_BLOCK_STATEMENT = re.compile(
    r"\s*(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*(.+?)\s*(?:\.\s*$|\.\s+[A-Z]|$|\n)", re.I | re.S)
_OPTION = re.compile(r"\b(?:option|choice)\s*(?:is\b|:)", re.I)
_HEDGE = re.compile(r"(?:^|[\s$}])(?:or|\\text\{\s*or\s*\}|\\lor|\\vee)(?:[\s${\\]|$)", re.I)
_SHORT = 40
_MARKERS = 16  # answer markers tried, from the last one back
_TAIL = 6000  # characters at the end of a text where a reader looks for an unmarked conclusion
_FOREIGN_WORD = re.compile(r"[^\W\d_]*[À-ɏ][^\W\d_]*")
_SENTENCE = re.compile(r"\b(?:is|are|was|the|result|answer|so|then|we|get)\b", re.I)
# chat-template tokens: the model's turn ends at the first one (a leading role header is skipped)
_RESIDUE = re.compile(
    r"<\|(?:im_end|im_start|eot_id|eom_id|end_of_text|endoftext|end|user|assistant|system|"
    r"start_header_id|end_header_id|begin_of_text)\|>|</s>|<s>|<(?:end|start)_of_turn>|"
    r"<｜(?:end▁of▁sentence|begin▁of▁sentence|User|Assistant)｜>")
_ROLE = re.compile(r"\s*(?:assistant|model)\b\s*(?:<\|end_header_id\|>)?", re.I)
_NEXT_TURN = re.compile(r"\n[ \t]*(?:#{1,4}[ \t]*)?(?:User|Human|Question|Problem|Q|Instruction)[ \t]*:", re.I)
_CUE = re.compile(r"\b(?:therefore|thus|hence|so|in conclusion|in summary|finally|consequently|as a result|"
                  r"overall|in total|altogether|the result|the solution|we (?:get|find|obtain|have|conclude)|"
                  r"gives|yields|the answer)\b", re.I)
_CHATTER = re.compile(r"I hope (?:it|this) is correct|let me know|thank you|feel free|hope this helps|"
                      r"^\W*note\b", re.I)
_LABEL = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?\s*=\s*$")


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


# ---------------------------------------------------------------------------------------------
# Boxes


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


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, content)`` of every closed ``\\boxed{...}``/``\\fbox{...}``, in order."""
    out = []
    closing = None
    for m in _BOX.finditer(text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            closing = _closing_braces(text) if closing is None else closing
            if i in closing:
                out.append((m.start(), closing[i] + 1, text[i + 1 : closing[i]]))
        elif i < len(text):  # \boxed 5
            word = re.match(r"[^\s$]+", text[i : i + 200])
            if word:
                out.append((m.start(), i + word.end(), word.group(0)))
    return out


def boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}``/``\\fbox{...}`` (balanced braces), in order.

    >>> boxed_contents(r"\\boxed{\\frac{1}{2}} and \\fbox{3}")
    ['\\\\frac{1}{2}', '3']
    """
    return [content for _, _, content in _boxes(text)]


def _joiner(between: str) -> str | None:
    """How two boxes are joined: "and" (one answer of several values), "or" (alternatives), or None.

    Commas, "and", math delimiters, spacing and a short label (``for part (a) and``, ``y_2 =``) join;
    anything else (``and the sum is``, ``no no no``) separates two statements.
    """
    bare = re.sub(r"\\(?:text\w*|mathrm|mbox)\s*\{([^{}]*)\}", r" \1 ", between)
    bare = re.sub(r"\$|\\[()\[\]]|\\q?quad\b|\\[,;:! ]|\\\\|&", " ", bare)
    bare = _LABEL.sub(" ", bare.strip())
    words = bare.replace(",", " , ").replace(";", " ; ").lower().split()
    if not words:
        return "and"
    if len(words) > 6 or any(ch.isdigit() for ch in bare) or "=" in bare:
        return None
    if words[-1] not in (",", ";", "and", "or"):
        return None
    return "or" if "or" in words else "and"


def _box_groups(text: str) -> list[tuple[int, str, str]]:
    """``(end, answer, joiner)`` of each run of boxes that states one answer (see ``_joiner``)."""
    groups: list[tuple[int, list[str], str]] = []
    last_end = -1
    for start, end, content in _boxes(text):
        join = _joiner(text[last_end:start]) if groups else None
        if join is not None:
            _, contents, previous = groups[-1]
            contents.append(content)
            groups[-1] = (end, contents, "or" if "or" in (join, previous) else "and")
        else:
            groups.append((end, [content], "and"))
        last_end = end
    out = []
    for end, contents, join in groups:
        distinct: list[str] = []
        for c in contents:  # the same answer boxed twice is one answer
            if re.sub(r"\s+", "", c) not in (re.sub(r"\s+", "", d) for d in distinct):
                distinct.append(c)
        sep = ", " if join == "and" else " \\text{ or } "
        out.append((end, sep.join(distinct), "boxed alternatives" if len(distinct) > 1 and join == "or"
                    else "boxed" if len(distinct) == 1 else "boxed group"))
    return out


# ---------------------------------------------------------------------------------------------
# What is not the answer: a second escaping, chat-template residue, thinking, the next turn


def _unescape(text: str) -> str:
    """Undo a second JSON escaping (``\\\\frac``, ``\\n``) when every backslash in the text shows it."""
    if "\\\\" not in text:
        return text
    doubled = False
    for m in re.finditer(r"\\+", text):
        n, after = len(m.group(0)), text[m.end() : m.end() + 1]
        if n % 2 == 0:
            doubled = doubled or after.isalpha()
        elif n > 1 or after not in ('n', '"'):
            return text
    if not doubled:
        return text
    return re.sub(r"\\(\\|n|\")", lambda m: {"\\": "\\", "n": "\n", '"': '"'}[m.group(1)], text)


def _cut_residue(text: str) -> str:
    """The model's own turn: up to the first chat-template token that follows some text."""
    start = 0
    for m in _RESIDUE.finditer(text):
        if text[start : m.start()].strip():
            return text[start : m.start()]
        start = m.end()
        role = _ROLE.match(text, start)  # <|im_start|>assistant, <|start_header_id|>assistant<|end_header_id|>
        if role and not re.match(r"\s*:", text[role.end() :]):
            start = role.end()
    return text[start:]


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


def _split_think(text: str) -> tuple[str, str, bool]:
    """``(visible, thought, closed)``: the text outside ``<think>`` blocks, the thinking, and whether
    every think block was closed (an unclosed one runs to the end: the model never answered)."""
    spans, unclosed = _blocks(text, "think")
    thought: list[str] = []
    if spans or unclosed:
        kept, last = [], 0
        for start, end in spans:
            kept.append(text[last : start - len("<think>")])
            thought.append(text[start:end])
            last = end + len("</think>")
        if unclosed:
            kept.append(text[last : unclosed[0]])
            thought.append(text[unclosed[0] + len("<think>") :])
        else:
            kept.append(text[last:])
        text = " ".join(kept)
    low = text.lower()
    if "</think>" in low:  # the prompt opened the think block: everything before its end is thought
        cut = low.rindex("</think>")
        thought.append(text[:cut])
        text = text[cut + len("</think>") :]
    return text, "\n".join(thought), not unclosed


def _cut_next_turn(text: str) -> str:
    """Drop a next turn (``\\nUser: ...``, a few-shot ``\\nQuestion: ...``) once an answer was given."""
    for m in list(_NEXT_TURN.finditer(text))[:_MARKERS]:
        if _explicit(text[: m.start()], lenient=False) is not None:
            return text[: m.start()]
    return text


# ---------------------------------------------------------------------------------------------
# Finding the answer


def _clean(answer: str) -> str:
    """Drop surrounding ``$``/``\\(``/``\\[`` and a final period: ``$x = 2$.`` -> ``x = 2``."""
    answer = re.sub(r"(?<!\\)[.\s]+$", "", answer.strip().strip("*_").strip())
    answer = re.sub(r"^(?:\\\[|\\\()\s*|\s*(?:\\\]|\\\))$", "", answer)
    return re.sub(r"^\$+|(?<!\\)\$+$", "", answer).strip()


def _found(answer: str, where: str) -> Extraction:
    answer = _clean(answer)
    if not answer:
        return Extraction(None, f"empty {where}")
    return Extraction(answer, where)


def _statement(text: str, start: int, ends_at: Callable[[int], int], lenient: bool) -> tuple[int, str] | None:
    """``(end, value)`` of the answer stated from ``start`` on (its sentence), or None."""
    while start < len(text) and text[start] in " \t*_:":
        start += 1
    if text[start : start + 1] == "\n":  # a heading: the value is on the next line
        start = len(text) - len(text[start:].lstrip())
    end = ends_at(start)
    raw = text[start:end]
    boxes = _box_groups(raw)
    if boxes:
        return start + boxes[-1][0], boxes[-1][1]
    value = statement_value(raw, lenient)
    return (end, value) if value else None


def _explicit(text: str, lenient: bool, tiers: int = 2) -> Extraction | None:
    """Tier 1: the last boxed answer, final-answer sentence or #### line. Tier 2: the last answer
    statement ("the answer is", "Answer:"; in lenient mode also "the correct option is")."""
    masked: list[str] = []  # the text with math blanked, made once and only when a statement needs it

    def ends_at(start: int) -> int:
        if not masked:
            masked.append(mask_math(text))
        return sentence_end(text, start, masked[0])

    found: list[tuple[int, str, str]] = [(end, answer, where) for end, answer, where in _box_groups(text)]
    for m in reversed(list(_FINAL.finditer(text))[-_MARKERS:]):  # the last that states a value
        stated = _statement(text, m.end(), ends_at, lenient)
        if stated:
            found.append((*stated, "final answer sentence"))
            break
    for m in _HASHES.finditer(text):
        found.append((m.end(), m.group(1), "#### line"))
    if found:
        _, answer, where = max(found, key=lambda f: f[0])
        return _found(answer, where)
    if tiers < 2:
        return None
    markers = [*_ANSWER.finditer(text), *(_OPTION.finditer(text) if lenient else ())]
    for m in sorted(markers, key=lambda m: m.end(), reverse=True)[:_MARKERS]:
        stated = _statement(text, m.end(), ends_at, lenient)
        if stated:
            return _found(stated[1], "answer statement")
    return None


def _inferred(text: str) -> Extraction | None:
    """Lenient only: the concluding sentence's value, else the last display math, else the last value;
    all in the last lines of the text (a reader looks at the end; long inputs stay fast)."""
    if len(text) > _TAIL:
        cut = text.find("\n", len(text) - _TAIL)
        text = text[cut + 1 :] if 0 <= cut < len(text) - 1 else text[-_TAIL:]
    masked = mask_math(text)
    for start, end in reversed(sentences(text)):
        if _CHATTER.search(text, start, end + 1):
            continue
        for cue in reversed(list(_CUE.finditer(masked, start, end + 1))):
            conclusion = text[cue.end() : end + 1]  # "Therefore, the probability is 2/3": what follows the cue
            value = statement_value(conclusion, lenient=True)
            if value and re.search(r"\d|\\[A-Za-z]", value) and len(re.findall(r"\b[A-Za-z]{2,}", value)) <= 2:
                return _found(value, "concluding sentence")
            value = single_value(conclusion)
            if value:
                return _found(value, "concluding sentence")
    display = [s for s in math_spans(text) if text.startswith(("$$", "\\["), s[0]) and s[2].strip()]
    if display:
        return _found(display[-1][2], "last display math")
    candidates = [c for c in (last_math(text), last_number_at(text)) if c]
    if candidates:
        return _found(max(candidates)[1], "last value")
    return None


def find_answer(completion: str, extraction: str = "strict") -> Extraction:
    """The answer text and where it was found, keeping hedges (``verify_math`` judges those).

    >>> find_answer("The answer is $5$.")
    ('5', 'answer statement')
    >>> find_answer("<think>2+2</think>So we get 4, I think.", "strict").answer is None
    True
    """
    if extraction not in EXTRACTIONS:
        raise ValueError(f"extraction must be one of {EXTRACTIONS}, not {extraction!r}")
    if not isinstance(completion, str):
        return Extraction(None, f"completion is {type(completion).__name__}, not str")
    lenient = extraction == "lenient"
    text, thought, closed = _split_think(_cut_residue(_unescape(completion)))
    spans, unclosed = _blocks(text, "answer", skip_fenced=True)
    blocks = [text[start:end] for start, end in spans]
    if not blocks and unclosed:  # generation stopped at the closing tag and dropped it
        blocks = [text[unclosed[0] + len("<answer>") :]]
    if len(blocks) > 1:
        return Extraction(None, f"{len(blocks)} answer blocks")
    if blocks:
        return _from_block(blocks[0])
    text = _cut_next_turn(text)
    found = _explicit(text, lenient=False)  # lenient finds whatever strict finds, and looks further
    if found is None and lenient:
        found = _explicit(text, lenient=True)
    found = found or _whole(text) or (_inferred(text) if lenient else None)
    if found is None and lenient and closed and thought.strip() and not text.strip():
        found = _explicit(thought, lenient=True) or _inferred(thought)
        if found is not None:
            return Extraction(found.answer, f"{found.reason} in the thinking")
    return found or Extraction(None, "no answer found")


def _from_block(block: str) -> Extraction:
    boxes = {re.sub(r"\s+", "", b) for b in boxed_contents(block)}
    if len(boxes) > 1:
        return Extraction(None, "different boxed answers in the answer block")
    if boxes:
        return _found(boxed_contents(block)[-1], "boxed in answer block")
    said = _BLOCK_STATEMENT.match(block)
    if said:  # <answer>The answer is 24.</answer>
        return _found(said.group(1), "answer block")
    return _found(block, "answer block")


def _whole(text: str) -> Extraction | None:
    """A completion that is nothing but a short answer, or nothing but math, is the answer."""
    stripped = text.strip()
    if stripped and not _BOX.search(stripped) and (_short(stripped) or _all_math(stripped)):
        return _found(stripped, "whole completion")
    return None


def _short(text: str) -> bool:
    """A few tokens and no sentence (``5 cm``, ``x = 2``, ``seven``; not ``the result is``, nor a sentence
    in another language, ``La réponse est 3``)."""
    return (len(text) <= _SHORT and len(text.split()) <= 4 and not _SENTENCE.search(text)
            and not _FOREIGN_WORD.search(text))


def _all_math(text: str) -> bool:
    """No prose: once LaTeX commands are removed, no word of three or more letters is left (nor "so")."""
    bare = re.sub(r"\\(?:begin|end)\{[^}]*\}|\\[A-Za-z]+", " ", text)
    return len(text) <= 2000 and not re.search(r"[A-Za-z]{3,}", bare) and not _SENTENCE.search(bare)


def gold_answer(gold: str) -> str:
    """The answer a gold states: the final answer of a worked solution (its boxed answer, ``####``
    line or final-answer sentence), else the gold itself.

    >>> gold_answer("Since 2+2=4, the answer is $\\\\boxed{4}$."), gold_answer("x^2")
    ('4', 'x^2')
    """
    text = _unescape(gold)
    if _BOX.search(text) or "####" in text or _FINAL.search(text):
        found = _explicit(_split_think(_cut_residue(text))[0], lenient=False, tiers=1)
        if found is not None and found.answer is not None:
            return found.answer
    return text


def answer_of(completion: str, extract: bool = True, extraction: str = "strict") -> Extraction:
    """The answer to judge: found in the completion (``extract``), or the completion itself.

    >>> answer_of("<answer>4</answer>"), answer_of(" 4 ", extract=False), answer_of("", extract=False)
    (('4', 'answer block'), ('4', 'given'), (None, 'empty answer'))
    """
    if extract:
        return find_answer(completion, extraction)
    if isinstance(completion, str) and completion.strip():
        return Extraction(completion.strip(), "given")
    return Extraction(None, "empty answer")


def is_hedge(answer: str) -> bool:
    """True when the answer lists alternatives (``7 or 8``, ``3 \\lor 4``).

    >>> is_hedge("7 or 8"), is_hedge("x = 3")
    (True, False)
    """
    return bool(_HEDGE.search(answer))


def extract_answer(completion: str, extraction: str = "strict") -> str | None:
    """The final answer of a completion, or None when there is none or it hedges.

    >>> extract_answer("<think>2+2</think>\\n<answer>\\\\boxed{4}</answer>")
    '4'
    >>> extract_answer("So x = 3.\\n#### 1,234")
    '1,234'
    """
    answer, _ = find_answer(completion, extraction)
    if answer is None or is_hedge(answer):
        return None
    return answer
