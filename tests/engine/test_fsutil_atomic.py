"""Atomic writes: a failed or interrupted write leaves the old file and no temporary file."""
from __future__ import annotations

import pytest

from classkit.engine.fsutil import open_atomic, write_bytes_atomic
from classkit.engine.loop.predictions import write_predictions_csv


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_open_atomic_replaces_only_on_success(tmp_path):
    out = tmp_path / "a.txt"
    write_bytes_atomic(out, b"old")
    with pytest.raises(RuntimeError), open_atomic(out, "w", encoding="utf-8") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert out.read_bytes() == b"old" and _leftovers(tmp_path) == []
    with open_atomic(out, "w", encoding="utf-8") as fh:
        fh.write("new")
    assert out.read_text() == "new" and _leftovers(tmp_path) == []


def test_open_atomic_rejects_read_modes(tmp_path):
    with pytest.raises(ValueError), open_atomic(tmp_path / "x", "r"):
        pass


def test_predictions_csv_failing_row_keeps_old_file(tmp_path):
    out = tmp_path / "pred.csv"
    good = [{"id": 1, "path": "/a b/c,d.png", "predicted": "cat", "confidence": 0.9}]
    write_predictions_csv(good, out)
    before = out.read_text(encoding="utf-8")
    assert before.splitlines()[1] == '1,"/a b/c,d.png",cat,0.9'
    with pytest.raises(ValueError):
        write_predictions_csv(good + [{"id": 2, "oops": 1}], out)
    assert out.read_text(encoding="utf-8") == before and _leftovers(tmp_path) == []


def test_predictions_csv_onto_a_folder_leaves_no_temp_file(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    with pytest.raises(OSError):
        write_predictions_csv([{"id": 1, "path": "p", "predicted": "c", "confidence": 1.0}], folder)
    assert _leftovers(tmp_path) == [] and folder.is_dir()
