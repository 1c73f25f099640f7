"""Shared fixtures: real images made on the fly, and fresh projects."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from classkit.engine.project import Project  # noqa: E402


def make_image(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0,
               fmt: str | None = None, exif_orientation: int | None = None,
               mode: str = "RGB") -> Path:
    """Write a real image with random-ish content (``size`` is width, height)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 255, size=(1, 1, 3), dtype=np.uint8)
    grad = np.linspace(0, 1, w, dtype=np.float32)[None, :, None] * rng.integers(0, 255, 3)
    arr = np.clip(base + grad + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB").convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, format=fmt, **kwargs)
    return path


def jpeg_bytes(size: tuple[int, int] = (64, 48), seed: int = 0) -> bytes:
    buf = io.BytesIO()
    tmp = Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3),
                                                                dtype=np.uint8))
    tmp.save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A fresh project with two classes, closed after the test."""
    p = Project.create(tmp_path / "proj", name="test", classes=["cat", "dog"])
    yield p
    p.close()
