"""File names that are not valid UTF-8 (Latin-1 names from old archives and disks), and
image files Pillow cannot read although they are valid (TIFF variants)."""
from __future__ import annotations

import os
import struct
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


def _float_rgb_tiff(w: int = 2, h: int = 2) -> bytes:
    """A valid uncompressed TIFF with 32-bit float RGB samples (Pillow cannot read it)."""
    entries = 11
    ifd_at = 8
    extra_at = ifd_at + 2 + entries * 12 + 4
    bits_at, fmt_at, data_at = extra_at, extra_at + 6, extra_at + 12
    nbytes = w * h * 3 * 4

    def entry(tag: int, kind: int, count: int, value: int) -> bytes:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 and count == 1 else \
            struct.pack("<I", value)
        return struct.pack("<HHI", tag, kind, count) + packed

    ifd = b"".join([
        entry(256, 3, 1, w), entry(257, 3, 1, h), entry(258, 3, 3, bits_at), entry(259, 3, 1, 1),
        entry(262, 3, 1, 2), entry(273, 4, 1, data_at), entry(277, 3, 1, 3), entry(278, 3, 1, h),
        entry(279, 4, 1, nbytes), entry(284, 3, 1, 1), entry(339, 3, 3, fmt_at)])
    return (b"II*\0" + struct.pack("<I", ifd_at) + struct.pack("<H", entries) + ifd + b"\0\0\0\0"
            + struct.pack("<3H", 32, 32, 32) + struct.pack("<3H", 3, 3, 3)
            + struct.pack(f"<{w * h * 3}f", *([0.5] * (w * h * 3))))


def test_unreadable_tiff_variant_is_unsupported_not_corrupt(tmp_path: Path) -> None:
    from classkit.engine.ingest.probe import probe_file

    p = tmp_path / "float_rgb.tif"
    p.write_bytes(_float_rgb_tiff())
    res = probe_file(str(p), 10**8, 1 << 30)
    assert res["reason"] == "unsupported_format", res
    assert "convert it to PNG" in res["detail"]
