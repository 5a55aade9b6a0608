r"""Read values out of prose: math spans, sentences, answer statements and bare numbers.

Outputs that rlvr did not shape state their answer in words: ``Final Answer: The final answer is
$7.78$. I hope it is correct.``, ``**Answer:** 12``, ``Therefore, the probability is 2/3.``. This
module finds where such a statement ends and which part of it is the value; ``verifiers.extract``
decides which statement counts. Every scan is linear in the text (bounded regexes, one pass).

>>> statement_value("The volume of $ABCD$ is 120")
'120'
>>> [text for _, _, text in math_spans(r"costs $5 and $6 in all, so $x = 2$")]
['x = 2']
>>> last_number("Soucis : 2,74 $ a..")
'2,74'
"""

from __future__ import annotations

import re

__all__ = ["last_math", "last_number", "last_number_at", "looks_like_value", "mask_math", "math_spans", "sentence_end", "sentences",
           "single_value", "statement_value"]

MAX_STATEMENT = 600  # characters a stated answer may run before its sentence must have ended

_OPEN = re.compile(r"\$\$|(?<!\\)\$|\\\(|\\\[")
_CLOSERS = {"$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_PROSE = re.compile(r"[A-Za-z]{2,}[\s,]+[A-Za-z]{2,}")
_COMMANDS = re.compile(r"\\(?:text\w*|mathrm|mbox|operatorname)\s*\{[^{}]*\}|\\[A-Za-z]+")
# a number in running text: thousands groups, decimals (point or comma), a fraction, a currency sign or
# percent around it; never a digit inside a word (AZYUK2A) or a version/date-like chain (1.2.3)
_NUMBER = re.compile(
    r"(?<![\w.,/\\])(?:[-−](?=[\d.]))?(?:[$€£¥₹]\s?)?"
    r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?(?:\s*/\s*\d+)?|\.\d+)(?![\d.]\d)"
    r"(?:\s*(?:%|\\%|percent\b))?"
)
# where a value follows in a sentence: "... is 120", "... = 5", "... equals 7", "... are 3 and 4"
_COPULA = re.compile(r"\b(?:is|are|was|were|equals|be|becomes|gives|of)\b(?:\s*:)?|=|:", re.I)
_VERBS = re.compile(r"\b(?:is|am|are|was|were|be|not|has|have|had|will|would|can|could|should|must|does|did|"
                    r"means|gives|get|gets|got|find|found|let|we|you|this|that|because|since|which)\b",
                    re.I)
_HOPE = re.compile(r"\s*I hope (?:it|this) is correct", re.I)
_HOPES = ("I hope it is correct", "I hope this is correct")


def math_spans(text: str) -> list[tuple[int, int, str]]:
    r"""``(start, end, content)`` of each ``$...$``, ``$$...$$``, ``\(...\)``, ``\[...\]`` span, in order.

    Inline ``$`` math closes on its own line. A ``$`` before a number whose closing ``$`` is followed by
    a digit, or that would enclose running prose, is a price (``$5 and $6``), not math.
    """
    out, i = [], 0
    unclosed: dict[str, int] = {}  # closer -> a position after which it was not found (no search twice)
    while True:
        m = _OPEN.search(text, i)
        if not m:
            return out
        token, body = m.group(0), m.end()
        if body < unclosed.get(token, -1):
            close = -1
        elif token == "$":
            close = _closing_dollar(text, body)
            if close >= 0 and _is_price(text, body, close):
                i = body
                continue
        else:
            close = text.find(_CLOSERS[token], body)
        if close < 0:
            line_end = text.find("\n", body)
            unclosed[token] = (line_end if line_end >= 0 else len(text)) if token == "$" else len(text)
            i = body
            continue
        width = 1 if token == "$" else 2
        out.append((m.start(), close + width, text[body:close]))
        i = close + width


def _closing_dollar(text: str, start: int) -> int:
    """The next unescaped single ``$`` on the same line, or -1."""
    line_end = text.find("\n", start)
    k = start
    while True:
        k = text.find("$", k)
        if k < 0 or (0 <= line_end < k):
            return -1
        if text[k - 1] != "\\" and text[k + 1 : k + 2] != "$":
            return k
        k += 2 if text[k + 1 : k + 2] == "$" else 1


def _is_price(text: str, body: int, close: int) -> bool:
    if not text[body : body + 1].isdigit():
        return False
    after = text[close + 1 : close + 2]
    return after.isdigit() or bool(_PROSE.search(_COMMANDS.sub(" ", text[body:close])))


