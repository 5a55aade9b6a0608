"""The result of checking one completion."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["JUDGED", "STATUSES", "Verdict"]

STATUSES = ("correct", "incorrect", "no_answer", "unparseable", "timeout")
JUDGED = ("correct", "incorrect")  # the others mean "could not judge": a trainer may skip the problem


@dataclass(frozen=True)
class Verdict:
    """A three-way verdict: correct, incorrect, or could-not-judge, always with a short reason.

    >>> v = Verdict("correct", "equivalent", "1/2")
    >>> v.correct, v.judged
    (True, True)
    """

    status: str
    reason: str
    extracted: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    @property
    def judged(self) -> bool:
        """False for no_answer, unparseable and timeout: the verifier could not decide."""
        return self.status in JUDGED

    def to_dict(self) -> dict:
        return {"correct": self.correct, **asdict(self)}
