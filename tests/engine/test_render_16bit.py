"""16-bit-per-channel colour (48/64-bit PNG, 16-bit RGB TIFF) in thumbnails and model input.

Pillow keeps only the high byte of each sample, so 12-bit camera data looked black; the
files here are written byte by byte (Pillow cannot write 16-bit colour) in the layouts
Pillow reads through different decoders: PNG (zip, with row filters), raw TIFF strips in
both byte orders, and deflate TIFF with a predictor (libtiff).
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classkit.engine.embed.preprocess import load_for_model, load_image
from classkit.engine.ingest.probe import hash_bytes, probe_file
from classkit.engine.thumbs import highbit
from classkit.engine.thumbs.render import load_normalized, make_thumbnail, open_image, render


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(arr: np.ndarray, sub_filter: bool = False, key: tuple[int, int, int] | None = None) -> bytes:
    """A 32-bit (LA), 48-bit (RGB) or 64-bit (RGBA) PNG of ``arr`` (h, w, 2|3|4) uint16."""
    h, w, c = arr.shape
    rows = arr.astype(">u2").reshape(h, w * c).view(np.uint8)
    if sub_filter:  # filter type 1: each byte minus the one a pixel (2 * c bytes) before it
        rows = rows - np.concatenate([np.zeros((h, 2 * c), np.uint8), rows[:, :-2 * c]], axis=1)
    raw = np.concatenate([np.full((h, 1), int(sub_filter), np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    trns = _chunk(b"tRNS", struct.pack(">HHH", *key)) if key else b""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + trns
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def tiff16(arr: np.ndarray, order: str = "<", deflate: bool = False, orientation: int = 1) -> bytes:
    """A one-strip 16-bit RGB(A) TIFF of ``arr``: raw, or deflate with horizontal predictor."""
    h, w, c = arr.shape
    data = arr.astype(np.uint16)
    if deflate:
        data = data.copy()
        data[:, 1:] = arr[:, 1:] - arr[:, :-1]  # predictor 2, modulo 2**16
    payload = data.astype(order + "u2").tobytes()
    payload = zlib.compress(payload) if deflate else payload
    tags = [(256, 4, w), (257, 4, h), (258, 3, None), (259, 3, 8 if deflate else 1), (262, 3, 2),
            (273, 4, None), (274, 3, orientation), (277, 3, c), (278, 4, h), (279, 4, len(payload)),
            (284, 3, 1)] + ([(317, 3, 2)] if deflate else []) + ([(338, 3, 2)] if c == 4 else [])
    bps_at = 8 + 2 + 12 * len(tags) + 4
    data_at = bps_at + 2 * c
    out = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "IH", 8, len(tags))
    for tag, kind, value in tags:
        if tag == 258:
            out += struct.pack(order + "HHII", tag, kind, c, bps_at)
        elif kind == 3:
            out += struct.pack(order + "HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack(order + "HHII", tag, kind, 1, data_at if tag == 273 else value)
    return out + struct.pack(order + "I", 0) + struct.pack(order + f"{c}H", *[16] * c) + payload


def tiff16_planar(arr: np.ndarray, order: str = "<", rows_per_strip: int = 16) -> bytes:
    """An uncompressed planar (PlanarConfiguration 2) 16-bit RGB(A) TIFF of ``arr``: all red
    samples, then green, then blue, each plane in strips of ``rows_per_strip`` rows."""
    h, w, c = arr.shape
    strips = [arr[r:r + rows_per_strip, :, k].astype(order + "u2").tobytes()
              for k in range(c) for r in range(0, h, rows_per_strip)]
    tags = [(256, 4, w), (257, 4, h), (258, 3, None), (259, 3, 1), (262, 3, 2), (273, 4, None),
            (277, 3, c), (278, 4, rows_per_strip), (279, 4, None), (284, 3, 2)] \
        + ([(338, 3, 2)] if c == 4 else [])
    bps_at = 8 + 2 + 12 * len(tags) + 4
    offsets_at = bps_at + 2 * c
    counts_at = offsets_at + 4 * len(strips)
    data_at = counts_at + 4 * len(strips)
    offsets = np.cumsum([data_at] + [len(b) for b in strips[:-1]]).tolist()
    out = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "IH", 8, len(tags))
    for tag, kind, value in tags:
        if tag in (258, 273, 279):
            count, at = (c, bps_at) if tag == 258 else (len(strips), offsets_at if tag == 273 else counts_at)
            out += struct.pack(order + "HHII", tag, kind, count, at)
        elif kind == 3:
            out += struct.pack(order + "HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack(order + "HHII", tag, kind, 1, value)
    out += struct.pack(order + "I", 0) + struct.pack(order + f"{c}H", *[16] * c)
    out += struct.pack(order + f"{len(strips)}I", *offsets)
    out += struct.pack(order + f"{len(strips)}I", *[len(b) for b in strips])
    return out + b"".join(strips)


def scene(top: int) -> np.ndarray:
    """(60, 80, 3) uint16 with samples up to ``top``: black, a red square, a grey ramp row band."""
    arr = np.zeros((60, 80, 3), np.uint16)
    arr[20:50, 20:50, 0] = top  # red square
    arr[:10] = np.linspace(0, top, 80).astype(np.uint16)[None, :, None]  # dark to bright, grey
    return arr


WRITERS = {
    "png": lambda a: png16(a),
    "png_sub_filter": lambda a: png16(a, sub_filter=True),
    "tiff_le": lambda a: tiff16(a),
    "tiff_be": lambda a: tiff16(a, ">"),
    "tiff_deflate_predictor": lambda a: tiff16(a, deflate=True),
    "tiff_deflate_be": lambda a: tiff16(a, ">", deflate=True),
    "tiff_planar_le": lambda a: tiff16_planar(a),
    "tiff_planar_be": lambda a: tiff16_planar(a, ">", rows_per_strip=7),
}


def _check_scene(out: np.ndarray) -> None:
    """Red square red, background black, the ramp bright at its end and never decreasing."""
    h, w = out.shape[:2]
    red = out[int(h * 0.58), int(w * 0.43)].astype(int)
    assert red[0] > 230 and red[1] < 25 and red[2] < 25, red
    assert out[int(h * 0.3), int(w * 0.9)].max() < 25  # background stays black
    ramp = out[int(h * 0.08), 1:-1].astype(int)  # one row of the grey band
    assert ramp[0].max() < 30 and ramp[-1].min() > 225, ramp[[0, -1]]
    assert (np.diff(ramp[:, 1]) >= -3).all()  # brighter samples stay brighter
    assert np.abs(ramp[:, 0] - ramp[:, 2]).max() < 12  # grey stays grey: one shared range


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("top", [4095, 65535], ids=["12bit", "16bit"])
def test_high_bit_colour_is_stretched(fmt: str, top: int) -> None:
    data = WRITERS[fmt](scene(top))
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGB" and (highbit.is_wide(im) or highbit.planar_tiles(im) is not None)
    _check_scene(np.asarray(render(io.BytesIO(data), 40)))  # thumbnail, downscaled
    _check_scene(load_image(io.BytesIO(data), 64, "squash"))  # model input


def test_planar_tiff_from_a_path_exact_and_with_alpha(tmp_path: Path) -> None:
    """Planar TIFF, which Pillow unpacks as garbled 8-bit pixels, is read plane by plane:
    exact 4:2:1 ratios from a file on disk, and its alpha plane kept."""
    arr = np.zeros((30, 20, 4), np.uint16)
    arr[..., :3] = (4000, 2000, 1000)
    arr[15:, :, :3] = (40, 20, 10)  # dim: the low end of the range
    arr[0, 0, :3] = 4095
    arr[..., 3] = 65535
    arr[20:, :, 3] = 0  # transparent bottom rows
    path = tmp_path / "planar rgba.tif"
    path.write_bytes(tiff16_planar(arr, rows_per_strip=4))
    with open_image(str(path)) as im:
        full = np.asarray(load_normalized(im, str(path)))
    assert full.shape == (30, 20, 4) and full[5, 5, 3] == 255 and full[25, 5, 3] == 0
    out = np.asarray(render(str(path), 30))  # the thumbnail: alpha over the background
    bright = out[10, 10].astype(int)
    assert abs(bright[0] - 2 * bright[1]) <= 2 and abs(bright[1] - 2 * bright[2]) <= 2
    assert (out[25, 5] != out[5, 5]).any()
    from classkit.engine.export.orient import inspect_orientation

    assert inspect_orientation(str(path)).wide  # an upright export keeps it as stored
    with Image.open(path) as im:  # Pillow alone: not these colours
        assert np.abs(np.asarray(im.convert("RGB"))[10, 10].astype(int) - bright[:3]).max() > 20


def test_exact_samples_and_colour_balance() -> None:
    """Full precision, one range: (4000, 2000, 1000) keeps its 4:2:1 ratios, dim pixels survive."""
    arr = np.zeros((64, 64, 3), np.uint16)
    arr[:32] = (4000, 2000, 1000)
    arr[32:] = (40, 20, 10)  # all in the low byte: zero after Pillow's cut
    arr[0, 0] = (4095, 4095, 4095)
    out = render(io.BytesIO(tiff16(arr)), 64)
    bright, dim = np.asarray(out)[10, 10].astype(int), np.asarray(out)[50, 10].astype(int)
    assert abs(bright[0] - 2 * bright[1]) <= 2 and abs(bright[1] - 2 * bright[2]) <= 2
    assert dim[0] > 0 and dim[0] >= dim[1] >= dim[2]


def test_alpha_and_colour_key() -> None:
    rgba = np.zeros((40, 40, 4), np.uint16)
    rgba[..., 0], rgba[:, :20, 3] = 4095, 65535  # red; left half opaque, right half transparent
    out = np.asarray(render(io.BytesIO(png16(rgba)), 40)).astype(int)
    assert out[20, 5, 0] > 230 and out[20, 5, 1] < 25
    assert np.abs(out[20, 35] - 128).max() < 10  # transparent: the neutral grey background
    keyed = scene(4095)
    out = np.asarray(render(io.BytesIO(png16(keyed, key=(0, 0, 0))), 80)).astype(int)
    assert np.abs(out[30, 70] - 128).max() < 10  # black (the key) shows the background
    assert out[30, 30, 0] > 230 and out[30, 30, 1] < 25


def test_grey_alpha() -> None:
    """16-bit grey+alpha PNG (Pillow: RGBA from the high bytes): stretched grey, alpha kept."""
    la = np.zeros((40, 40, 2), np.uint16)
    la[..., 0] = np.linspace(0, 4095, 40).astype(np.uint16)[None, :]
    la[:20, :, 1] = 65535  # top half opaque, bottom half transparent
    with Image.open(io.BytesIO(png16(la))) as im:
        assert im.mode == "RGBA" and highbit.is_wide(im)
    out = np.asarray(render(io.BytesIO(png16(la)), 40)).astype(int)
    assert out[5, 1].max() < 30 and out[5, -2].min() > 225  # dark to bright, not black
    assert np.abs(out[5, :, 0] - out[5, :, 2]).max() <= 1 and (np.diff(out[5, :, 1]) >= -3).all()
    assert np.abs(out[35] - 128).max() < 10  # transparent half: the background grey


def test_exif_orientation_applied_once() -> None:
    """Orientation 6 (90 degrees clockwise): the top-left square ends top right, tall image."""
    arr = np.zeros((40, 60, 3), np.uint16)
    arr[:10, :10, 0] = 4095
    for data in (tiff16(arr, orientation=6), tiff16(arr, deflate=True, orientation=6)):
        out = np.asarray(render(io.BytesIO(data), 60))
        assert out.shape == (60, 40, 3)
        assert out[3, 36, 0] > 230 and out[56, 3, 0] < 25
    plain = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray((arr >> 4).astype(np.uint8)).save(plain, "TIFF", exif=exif)  # 8-bit too
    out = np.asarray(render(io.BytesIO(plain.getvalue()), 60))
    assert out.shape == (60, 40, 3) and out[3, 36, 0] > 230


def test_eight_bit_images_unchanged() -> None:
    """8-bit files take the old path: exactly Pillow's decode + Lanczos resize."""
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    for fmt in ("PNG", "TIFF"):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, fmt)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            assert not highbit.is_wide(im)
            expected = im.convert("RGB").resize((60, 45), Image.Resampling.LANCZOS, reducing_gap=3.0)
        assert render(io.BytesIO(buf.getvalue()), 60).tobytes() == expected.tobytes(), fmt


