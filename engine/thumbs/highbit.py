"""16-bit-per-channel colour (48/64-bit PNG, 16-bit RGB(A) TIFF) and 16-bit grey+alpha PNG
read at full precision.

Pillow holds colour at 8 bits per channel: decoding 16-bit RGB keeps each sample's high
byte, so 12-bit camera data (0-4095) comes out as 0-15, nearly black. Pillow's decoders
unpack samples only after decompression and un-filtering, so decoding the file a second
time with the opposite byte order declared (``RGB;16B`` <-> ``RGB;16L``) yields the low
bytes. High and low bytes together are the exact samples, for every compression and
layout Pillow reads (PNG filters and interlacing, raw/LZW/deflate TIFF strips and tiles),
with no decoder of our own. The samples are then contrast-stretched to 8 bits like
16-bit grey: one percentile range for all three channels, so colours keep their balance.

Uncompressed planar TIFF (PlanarConfiguration 2: all red samples, then green, then
blue), which Pillow unpacks as if each 16-bit sample were two 8-bit pixels (a garbled
picture), is read plane by plane from the file instead (:func:`planar_tiles`,
:func:`read_planar`). Where neither works (compressed planar TIFF, whose byte order libtiff
fixes), callers keep Pillow's 8-bit image: the old behaviour.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageFile

PERCENTILES = (0.5, 99.5)  # auto-contrast range, shared with 16-bit grey
SAMPLE_PIXELS = 65536  # about this many pixels set the range
_OPPOSITE = {"L": "B", "B": "L", "N": "B" if sys.byteorder == "little" else "L"}
# Rawmodes whose unpacker takes one byte of each 16-bit sample, with an opposite-order twin.
# Not RGBa (premultiplied: the unpacker divides by alpha). 16-bit grey+alpha PNG (mode RGBA,
# rawmode LA;16B) has no twin, but plain RGBA has the same 4 bytes a pixel: it gives
# L-high, L-low, A-high, A-low.
_GREY_ALPHA = "LA;16B"
_WIDE_RAWMODES = frozenset({_GREY_ALPHA} | {f"{base};16{order}" for base in ("RGB", "RGBA", "RGBX")
                                            for order in "LBN"})
_BLOCK = 1 << 20  # samples per block when mapping through the lookup table


def _rawmode(tile: ImageFile._Tile) -> str | None:
    """The rawmode of one tile descriptor: PNG gives it bare, TIFF as ``args[0]``."""
    args = tile.args
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def is_wide(im: Image.Image) -> bool:
    """Whether not-yet-loaded ``im`` is 16-bit colour whose low bytes can be read.

    Mode and tile inspection only (microseconds): 8-bit images are never touched.
    """
    if im.mode not in ("RGB", "RGBA") or not im.tile:
        return False
    if im.format == "TIFF" and getattr(im, "tag_v2", {}).get(284, 1) != 1:
        return False  # planar: libtiff unpacks each plane in native order, whatever we declare
    return all(_rawmode(t) in _WIDE_RAWMODES for t in im.tile)


_PLANES = {"R": 0, "G": 1, "B": 2, "A": 3}


def _all(value: Any, want: int) -> bool:
    """A TIFF tag that is ``want`` for every sample (one value or one per sample)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return bool(values) and all(v == want for v in values)


def planar_tiles(im: Image.Image) -> list[ImageFile._Tile] | None:
    """The tile descriptors of a not-yet-loaded uncompressed planar 16-bit unsigned RGB(A)
    TIFF (whose samples Pillow would unpack as 8-bit pixels); None for anything else."""
    if im.format != "TIFF" or im.mode not in ("RGB", "RGBA") or not im.tile:
        return None
    tags = getattr(im, "tag_v2", {})
    if tags.get(284, 1) != 2 or tags.get(259, 1) != 1 or not _all(tags.get(258), 16) \
            or not _all(tags.get(339, 1), 1):
        return None
    tiles = list(im.tile)
    ok = all(t.codec_name == "raw" and isinstance(t.args, tuple) and len(t.args) >= 2
             and t.args[0] in _PLANES and _PLANES[t.args[0]] < len(im.mode) and t.args[1] == 0
             for t in tiles)
    return tiles if ok else None


