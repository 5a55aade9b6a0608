"""The labels file: appends are whole lines or nothing, a line cut short by a crash is moved aside when the
file is opened again, and the counts and labelled problems come back from the files."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.web import labels
from train.web.labels import LabelStore, append_line, repair_tail, ties_path


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=20) | st.integers()), max_size=5),
       cut=st.integers(0, 400))
def test_a_file_cut_anywhere_reads_back_whole_after_repair(tmp_path_factory, rows, cut):
    path = tmp_path_factory.mktemp("cut") / "prefs.jsonl"
    for row in rows:
        append_line(path, row)
    data = path.read_bytes() if path.exists() else b""
    cut = min(cut, len(data))
    path.write_bytes(data[:cut])  # a crash at byte `cut`
    moved = repair_tail(path)
    kept = path.read_bytes()
    assert kept == data[:data.rfind(b"\n", 0, cut) + 1] if cut else kept == b""
    assert [json.loads(line) for line in kept.splitlines()] == rows[:kept.count(b"\n")]
    assert moved == cut - len(kept)
    torn = path.with_name(path.name + ".torn")
    assert (torn.read_bytes() == data[len(kept):cut] + b"\n") if moved else not torn.exists()


def test_a_failed_write_leaves_no_partial_line(tmp_path, monkeypatch):
    path = tmp_path / "prefs.jsonl"
    append_line(path, {"prompt": "a", "chosen": "b", "rejected": "c"})
    before = path.read_bytes()
    real_write = os.write

    def half_then_full_disk(fd, data):
        if len(data) > 8:
            return real_write(fd, bytes(data[:8]))  # the system took only part of the line
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(labels.os, "write", half_then_full_disk)
    with pytest.raises(OSError, match="No space"):
        append_line(path, {"prompt": "x" * 100, "chosen": "y", "rejected": "z"})
    assert path.read_bytes() == before


def test_a_short_write_is_finished(tmp_path, monkeypatch):
    path = tmp_path / "prefs.jsonl"
    real_write = os.write
    monkeypatch.setattr(labels.os, "write", lambda fd, data: real_write(fd, bytes(data[:5])))
    append_line(path, {"prompt": "a" * 30})
    assert json.loads(path.read_text()) == {"prompt": "a" * 30}


def test_the_store_counts_both_files_and_moves_a_torn_line_aside(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b", "who": "ana", "problem_id": "q1"}\n'
                    '{"prompt": "p", "chosen": "a", "rej')
    ties_path(path).write_text('{"prompt": "p", "label": "tie", "who": "bo", "problem_id": 7}\n')
    store = LabelStore(path)
    assert store.torn == {str(path): len('{"prompt": "p", "chosen": "a", "rej')}
    assert store.counts() == {"pairs": 1, "no_preference": 1, "by_who": {"ana": 1, "bo": 1}}
    assert store.labelled_ids == {"q1", "7"}
    store.append({"prompt": "p", "chosen": "c", "rejected": "d", "who": "ana", "problem_id": "q2"})
    assert store.counts()["pairs"] == 2 and "q2" in store.labelled_ids
    assert [json.loads(line)["chosen"] for line in path.read_text().splitlines()] == ["a", "c"]


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LabelStore(tmp_path / "no" / "prefs.jsonl")
    path = tmp_path / "prefs.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"prefs.jsonl:1: expected a JSON object"):
        LabelStore(path)
