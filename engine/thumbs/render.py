"""Make one thumbnail file: read, verify, decode (reduced for JPEG), resize, orient, write.

Runs in worker processes and in app threads, so it is self-contained, never raises for bad
input and returns a plain dict: ``{"ok": True, ...}`` or ``{"ok": False, "reason", "detail"}``.
Reason codes are the ingest ones (``classkit.engine.ingest.REASONS``) plus those in REASONS.
"""
from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..ingest.probe import (DECODE_ERRORS, HASH_PREFIX, STREAM_HASH_ABOVE, decode_issue,
                            hash_bytes, hash_file, issue, os_issue)
from ..ingest.probe import REASONS as INGEST_REASONS
from . import highbit

REASONS = {
    **INGEST_REASONS,
    "changed": "file changed since ingest (content hash differs); re-run ingest",
    "write_failed": "cannot write the thumbnail file into the cache",
}
BACKGROUND = (128, 128, 128)  # neutral grey behind transparent pixels
_SIXTEEN_BIT = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_TRANSPOSE = {  # EXIF orientation -> transpose; the same table as ImageOps.exif_transpose
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def fit_size(width: int, height: int, size: int) -> tuple[int, int]:
    """Thumbnail size: longest side ``size``, aspect kept, never upscaled."""
    longest = max(width, height)
    if longest <= size:
        return width, height
    scale = size / longest
    if width >= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


_PILLOW_LIMIT_LOCK = threading.Lock()


def open_image(source: str | io.BytesIO, vetted: bool = False) -> Image.Image:
    """``Image.open``; with ``vetted`` Pillow's own decompression-bomb limit is lifted.

    Vetted bytes are those whose content hash matches what ingest admitted, so the
    project's ``ingest.max_pixels`` (which a user may raise above Pillow's default) has
    already been applied: a later stage must not refuse an image ingest accepted.
    """
    try:
        return _open(source)
    except Image.DecompressionBombError:
        if not vetted:
            raise
    if isinstance(source, io.BytesIO):
        source.seek(0)
    with _PILLOW_LIMIT_LOCK:  # the limit is a Pillow global: lift it for this open only
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return _open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(source: str | io.BytesIO) -> Image.Image:
    """``Image.open``, but a TIFF named by path is decoded from its bytes: Pillow (13)
    memory-maps a single-strip raw TIFF and, with EXIF orientation 5-8, reads it at the
    already-transposed size, scrambling the pixels; decoding from bytes is right."""
    im = Image.open(source)
    if isinstance(source, str) and im.format == "TIFF":
        im.close()
        with open(source, "rb") as fh:
            return Image.open(io.BytesIO(fh.read()))
    return im


def render(source: str | io.BytesIO, size: int, vetted: bool = False) -> Image.Image:
    """Decode ``source`` into an oriented RGB image whose longest side is at most ``size``.

    JPEGs are decoded at reduced scale (``draft``: the DCT does most of the shrinking),
    the rest is a Lanczos resize with ``reducing_gap`` (box-reduce first when far off).
    Orientation is applied after resizing, on the small image (same result, cheaper).
    ``vetted``: see :func:`open_image`. Pillow's warnings (bomb size, corrupt EXIF) are
    silenced: ingest reported what matters. Raises PIL/OS errors for unreadable data;
    :func:`make_thumbnail` maps them to reasons.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _render(source, size, vetted)


def _render(source: str | io.BytesIO, size: int, vetted: bool) -> Image.Image:
    with open_image(source, vetted) as im:
        target = fit_size(*im.size, size)
        if im.format in ("JPEG", "MPO") and target != im.size:
            im.draft(im.mode, target)
        small = load_normalized(im, source, vetted)
        orientation = _orientation(im)  # after loading: PNG's getexif() loads the pixels
        if small.size != target:
            small = small.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        elif small is im:
            small = im.copy()  # closing the file also drops the pixels of ``im`` itself
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
    return _flatten(small)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a broken EXIF block must not reject a decodable image (as ingest)
        return 1


def load_normalized(im: Image.Image, source: str | io.BytesIO, vetted: bool = False) -> Image.Image:
    """Load ``im`` (opened from ``source``) and :func:`_normalize` it.

    16-bit-per-channel colour, which Pillow cuts to its high bytes, is decoded a second
    time for the low bytes and contrast-stretched (:mod:`.highbit`; uncompressed planar
    TIFF is read plane by plane); when that cannot be done the high bytes are kept. Every
    other image costs one mode/tile check.
    """
    planar = highbit.planar_tiles(im)  # before load(), which clears the tile descriptors
    wide = planar is None and highbit.is_wide(im)
    im.load()
    if planar is not None:
        full = highbit.read_planar(source, planar, im)
        if full is not None:
            return highbit.stretch_full(full, im.mode)
    if wide:
        low = highbit.low_bytes(lambda: open_image(source, vetted), im)
        if low is not None:
            return highbit.stretch_wide(im, low)
    return _normalize(im)


def _normalize(im: Image.Image) -> Image.Image:
    """Convert any mode to one Lanczos can resize well: RGB, RGBA, L or LA."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        if "transparency" in im.info and mode in ("RGB", "L"):  # PNG tRNS colour key
            return im.convert("RGBA")
        return im
    if mode in _SIXTEEN_BIT:
        return _stretch_to_l(im)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    if mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...


def _stretch_to_l(im: Image.Image) -> Image.Image:
    """High-bit-depth grey (16-bit TIFF/PNG, int32, float) to 8 bits, contrast-stretched.

    Scientific 16-bit images rarely use the full range (12-bit cameras), so a fixed
    divide-by-256 would make them black; the 0.5-99.5 percentiles of a subsample map
    to 0-255 instead, like an image viewer's auto contrast.
    """
    arr = np.asarray(im)
    if arr.ndim != 2:
        return im.convert("L")
    step = highbit.sample_step(*arr.shape)
    sample = arr[::step, ::step].astype(np.float64)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return Image.new("L", im.size, 0)
    lo, hi = highbit.stretch_limits(finite)
    scaled = (np.nan_to_num(arr.astype(np.float32), nan=lo) - lo) * (255.0 / (hi - lo))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")


def _flatten(im: Image.Image) -> Image.Image:
    """RGB, with any alpha composited over a neutral background."""
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA"):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", im.size, BACKGROUND)
        out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def write_jpeg_atomic(im: Image.Image, out: Path, quality: int) -> int:
    """Write ``im`` as JPEG under a temporary name in the same folder, then rename.

    Readers (and a crash) see the old file, the new one or none, never half a file.
    No fsync: the cache is disposable and a file emptied by a power cut is treated as
    missing by the readers. Returns the number of bytes written.
    """
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    data = buf.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return len(data)