def read_planar(source: Any, tiles: list[ImageFile._Tile], like: Image.Image) -> np.ndarray | None:
    """The full 16-bit samples (H, W, C) of a planar TIFF from ``source`` (a path or a
    binary file object) and its :func:`planar_tiles`; None when the file does not hold
    them where the tiles say (never raises: the caller keeps Pillow's image)."""
    w, h = like.size
    order = ">u2" if getattr(like.tag_v2, "_endian", "<") == ">" else "<u2"
    out = np.zeros((h, w, len(like.mode)), np.uint16)
    try:
        with contextlib.nullcontext(source) if hasattr(source, "read") else open(source, "rb") as fh:
            for t in tiles:  # tile offsets are absolute file positions
                x0, y0, x1, y1 = t.extents
                n = (x1 - x0) * (y1 - y0)
                fh.seek(t.offset)
                buf = fh.read(2 * n)
                if len(buf) != 2 * n or not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
                    return None
                out[y0:y1, x0:x1, _PLANES[t.args[0]]] = np.frombuffer(buf, order).reshape(y1 - y0, x1 - x0)
    except Exception:  # any failure: keep Pillow's image (see the docstring)
        return None
    return out


def stretch_full(full: np.ndarray, mode: str) -> Image.Image:
    """:func:`stretch_wide` for 16-bit samples held whole, (H, W, C) uint16."""
    high = Image.fromarray((full >> 8).astype(np.uint8), mode)
    return stretch_wide(high, (full & 0xFF).astype(np.uint8))


def _swapped(tile: ImageFile._Tile) -> ImageFile._Tile:
    """``tile`` with the opposite byte order declared, so its unpacker keeps the low bytes."""
    raw = _rawmode(tile)
    assert raw is not None
    low = "RGBA" if raw == _GREY_ALPHA else raw[:-1] + _OPPOSITE[raw[-1]]
    args: Any = low if isinstance(tile.args, str) else (low, *tile.args[1:])
    return tile._replace(args=args)


def low_bytes(reopen: Callable[[], Image.Image], like: Image.Image) -> np.ndarray | None:
    """Decode the image again, keeping each sample's low byte; None when that fails.

    ``reopen`` opens the same file afresh; ``like`` is the loaded high-byte image. Any
    failure here falls back to the high bytes (the image decoded once already), never
    raising: a Pillow version whose decoders differ must not reject a readable image.
    """
    try:
        with reopen() as other:
            if other.mode != like.mode or other.size != like.size or not is_wide(other):
                return None
            grey_alpha = _rawmode(other.tile[0]) == _GREY_ALPHA
            other.tile = [_swapped(t) for t in other.tile]
            other.load()
            low = np.asarray(other)
            if grey_alpha:  # L-high, L-low, A-high, A-low -> the layout of RGBA;16 low bytes
                low = low[..., [1, 1, 1, 3]]
    except Exception:  # any failure means "no low bytes": see the docstring
        return None
    return low if low.shape == (like.height, like.width, len(like.mode)) else None


def stretch_limits(values: np.ndarray) -> tuple[float, float]:
    """The auto-contrast range of ``values`` (finite samples): low and high percentiles."""
    lo, hi = np.percentile(values, PERCENTILES)
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def sample_step(height: int, width: int) -> int:
    """Subsampling stride so that about SAMPLE_PIXELS pixels set the range."""
    return max(1, int(np.sqrt(height * width / SAMPLE_PIXELS)))


def stretch_wide(high: Image.Image, low: np.ndarray) -> Image.Image:
    """8-bit RGB (RGBA when ``high`` has alpha) from the two byte halves, contrast-stretched.

    One range for the three colour channels; alpha keeps its high byte (8 bits of opacity
    are plenty). A 16-bit PNG colour key (``transparency``) is matched on the full samples.
    """
    hi8 = np.asarray(high)
    h, w = hi8.shape[:2]
    step = sample_step(h, w)
    sample = (hi8[::step, ::step, :3].astype(np.uint16) << 8) | low[::step, ::step, :3]
    lo, top = stretch_limits(sample.astype(np.float64))
    lut = np.clip((np.arange(65536, dtype=np.float64) - lo) * (255.0 / (top - lo)), 0, 255)
    lut = lut.astype(np.uint8)
    key = high.info.get("transparency") if high.mode == "RGB" else None
    keyed = isinstance(key, tuple) and len(key) == 3
    out = np.empty((h, w, 4 if keyed else 3), np.uint8)
    rows = max(1, _BLOCK // max(1, 3 * w))
    for r in range(0, h, rows):
        full = (hi8[r:r + rows, :, :3].astype(np.uint16) << 8) | low[r:r + rows, :, :3]
        out[r:r + rows, :, :3] = lut[full]
        if keyed:
            out[r:r + rows, :, 3] = np.where((full == np.asarray(key)).all(axis=2), 0, 255)
    if keyed:
        return Image.fromarray(out, "RGBA")
    rgb = Image.fromarray(out, "RGB")
    if high.mode == "RGBA":
        rgb.putalpha(high.getchannel("A"))
    return rgb
