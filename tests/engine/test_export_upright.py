"""EXIF-oriented photos at export: listed and warned about by default; with ``upright`` written
with the rotation applied to the pixels (same format, tag reset), byte-identical when repeated."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from classkit.engine.errors import ClassKitError
from classkit.engine.export import ExportOptions, export_project
from classkit.engine.export.orient import exif_orientation
from classkit.engine.labels import add_labels
from classkit.engine.project import Project
from tests.engine.test_export_formats import add_files, check_hashes


def _photo(path: Path, orientation: int, fmt: str = "JPEG") -> Path:
    """A 60x30 image (left half dark, right half bright) tagged with ``orientation``."""
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, 30:] = 220
    arr[:5, :] = (200, 30, 30)  # a red top band tells the rotations apart
    im = Image.fromarray(arr)
    exif = im.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return path


@pytest.fixture
def photos(project: Project, tmp_path: Path) -> dict[str, Path]:
    files = {"side.jpg": _photo(tmp_path / "src" / "side.jpg", 6),
             "flip.png": _photo(tmp_path / "src" / "flip.png", 3, "PNG"),
             "plain.jpg": _photo(tmp_path / "src" / "plain.jpg", 1),
             "plain2.png": _photo(tmp_path / "src" / "plain2.png", 1, "PNG")}
    ids = add_files(project, list(files.values()))
    add_labels(project, ids[:2], "cat")
    add_labels(project, ids[2:], "dog")
    return files


def _exported(res, name: str) -> Path:
    return next(p for p in res.path.rglob("*")
                if p.name == name or p.name.startswith(Path(name).stem + "__"))


def test_default_keeps_bytes_and_lists_oriented_photos(project: Project, photos: dict, tmp_path: Path):
    res = export_project(project, "imagefolder", tmp_path / "out")
    manifest = check_hashes(res.path)
    for name, src in photos.items():
        assert _exported(res, name).read_bytes() == src.read_bytes()
    assert len(manifest["exif_oriented"]) == 2 and manifest["rotated_upright"] == []
    assert any("EXIF orientation" in w and "--upright" in w for w in res.warnings)


def test_upright_applies_the_rotation_to_the_pixels(project: Project, photos: dict, tmp_path: Path):
    opts = ExportOptions(upright=True)
    res = export_project(project, "imagefolder", tmp_path / "out", opts)
    manifest = check_hashes(res.path)
    assert manifest["options"]["upright"] is True
    assert len(manifest["rotated_upright"]) == 2 and manifest["exif_oriented"] == []
    for name, src in photos.items():
        out = _exported(res, name)
        with Image.open(src) as a, Image.open(out) as b:
            assert b.format == a.format                                   # same format as the name says
            want = np.asarray(ImageOps.exif_transpose(a).convert("RGB"), np.int16)
            got = np.asarray(b.convert("RGB"), np.int16)
            assert got.shape == want.shape                                # 30x60 -> 60x30 for side.jpg
            assert np.abs(got - want).mean() < 2.0                        # JPEG: one re-encode at q95
            assert b.getexif().get(0x0112, 1) == 1
        if name.startswith("plain"):
            assert out.read_bytes() == src.read_bytes()                   # untouched
        else:
            assert exif_orientation(str(out))[0] == 1
    again = export_project(project, "imagefolder", tmp_path / "out", opts)
    files = {p.relative_to(again.path) for p in again.path.rglob("*") if p.is_file()}
    assert all((again.path / f).read_bytes() == (res.path / f).read_bytes() for f in files)


@pytest.mark.parametrize(("fmt", "link"), [("csv", "copy"), ("imagefolder", "symlink")])
def test_upright_needs_copied_tree(project: Project, photos: dict, tmp_path: Path, fmt, link):
    with pytest.raises(ClassKitError, match="--upright"):
        export_project(project, fmt, tmp_path / "out", ExportOptions(upright=True, link=link))
    assert not (tmp_path / "out").exists()


def test_orientation_of_broken_or_missing_files_is_one(tmp_path: Path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00garbage")
    assert exif_orientation(str(bad))[0] == 1
    assert exif_orientation(str(tmp_path / "missing.jpg")) == (1, "")


def test_cli_upright_flag(project: Project, photos: dict, tmp_path: Path):
    root = str(project.root)
    project.close()
    cmd = [sys.executable, "-m", "classkit.cli", "export", root, "--format", "imagefolder",
           "--out", str(tmp_path / "cli"), "--upright", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert any("re-encoded upright" in w for w in out["warnings"])
