"""The quick JPEG check: structure up to end-of-image instead of a full decode."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.ingest import ingest
from classkit.engine.ingest.probe import jpeg_has_end, probe_file
from tests.conftest import make_image

LIMITS = (10**9, 1 << 30)


def jpeg_with_exif_thumbnail(path: Path) -> bytes:
    """A JPEG whose EXIF block embeds a complete thumbnail JPEG (its own SOI..EOI)."""
    make_image(path, size=(320, 240), seed=4)
    thumb = io.BytesIO()
    Image.open(path).resize((80, 60)).save(thumb, "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = exif.tobytes() + thumb.getvalue()  # thumbnail bytes ride inside APP1
    Image.open(path).save(path, "JPEG", exif=raw)
    return path.read_bytes()


def test_marker_walk(tmp_path: Path) -> None:
    data = jpeg_with_exif_thumbnail(tmp_path / "t.jpg")
    assert jpeg_has_end(data)
    assert jpeg_has_end(data + b"\x00" * 5000 + b"ftypmp42")  # motion-photo style trailer
    cut = data[: len(data) - 200]
    assert b"\xff\xd9" in cut  # the embedded thumbnail's EOI is still there...
    assert not jpeg_has_end(cut)  # ...but the main image's scan never ends
    assert not jpeg_has_end(data[:2] + b"garbage")


def test_quick_matches_decode_on_good_files_and_catches_truncation(tmp_path: Path) -> None:
    good = make_image(tmp_path / "g.jpg", size=(120, 80), seed=1, exif_orientation=6)
    data = good.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    full = probe_file(str(good), *LIMITS, "decode")
    quick = probe_file(str(good), *LIMITS, "quick")
    assert quick == full and (quick["width"], quick["height"]) == (80, 120)
    assert probe_file(str(cut), *LIMITS, "quick")["reason"] == "truncated"
    png = make_image(tmp_path / "p.png", fmt="PNG")
    png.write_bytes(png.read_bytes()[:200])
    assert probe_file(str(png), *LIMITS, "quick")["reason"] in ("truncated", "corrupt")


def test_ingest_with_quick_check(project, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(5):
        make_image(src / f"{i}.jpg", seed=i)
    data = (src / "0.jpg").read_bytes()
    (src / "bad.jpg").write_bytes(data[:-300])
    summary = ingest(project, [src], config=IngestConfig(check="quick"))
    assert summary["added"] == 5
    assert summary["issues_by_reason"] == {"truncated": 1}
