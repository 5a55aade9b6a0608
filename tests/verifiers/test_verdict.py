from dataclasses import FrozenInstanceError

import pytest

from verifiers import Verdict


def test_verdict_is_three_way_and_checked():
    assert Verdict("correct", "ok").judged and Verdict("incorrect", "no").judged
    assert not Verdict("timeout", "slow").judged and not Verdict("timeout", "slow").correct
    with pytest.raises(ValueError, match="status must be one of"):
        Verdict("right", "typo")
    with pytest.raises(FrozenInstanceError):
        Verdict("correct", "ok").status = "incorrect"  # type: ignore[misc]
    assert Verdict("correct", "ok", "1").to_dict() == {"correct": True, "status": "correct", "reason": "ok",
                                                       "extracted": "1"}
