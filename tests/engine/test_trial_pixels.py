"""Big images a user let in with ``--max-pixels``: thumbnails and embeddings must not refuse
them afterwards, and Pillow's size warnings must not leak onto the terminal."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.embed.preprocess import load_for_model
from classkit.engine.ingest import ingest
from classkit.engine.project import Project
from classkit.engine.thumbs import build_thumbnails, make_thumbnail
from classkit.engine.thumbs.render import render
from tests.conftest import make_image


def test_image_admitted_over_pillows_limit_gets_thumbnail_and_embedding(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow refuses > 2 * MAX_IMAGE_PIXELS; a small limit stands in for a 20000x20000 scan.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    src = make_image(tmp_path / "imgs" / "scan.png", size=(100, 60))
    summary = ingest(project, [src.parent], config=IngestConfig(workers=1, max_pixels=10**6))
    assert summary["added"] == 1, summary["issue_examples"]
    row = project.db.execute("SELECT id, content_hash FROM images").fetchone()

    thumbs = build_thumbnails(project, workers=1)
    assert thumbs["failed"] == 0, thumbs["failures"]
    arr, problem = load_for_model(str(src), 32, "squash", row["content_hash"])
    assert problem is None and arr is not None and arr.shape == (32, 32, 3)
    assert Image.MAX_IMAGE_PIXELS == 1000  # the lift was for one open only


def test_unvetted_bytes_keep_pillows_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    src = make_image(tmp_path / "big.png", size=(100, 60))
    _, problem = load_for_model(str(src), 32, "squash")  # no content hash: nothing vetted it
    assert problem is not None and problem["reason"] == "too_large"


def test_render_does_not_leak_pillow_size_warning(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # 100x15 = 1500 pixels: over the warning limit (1000), under the error limit (2000).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    src = make_image(tmp_path / "wide.png", size=(100, 15))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im = render(str(src), 32)
    assert im.size == (32, 5)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_make_thumbnail_of_changed_file_is_not_vetted(tmp_path: Path) -> None:
    src = make_image(tmp_path / "a.png", size=(40, 30))
    res = make_thumbnail(str(src), str(tmp_path / "t" / ("0" * 32 + ".jpg")), 16, 80)
    assert res["ok"] is False and res["reason"] == "changed"


def test_pillow_bomb_refusal_says_how_to_accept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    from classkit.engine.ingest.probe import probe_file

    # Pillow itself refuses at open (over 2x its limit) before the ingest limit check runs
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    p = make_image(tmp_path / "a.png", size=(64, 48))
    res = probe_file(str(p), 2000, 1 << 30)
    assert res["reason"] == "too_large"
    assert "3,072 pixels" in res["detail"] and "--max-pixels 3072" in res["detail"], res["detail"]
    assert "DOS" not in res["detail"]
