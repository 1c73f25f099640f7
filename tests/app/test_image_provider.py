"""The label workbench's ``fullimage`` provider: decoding and its LRU."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from classkit.app.label import image_provider


def test_unknown_id_gets_a_placeholder_that_is_not_cached(tmp_path: Path, qapp) -> None:
    """An id asked for before the provider knows its path (or the provider's prime) gets a
    placeholder without trying to open an empty file name, and the placeholder is not kept:
    once the path is known, the real image is decoded."""
    image_provider.clear()
    path = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (250, 0, 0)).save(path)
    first = image_provider.load_async(7).result(timeout=10)
    assert (first.width(), first.height()) == (64, 64)
    assert not image_provider.cached(7)
    image_provider.remember([(7, str(path))])
    img = image_provider.load_async(7).result(timeout=10)
    assert (img.width(), img.height()) == (40, 30)
    assert img.pixelColor(5, 5).red() > 240
    assert image_provider.cached(7)
    image_provider.clear()
