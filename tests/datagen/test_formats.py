"""``rlvr gen --format``: the layouts, the files each writes, and reading any of them back as Problem rows."""

from __future__ import annotations

import pytest

from datagen.api import mix_rows
from datagen.formats import check_target, layout_of, read_any, write_rows


@pytest.mark.parametrize("fmt,name", [("rlvr", "p.jsonl"), ("rlvr", "p.parquet"), ("rlvr", "folder"),
                                      ("verl", "p.parquet"), ("openrlhf", "p.jsonl"), ("openrlhf", "p.parquet")])
def test_every_layout_reads_back_as_the_same_rows(tmp_path, fmt, name):
    rows = mix_rows({"arithmetic": 1, "countdown": 1, "code_stdio": 1}, 9, seed=7)
    write_rows(rows, tmp_path / name, fmt)
    back = read_any(tmp_path / name)
    assert [row for _, row in back] == rows
    assert {layout_of(r) for r in back[0][1:]} == {"rlvr"}
    assert not list(tmp_path.glob("*.tmp"))  # written to a temporary sibling, renamed into place


@pytest.mark.parametrize("fmt,name,message", [("verl", "p.jsonl", "--format verl writes .parquet files"),
                                              ("openrlhf", "folder", "--format openrlhf writes .jsonl or .parquet"),
                                              ("trl", "p.jsonl", "unknown format 'trl'")])
def test_a_format_and_a_file_that_do_not_go_together(tmp_path, fmt, name, message):
    with pytest.raises(ValueError, match=message):
        check_target(tmp_path / name, fmt)
    with pytest.raises(ValueError, match=message):
        write_rows([], tmp_path / name, fmt)
    assert not (tmp_path / name).exists()