def test_low_bytes_unreadable_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the second decode fails, the image still renders from the high bytes (old output)."""
    monkeypatch.setattr(highbit, "_OPPOSITE", {})  # no opposite byte order: _swapped raises
    out = np.asarray(render(io.BytesIO(tiff16(scene(65535))), 40))
    assert out[23, 17, 0] == 255 and out.shape == (30, 40, 3)


@pytest.mark.parametrize("fmt", ["png", "tiff_le", "tiff_deflate_predictor"])
def test_truncated_file_is_a_clear_issue(tmp_path: Path, fmt: str) -> None:
    data = WRITERS[fmt](np.random.default_rng(1).integers(0, 4096, (60, 70, 3)).astype(np.uint16))
    path = tmp_path / "cut.img"
    path.write_bytes(data[: len(data) * 2 // 3])
    probed = probe_file(str(path), 10**8, 10**9)
    assert probed["ok"] is False and probed["reason"] in ("truncated", "corrupt")
    thumb = make_thumbnail(str(path), str(tmp_path / f"{hash_bytes(path.read_bytes())[7:]}.jpg"),
                           64, 85)
    assert thumb["ok"] is False and thumb["reason"] == probed["reason"]
    arr, problem = load_for_model(str(path), 32, "squash")
    assert arr is None and problem is not None and problem["reason"] == probed["reason"]


def test_verified_files_end_to_end(tmp_path: Path) -> None:
    """Ingest's probe accepts the file; thumbnail and model input from hash-verified bytes."""
    data = tiff16(scene(4095), deflate=True)
    path = tmp_path / "cam.tif"
    path.write_bytes(data)
    probed = probe_file(str(path), 10**8, 10**9)
    assert probed["ok"] and (probed["width"], probed["height"]) == (80, 60)
    out = tmp_path / f"{probed['content_hash'][7:]}.jpg"
    assert make_thumbnail(str(path), str(out), 40, 95)["ok"]
    with Image.open(out) as thumb:
        _check_scene(np.asarray(thumb.convert("RGB")))
    arr, problem = load_for_model(str(path), 64, "squash", probed["content_hash"])
    assert problem is None and arr is not None
    _check_scene(arr)
