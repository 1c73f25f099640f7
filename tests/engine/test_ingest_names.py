"""File names that are not valid UTF-8 (Latin-1 names from old archives and disks)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest import REASONS, ingest
from classkit.engine.project import Project
from tests.conftest import make_image

ONE = IngestConfig(workers=1)


@pytest.fixture
def latin1_tree(tmp_path: Path) -> Path:
    top = tmp_path / "data"
    make_image(top / "ok.jpg")
    make_image(Path(os.fsdecode(os.fsencode(top) + b"/caf\xe9.jpg")), seed=1)
    make_image(Path(os.fsdecode(os.fsencode(top) + b"/dir\xff/x.jpg")), seed=2)
    make_image(Path(os.fsdecode(os.fsencode(top) + b"/cats/\xe9t\xe9.png")), fmt="PNG", seed=3)
    make_image(top / "cats" / "fine.png", fmt="PNG", seed=4)
    (Path(os.fsdecode(os.fsencode(top) + b"/notes-\xe9.txt"))).write_text("not an image")
    return top


def test_undecodable_names_are_issues_not_a_crash(project: Project, latin1_tree: Path) -> None:
    summary = ingest(project, [latin1_tree], config=ONE)
    assert summary["added"] == 2
    assert summary["issues_by_reason"] == {"bad_file_name": 3}, summary["issue_examples"]
    assert "bad_file_name" in REASONS
    paths = sorted(e["path"] for e in summary["issue_examples"])
    assert paths[0].endswith("caf\\xe9.jpg") and "rename" in summary["issue_examples"][0]["detail"]
    again = ingest(project, [latin1_tree], config=ONE)  # idempotent, still reported
    assert again["unchanged"] == 2 and again["issues"] == 3


def test_undecodable_class_folder_in_imagefolder(project: Project, latin1_tree: Path) -> None:
    summary = ingest(project, [latin1_tree], kind="imagefolder", config=ONE)
    assert summary["added"] == 1 and summary["labels_imported"] == 1
    assert summary["issues_by_reason"] == {"bad_file_name": 2}


def test_undecodable_source_name_is_one_clear_error(project: Project, latin1_tree: Path) -> None:
    bad = Path(os.fsdecode(os.fsencode(latin1_tree) + b"/caf\xe9.jpg"))
    with pytest.raises(ClassKitError, match=r"caf\\xe9\.jpg is not valid UTF-8"):
        ingest(project, [bad], config=ONE)
