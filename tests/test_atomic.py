"""Outputs appear whole or not at all (io.atomic)."""

import os

import pytest

from deltaspace.io.atomic import atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_output_and_no_temp(tmp_path):
    out = tmp_path / "sub" / "table.csv"
    write_text_atomic(out, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half a ")
            raise RuntimeError("killed")
    assert out.read_text() == "old\n"
    assert [p.name for p in out.parent.iterdir()] == ["table.csv"]


def test_a_folder_output_replaces_the_previous_folder_whole(tmp_path):
    out = tmp_path / "edits"
    for files in (["a", "b"], ["c"]):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            for name in files:
                (tmp / name).write_text(name)
        assert sorted(p.name for p in out.iterdir()) == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edits"]


def test_a_leftover_temp_of_a_killed_run_is_replaced(tmp_path):
    out = tmp_path / "x.json"
    stale = tmp_path / f".x.json.tmp-{os.getpid()}"  # a killed run with the same pid left this
    stale.mkdir()
    (stale / "junk").write_text("junk")
    write_text_atomic(out, "{}")
    assert out.read_text() == "{}" and not stale.exists()
