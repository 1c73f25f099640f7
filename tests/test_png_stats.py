"""scripts/png_stats.py (the bundle test's screenshot check) reads Qt's PNGs correctly."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module():
    spec = importlib.util.spec_from_file_location("png_stats", ROOT / "scripts" / "png_stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fmt", ["Format_RGB32", "Format_ARGB32"])
def test_counts_match_what_was_painted(tmp_path: Path, fmt: str) -> None:
    from PySide6.QtGui import QColor, QImage

    png_stats = _module()
    img = QImage(61, 23, getattr(QImage.Format, fmt))
    img.fill(QColor("#202020"))
    for x in range(10):  # 10 x 5 = 50 red pixels, 7 blue, a gradient row (filters see variety)
        for y in range(5):
            img.setPixelColor(x + 3, y + 2, QColor("#e15759"))
    for x in range(7):
        img.setPixelColor(50 + x, 20, QColor("#4e79a7"))
    for x in range(61):
        img.setPixelColor(x, 10, QColor(x * 4, 255 - x * 4, (x * 37) % 256))
    path = tmp_path / "a.png"
    assert img.save(str(path))
    out = png_stats.stats(str(path), ["#e15759", "#4e79a7", "#00ff00"])
    assert (out["width"], out["height"]) == (61, 23)
    assert out["near"]["#e15759"] == 50 and out["near"]["#4e79a7"] == 7
    assert out["near"]["#00ff00"] <= 2  # only gradient pixels within tolerance, if any
    assert out["distinct_colors"] >= 60
    assert out["top_color_share"] == round((61 * 23 - 50 - 7 - 61) / (61 * 23), 4)


def test_rejects_what_is_not_a_png(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"GIF89a nothing")
    with pytest.raises(ValueError, match="not a PNG"):
        _module().read_png(str(bad))