def mask_math(text: str) -> str:
    """The text with every math span blanked (same length), so prose scans skip math."""
    spans = math_spans(text)
    if not spans:
        return text
    parts, last = [], 0
    for start, end, _ in spans:
        parts += [text[last:start], " " * (end - start)]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def sentence_end(text: str, start: int, masked: str | None = None) -> int:
    """Where the sentence that starts at ``start`` ends: a ``.``, ``!``, ``?`` or ``;`` followed by space,
    a line break, or "I hope it is correct"; math spans never end a sentence. At most MAX_STATEMENT on.
    """
    masked = mask_math(text) if masked is None else masked
    stop = min(len(text), start + MAX_STATEMENT)
    k = start
    while k < stop:
        ch = masked[k]
        if ch == "\n" and masked[start:k].strip():
            return k
        if ch in ".!?;" and (k + 1 >= len(text) or text[k + 1].isspace()):
            return k
        if ch == "I" and text.startswith(_HOPES, k) and masked[start:k].strip():
            return k
        k += 1
    return stop


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (math spans kept whole)."""
    masked = mask_math(text)
    out, k = [], 0
    while k < len(text):
        while k < len(text) and text[k].isspace():
            k += 1
        if k >= len(text):
            break
        end = sentence_end(text, k, masked)
        out.append((k, end))
        k = max(end + 1, k + 1)
    return out


def looks_like_value(text: str) -> bool:
    """A value, not a sentence: math, or a few words with no verb (``12 apples``, ``no solution``)."""
    bare = _strip_delimiters(text)
    if not bare or _VERBS.search(_COMMANDS.sub(" ", mask_math(bare))):
        return False
    if not re.search(r"[A-Za-z]{3,}", _COMMANDS.sub(" ", bare)):
        return True
    words = _COMMANDS.sub(" ", bare).split()
    return len(words) <= 5 and len(bare) <= 80


def _strip_delimiters(text: str) -> str:
    text = text.strip().strip("*_\"'` ").strip()
    text = re.sub(r"^(?:\\\[|\\\(|\$\$|\$)\s*|\s*(?:\\\]|\\\)|\$\$|\$)$", "", text)
    return text.strip()


def single_value(text: str) -> str | None:
    """The one math span, or else the one number, of a statement; None when there are several or none."""
    spans = math_spans(text)
    if len(spans) == 1:
        return spans[0][2]
    if spans:
        return None
    numbers = _NUMBER.findall(text)
    return numbers[0] if len(numbers) == 1 else None


def statement_value(raw: str, lenient: bool = False) -> str | None:
    """The value a stated answer gives, or None when the statement gives none.

    ``raw`` is what follows an answer marker, up to the end of its sentence. A value is kept as is;
    prose is read up to its last "is"/"="/"are" (``The largest $n$ is 34`` -> ``34``). ``lenient`` also
    takes the single math span or number of a sentence (``Jane started 3 hours ago`` -> ``3``).

    >>> statement_value("The final answer is $\\\\frac{1}{2}$"), statement_value("I am not sure, sorry")
    ('$\\\\frac{1}{2}$', None)
    """
    raw = _tidy(_HOPE.split(raw, maxsplit=1)[0])
    if not raw:
        return None
    if looks_like_value(raw):
        return raw
    masked = mask_math(raw)
    tails = [m.end() for m in _COPULA.finditer(masked)]
    for end in reversed(tails):
        tail = _tidy(raw[end:])
        if tail and looks_like_value(tail):
            return tail
    return single_value(raw) if lenient else None


def _tidy(text: str) -> str:
    """Without the quotes and Markdown emphasis around it (``**12**``, ``\\"$12$\\"``)."""
    return re.sub(r'\\"', '"', text).strip().strip("*_\"'` ").strip()


def last_math(text: str) -> tuple[int, str] | None:
    """``(end, content)`` of the last math span, or None."""
    spans = [s for s in math_spans(text) if s[2].strip()]
    return (spans[-1][1], spans[-1][2]) if spans else None


def last_number(text: str) -> str | None:
    """The last number written in running text (outside math), with its currency sign or percent."""
    found = list(_NUMBER.finditer(mask_math(text)))
    return found[-1].group(0) if found else None


def last_number_at(text: str) -> tuple[int, str] | None:
    """``(end, number)`` of the last number in running text, or None."""
    found = list(_NUMBER.finditer(mask_math(text)))
    return (found[-1].end(), found[-1].group(0)) if found else None
