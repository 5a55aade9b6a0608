"""The ``exact`` verifier: the answer must be the gold string, up to surrounding space and case.

For answers that are names or labels, not mathematics (``Paris``, ``True``, a DNA string).

>>> verify_exact("Paris", "<answer> paris </answer>").correct
True
"""

from __future__ import annotations

import re

from verifiers.extract import answer_of
from verifiers.verdict import Verdict

__all__ = ["verify_exact"]


def _key(text: str) -> str:
    text = re.sub(r"^\s*\\text\{(.*)\}\s*$", r"\1", text.strip(), flags=re.S)
    return re.sub(r"\s+", " ", text).strip().casefold()


def verify_exact(gold: str, completion: str, *, extract: bool = True) -> Verdict:
    """Compare the extracted answer with ``gold`` after trimming, collapsing spaces and casefolding."""
    if not isinstance(gold, str):
        return Verdict("unparseable", f"gold is {type(gold).__name__}, not str")
    answer, where = answer_of(completion, extract)
    if answer is None:
        return Verdict("no_answer", where)
    if _key(answer) == _key(gold):
        return Verdict("correct", "same text", answer)
    return Verdict("incorrect", "different text", answer)