def _read_verified(source: str, expected_hex: str) -> tuple[str | io.BytesIO, dict | None]:
    """Read ``source`` and check its xxh128 is the one the thumbnail is keyed by."""
    data: str | io.BytesIO
    try:
        st = os.stat(source)
        if not stat.S_ISREG(st.st_mode):
            return source, issue("not_a_file")
        if st.st_size == 0:
            return source, issue("empty_file")
        if st.st_size > STREAM_HASH_ABOVE:
            digest, data = hash_file(source), source
        else:
            with open(source, "rb") as fh:
                raw = fh.read()
            digest, data = hash_bytes(raw), io.BytesIO(raw)
    except OSError as exc:
        return source, os_issue(exc)
    if digest.removeprefix(HASH_PREFIX) != expected_hex:
        return source, issue("changed", REASONS["changed"])
    return data, None


def make_thumbnail(source: str, out: str, size: int, quality: int) -> dict[str, Any]:
    """Build the thumbnail of ``source`` at ``out`` (named ``<content hash hex>.jpg``)."""
    out_path = Path(out)
    data, problem = _read_verified(source, out_path.stem)
    if problem is not None:
        return problem
    try:
        im = render(data, size, vetted=True)
    except DECODE_ERRORS as exc:
        return decode_issue(exc)
    try:
        nbytes = write_jpeg_atomic(im, out_path, quality)
    except OSError as exc:
        return issue("write_failed", f"{out}: {exc}")
    return {"ok": True, "bytes": nbytes, "width": im.width, "height": im.height}


def make_thumbnails(items: list[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """Worker task: :func:`make_thumbnail` for each ``(source, out, size, quality)``."""
    return [make_thumbnail(*item) for item in items]
