"""Storage failures (full disk, busy or read-only database) become one clear sentence in the
CLI, the app's jobs and the label writer, never a traceback or a label that looks saved."""
from __future__ import annotations

import errno
import sqlite3
from collections import namedtuple
from pathlib import Path

import pytest

from classkit.cli.main import main
from classkit.engine.errors import ProjectError, describe_storage_error
from classkit.engine.ingest import ingest
from classkit.engine.project import Project
from classkit.engine.project import db as dbmod
from tests.conftest import make_image


@pytest.mark.parametrize(("exc", "words"), [
    (sqlite3.OperationalError("database or disk is full"), "disk holding the project is full"),
    (sqlite3.OperationalError("database is locked"), "another ClassKit process"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
    (sqlite3.OperationalError("something else"), "project database error: something else"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/y.npy"), "no space left on the disk (/x/y.npy)"),
])
def test_describe_storage_error(exc: BaseException, words: str) -> None:
    assert words in describe_storage_error(exc)


def test_other_errors_are_not_storage_errors() -> None:
    assert describe_storage_error(OSError(errno.EACCES, "Permission denied")) is None
    assert describe_storage_error(ValueError("x")) is None


def test_open_on_a_full_disk_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(dbmod.shutil, "disk_usage", lambda p: Usage(100, 100, 0))

    def broken(*a, **k):
        raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(dbmod.sqlite3, "connect", broken)
    with pytest.raises(ProjectError, match="disk holding the project is full"):
        dbmod.connect(tmp_path / "classkit.db")


def test_cli_label_on_a_full_disk(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")
    ingest(project, [tmp_path / "imgs"])
    root, name = project.root, project.classes()[0].name
    project.close()

    def full(self, labels_only=False):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(Project, "transaction", full)
    assert main(["label", str(root), "--id", "1", "--set", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("classkit: error: the disk holding the project is full") and "Traceback" not in err


def test_label_writer_reports_a_full_disk_in_words(project: Project, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from classkit.app.label import writer as writer_mod

    make_image(tmp_path / "imgs" / "a.jpg")
    ingest(project, [tmp_path / "imgs"])
    name = project.classes()[0].name

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(writer_mod, "add_labels", full)
    done: list[dict] = []
    w = writer_mod.LabelWriter(project.root, done.append)
    try:
        out = w.label([1], name).result(timeout=30)
    finally:
        w.close()
    assert out["ok"] is False and out["error"].startswith("the disk holding the project is full")
    assert done == [out]
