"""EXIF-oriented photos at export: listed and warned about by default; with ``upright`` written
with the rotation applied to the pixels (same format, tag reset), byte-identical when repeated."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from classkit.engine.errors import ClassKitError
from classkit.engine.export import ExportOptions, export_project
from classkit.engine.export.orient import exif_orientation, inspect_orientation, write_upright
from classkit.engine.labels import add_labels
from classkit.engine.project import Project
from classkit.engine.thumbs.render import render
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


# --- every format, every orientation, upright exactly once ------------------------------------
# Stored raster -> what an upright viewer shows, per orientation (the TIFF/EXIF table).
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
            7: lambda a: np.rot90(a, -1)[::-1], 8: lambda a: np.rot90(a, 1)}
_STORED = np.zeros((30, 60, 3), np.uint8)
_STORED[:, 30:] = 220
_STORED[:5, :] = (200, 30, 30)
_STORED[:, :4] = (30, 30, 200)
# (suffix, Pillow format, mode, save options). Uncompressed single-strip grey / palette / RGBA /
# 16-bit grey TIFFs are the ones Pillow 13 memory-maps when opened by path.
_CASES = [("jpg", "JPEG", "RGB", {"quality": 95}), ("png", "PNG", "RGB", {}),
          ("webp", "WEBP", "RGB", {"lossless": True}), ("tif", "TIFF", "RGB", {}),
          ("lzw.tif", "TIFF", "RGB", {"compression": "tiff_lzw"}),
          ("tiled.tif", "TIFF", "RGB", {"tile": (16, 16)}),
          ("grey.tif", "TIFF", "L", {}), ("rgba.tif", "TIFF", "RGBA", {}), ("pal.tif", "TIFF", "P", {}),
          ("g16.tif", "TIFF", "I;16", {}), ("g16.png", "PNG", "I;16", {})]


def _stored(mode: str) -> np.ndarray:
    if mode == "L":
        return _STORED[..., 1]
    if mode == "I;16":
        return _STORED[..., 1].astype(np.uint16) * 257 + np.arange(60, dtype=np.uint16)  # low bytes vary
    if mode == "RGBA":
        return np.dstack([_STORED, np.full((30, 60), 255, np.uint8)])
    return _STORED


def _write(path: Path, fmt: str, mode: str, orientation: int, options: dict) -> np.ndarray:
    arr = _stored(mode)
    im = Image.fromarray(arr)
    if mode == "P":
        im = Image.fromarray(_STORED).quantize(8)
        arr = np.asarray(im.convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, fmt, exif=exif.tobytes(), **options)
    return arr


@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize(("suffix", "fmt", "mode", "options"), _CASES, ids=[c[0] for c in _CASES])
def test_upright_once_for_every_format(tmp_path: Path, orientation, suffix, fmt, mode, options):
    src = tmp_path / f"src.{suffix}"
    stored = _write(src, fmt, mode, orientation, options)
    want = _UPRIGHT[orientation](stored)
    info = inspect_orientation(str(src))
    assert (info.tag, info.fmt) == (orientation, fmt)
    dst = tmp_path / f"out.{suffix}"
    write_upright(str(src), dst)
    with Image.open(dst) as out:                     # what a loader that ignores EXIF reads
        assert out.format == fmt and out.getexif().get(0x0112, 1) == 1
        got = np.asarray(out.convert("RGB") if mode == "P" else out)
    assert got.shape == want.shape
    if mode == "I;16":
        assert got.dtype == np.uint16 and np.array_equal(got, want)  # all 16 bits kept
    else:
        assert np.abs(got.astype(np.int16) - want).mean() < (4.0 if fmt == "JPEG" else 0.01)
    shown = np.asarray(render(io.BytesIO(src.read_bytes()), 1000), np.int16)  # what ClassKit shows
    if mode in ("RGB", "RGBA"):
        assert np.abs(shown - got[..., :3]).mean() < 4.0


def _pillow_view(path: Path) -> np.ndarray:
    """What torchvision's ImageFolder loader does: ``Image.open(path)`` then ``convert``."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize(("suffix", "fmt", "mode", "options"),
                         [c for c in _CASES if c[1] == "TIFF"], ids=[c[0] for c in _CASES if c[1] == "TIFF"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_tiff_detection_matches_what_pillow_loaders_see(tmp_path: Path, orientation, suffix, fmt, mode,
                                                        options):
    src = tmp_path / f"src.{suffix}"
    _write(src, fmt, mode, orientation, options)
    info = inspect_orientation(str(src))
    want = np.asarray(render(io.BytesIO(src.read_bytes()), 1000)) if mode in ("RGB", "RGBA", "P") else None
    seen = _pillow_view(src)
    if want is not None:
        assert info.pillow_upright == (seen.shape == want.shape
                                       and bool(np.abs(seen.astype(np.int16) - want).mean() < 1.0))
    assert info.pillow_upright == (seen.shape[:2] == _UPRIGHT[orientation](_STORED).shape[:2]
                                   and np.array_equal(seen, _upright_pillow(src)))


def _upright_pillow(src: Path) -> np.ndarray:
    """Pillow's own upright decode from memory (no memory map): the reference."""
    with Image.open(io.BytesIO(src.read_bytes())) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def test_manifest_splits_tiff_tags_from_sideways_photos(project: Project, tmp_path: Path):
    files = {"side.jpg": _photo(tmp_path / "src" / "side.jpg", 6),
             "side.tif": _photo(tmp_path / "src" / "side.tif", 8, "TIFF"),
             "plain.tif": _photo(tmp_path / "src" / "plain.tif", 1, "TIFF")}
    grey = tmp_path / "src" / "grey.tif"
    _write(grey, "TIFF", "L", 6, {})
    ids = dict(zip([*files, "grey.tif"], add_files(project, [*files.values(), grey]), strict=True))
    add_labels(project, list(ids.values()), "cat")
    res = export_project(project, "imagefolder", tmp_path / "out")
    manifest = check_hashes(res.path)
    # Pillow applies a TIFF's orientation tag on load: ImageFolder sees side.tif upright
    assert manifest["tiff_oriented"] == [ids["side.tif"]]
    # JPEG EXIF is not applied by Image.open; the uncompressed grey TIFF comes out scrambled
    assert manifest["exif_oriented"] == sorted([ids["side.jpg"], ids["grey.tif"]])
    assert any("tifffile" in w for w in res.warnings)
    up = export_project(project, "imagefolder", tmp_path / "out", ExportOptions(upright=True))
    manifest = check_hashes(up.path)
    assert manifest["rotated_upright"] == sorted([ids["side.jpg"], ids["side.tif"], ids["grey.tif"]])
    assert manifest["exif_oriented"] == manifest["tiff_oriented"] == []
    assert manifest["upright_skipped_16bit"] == []


def _png16_oriented(arr: np.ndarray, orientation: int) -> bytes:
    from tests.engine.test_render_16bit import _chunk, png16
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = png16(arr)
    return data[:-12] + _chunk(b"eXIf", exif.tobytes()) + data[-12:]  # before IEND


def test_sixteen_bit_colour_is_left_untouched(project: Project, tmp_path: Path):
    from tests.engine.test_render_16bit import tiff16
    arr = (np.arange(30 * 60 * 3, dtype=np.uint32).reshape(30, 60, 3) * 37 % 4096).astype(np.uint16)
    png = tmp_path / "src" / "deep_png.png"
    tif = tmp_path / "src" / "deep_tif.tif"
    png.parent.mkdir(parents=True)
    png.write_bytes(_png16_oriented(arr, 6))
    tif.write_bytes(tiff16(arr, orientation=6))
    assert inspect_orientation(str(png)).wide and inspect_orientation(str(tif)).wide
    ids = add_files(project, [png, tif])
    add_labels(project, ids, "cat")
    res = export_project(project, "imagefolder", tmp_path / "out", ExportOptions(upright=True))
    manifest = check_hashes(res.path)
    for src in (png, tif):
        assert _exported(res, src.name).read_bytes() == src.read_bytes()  # 12 bits kept, not cut to 8
    assert manifest["upright_skipped_16bit"] == sorted(ids) and manifest["rotated_upright"] == []
    assert manifest["exif_oriented"] == [ids[0]] and manifest["tiff_oriented"] == [ids[1]]
    assert any("16-bit" in w for w in res.warnings)
