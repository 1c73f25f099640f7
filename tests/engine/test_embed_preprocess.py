"""Model-input preprocessing: resize modes, letterbox padding, orientation, modes, failures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classkit.engine.embed.preprocess import load_batch, load_for_model, load_image
from classkit.engine.ingest.probe import hash_file
from tests.conftest import make_image


def _solid(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


@pytest.mark.parametrize("mode", ["squash", "center_crop", "letterbox"])
@pytest.mark.parametrize("size", [(300, 100), (100, 300), (20, 10)])
def test_every_mode_gives_the_model_size(tmp_path: Path, mode: str, size: tuple[int, int]) -> None:
    path = make_image(tmp_path / "a.jpg", size=size)
    arr = load_image(str(path), 64, mode)
    assert arr.shape == (64, 64, 3) and arr.dtype == np.uint8


def test_letterbox_pads_with_grey_and_center_crop_keeps_middle(tmp_path: Path) -> None:
    # a wide image: left third red, middle green, right third blue
    arr = np.zeros((100, 300, 3), np.uint8)
    arr[:, :100, 0] = arr[:, 100:200, 1] = arr[:, 200:, 2] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(arr).save(path)
    box = load_image(str(path), 60, "letterbox")
    assert (box[:18] == 128).all() and (box[-18:] == 128).all()  # 60 x 20 band centred
    assert tuple(box[30, 2]) == (255, 0, 0) and tuple(box[30, 57]) == (0, 0, 255)
    crop = load_image(str(path), 60, "center_crop")
    assert (crop[:, 5:55, 1] == 255).all() and (crop[:, 5:55, [0, 2]] == 0).all()
    squash = load_image(str(path), 60, "squash")
    assert tuple(squash[30, 2]) == (255, 0, 0) and tuple(squash[30, 30]) == (0, 255, 0)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40] = (255, 0, 0)  # left half red, right half blue
    arr[:, 40:] = (0, 0, 255)
    plain, rotated = tmp_path / "plain.png", tmp_path / "rot.jpg"
    Image.fromarray(arr).save(plain)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display: red ends up on top
    Image.fromarray(arr).save(rotated, quality=95, exif=exif.tobytes())
    out = load_image(str(rotated), 32, "letterbox")
    assert out[4, 16, 0] > 200 and out[28, 16, 2] > 200
    assert load_image(str(plain), 32, "letterbox")[16, 4, 0] > 200


def test_deterministic_and_draft_for_big_jpegs(tmp_path: Path) -> None:
    big = make_image(tmp_path / "big.jpg", size=(1600, 1200), seed=3)
    first = load_image(str(big), 64, "center_crop")
    for _ in range(3):
        np.testing.assert_array_equal(load_image(str(big), 64, "center_crop"), first)
    # draft decodes at 1/8 scale here; the result stays close to a full decode + resize
    with Image.open(big) as im:
        full = np.asarray(im.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR,
                                                   box=(200, 0, 1400, 1200)), np.float32)
    assert np.abs(full - first).mean() < 6


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_mode_to_rgb(tmp_path: Path, mode: str) -> None:
    if mode == "I;16":
        path = tmp_path / "deep.png"
        Image.fromarray(np.linspace(0, 4095, 50 * 40, dtype=np.uint16).reshape(40, 50)).save(path)
    else:
        path = make_image(tmp_path / f"m.{'jpg' if mode == 'CMYK' else 'png'}", mode=mode)
    arr = load_image(str(path), 32, "squash")
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8
    if mode == "I;16":
        assert arr.min() < 10 and arr.max() > 245  # contrast-stretched, not black


def test_transparent_pixels_become_grey(tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(path)
    assert (load_image(str(path), 16, "squash") == 128).all()


def test_failures_return_issues(tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.jpg", size=(50, 40))
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:300])
    assert load_for_model(str(tmp_path / "gone.jpg"), 32, "squash")[1]["reason"] == "missing"
    assert load_for_model(str(text), 32, "squash")[1]["reason"] == "not_an_image"
    arr, issue = load_for_model(str(cut), 32, "squash")
    assert arr is None and issue["reason"] in ("truncated", "corrupt")
    arr, issue = load_for_model(str(good), 32, "squash", hash_file(str(good)))
    assert issue is None and arr.shape == (32, 32, 3)
    arr, issue = load_for_model(str(good), 32, "squash", "xxh128:" + "0" * 32)
    assert arr is None and issue["reason"] == "changed"


def test_batch_tries_duplicate_copies(tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.jpg", size=(50, 40))
    h = hash_file(str(good))
    arr, issues, seconds = load_batch([[(str(tmp_path / "gone.jpg"), h), (str(good), h)],
                                       [(str(tmp_path / "gone2.jpg"), h)]], 32, "squash")
    assert issues[0] is None and issues[1]["reason"] == "missing" and seconds >= 0
    np.testing.assert_array_equal(arr[0], load_image(str(good), 32, "squash"))
    assert not arr[1].any()
