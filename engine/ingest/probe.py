"""Open, verify and hash one image file. Runs in worker processes, so it is self-contained.

The result is a plain dict (cheap to pickle): either ``{"ok": True, ...facts}`` or
``{"ok": False, "reason": code, "detail": text}``. Reason codes are listed in REASONS.
"""
from __future__ import annotations

import errno
import io
import os
import re
import stat
import struct
import warnings
from typing import Any

import xxhash
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "DIB"})
HASH_PREFIX = "xxh128:"
STREAM_HASH_ABOVE = 64 * 1024 * 1024

REASONS = {
    "missing": "file disappeared or is a broken symlink",
    "broken_symlink": "symlink points to nothing",
    "symlink_loop": "symlink loop",
    "unreadable": "no permission to read, or an I/O error",
    "not_a_file": "not a regular file",
    "bad_file_name": "the file or folder name is not valid UTF-8 text: rename it",
    "empty_file": "zero-byte file",
    "file_too_large": "file larger than the ingest.max_file_mb limit",
    "not_an_image": "not an image (unknown format, e.g. a text file with an image extension)",
    "unsupported_format": "an image format ClassKit does not ingest",
    "too_large": "image has more pixels than ingest.max_pixels (possible decompression bomb)",
    "truncated": "image file is truncated",
    "corrupt": "image data is corrupt and cannot be decoded",
    "decoder_crash": "the image decoder crashed on this file",
    "video_error": "video could not be opened or decoded",
    "label_error": "a label or annotation for this item is invalid",
    "bad_crop": "annotation box is empty or outside the image",
}

# EXIF orientations 5-8 swap width and height when applied.
_SWAPS_AXES = {5, 6, 7, 8}


def issue(reason: str, detail: str = "") -> dict[str, Any]:
    """A failed probe result."""
    return {"ok": False, "reason": reason, "detail": detail or REASONS.get(reason, "")}


def hash_bytes(data: bytes) -> str:
    """Content hash used everywhere in ClassKit (fast, 128-bit)."""
    return HASH_PREFIX + xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str, chunk: int = 8 * 1024 * 1024) -> str:
    """Content hash of a file, streamed."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return HASH_PREFIX + h.hexdigest()


def os_issue(exc: OSError) -> dict[str, Any]:
    if exc.errno == errno.ELOOP:
        return issue("symlink_loop", str(exc))
    if isinstance(exc, FileNotFoundError):
        return issue("missing", str(exc))
    return issue("unreadable", f"{type(exc).__name__}: {exc}")


def probe_file(path: str, max_pixels: int, max_bytes: int, check: str = "decode"
               ) -> dict[str, Any]:
    """Stat, hash and fully decode ``path``; never raises for bad input."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path) and isinstance(exc, FileNotFoundError):
            return issue("broken_symlink", f"symlink target missing: {os.readlink(path)}")
        return os_issue(exc)
    if not stat.S_ISREG(st.st_mode):
        return issue("not_a_file")
    if st.st_size == 0:
        return issue("empty_file")
    if st.st_size > max_bytes:
        return issue("file_too_large", f"{st.st_size / 1e6:.0f} MB is over the limit")
    try:
        if st.st_size > STREAM_HASH_ABOVE:
            digest = hash_file(path)
            source: Any = path
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            digest = hash_bytes(data)
            source = io.BytesIO(data)
    except OSError as exc:
        return os_issue(exc)
    facts = _decode(source, max_pixels, quick_jpeg=check == "quick")
    if facts.get("ok"):
        facts.update(content_hash=digest, file_size=st.st_size, mtime_ns=st.st_mtime_ns)
    return facts


# Leading bytes of the formats ClassKit accepts: such a file that Pillow cannot parse is
# a damaged image ("corrupt"), not some other kind of file ("not_an_image").
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")


def _head(source: Any) -> bytes:
    """The first 16 bytes of ``source`` (empty when unreadable)."""
    try:
        if isinstance(source, io.BytesIO):
            return source.getvalue()[:16]
        with open(source, "rb") as fh:
            return fh.read(16)
    except OSError:
        return b""


def _looks_like_image(source: Any) -> bool:
    head = _head(source)
    return (head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or (head[:2] == b"BM" and head[6:10] == b"\0\0\0\0"))


# What Pillow raises for damaged or hostile image data.
DECODE_ERRORS = (Image.DecompressionBombError, UnidentifiedImageError, OSError, SyntaxError,
                 ValueError, EOFError, IndexError, struct.error, MemoryError)


def decode_issue(exc: BaseException) -> dict[str, Any]:
    """The issue for an exception from decoding an image (one of DECODE_ERRORS)."""
    if isinstance(exc, Image.DecompressionBombError):
        return issue("too_large", str(exc))
    if isinstance(exc, MemoryError):
        return issue("too_large", "not enough memory to decode")
    if isinstance(exc, UnidentifiedImageError):
        return issue("not_an_image")
    text = str(exc)
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return issue("truncated", text)
    return issue("corrupt", f"{type(exc).__name__}: {text}")


def jpeg_has_end(data: bytes) -> bool:
    """Walk a JPEG's marker segments to the first scan, then look for the end-of-image marker.

    Entropy-coded data cannot contain FF D9 (0xFF bytes are stuffed), so a file cut short
    lacks it; walking the segments skips an EXIF thumbnail's own SOI..EOI. Trailing data
    after EOI (motion photos) is fine.
    """
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        if marker == 0xD9:
            return True
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            return data.find(b"\xff\xd9", pos + 2 + length) != -1
        pos += 2 + length
    return False


def _decode(source: Any, max_pixels: int, quick_jpeg: bool = False) -> dict[str, Any]:
    """Identify and decode an image; report its oriented size and format.

    With ``quick_jpeg``, an in-memory JPEG is checked by its marker structure (complete up to
    end-of-image) instead of being decoded: ~10x faster, misses damage inside the scan data.
    """
    # Pillow refuses images over 2 * MAX_IMAGE_PIXELS on its own; a larger configured
    # max_pixels must win, so raise Pillow's limit (never lower it) while decoding.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    raise_limit = pillow_limit is not None and 2 * pillow_limit < max_pixels
    try:
        if raise_limit:
            Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb and "Corrupt EXIF" warnings: we report
            with Image.open(source) as im:
                fmt = im.format or "?"
                w, h = im.size
                if fmt not in ACCEPTED_FORMATS:
                    return issue("unsupported_format", f"format {fmt}")
                if w <= 0 or h <= 0:
                    return issue("corrupt", f"invalid size {w}x{h}")
                if w * h > max_pixels:
                    return too_large(f"{w}x{h} = {w * h:,} pixels", w * h, max_pixels)
                if quick_jpeg and fmt in ("JPEG", "MPO") and isinstance(source, io.BytesIO):
                    if not jpeg_has_end(source.getvalue()):
                        return issue("truncated", "JPEG data ends before its end-of-image marker")
                    orientation = _orientation(im)
                    return _facts(w, h, fmt, orientation)
                if fmt in ("JPEG", "MPO"):
                    im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))  # decode all, scaled: fast
                # Decode before reading EXIF: getexif() may load the image itself, and
                # _orientation() swallows errors, which would hide a broken data stream.
                im.load()
                orientation = _orientation(im)
    except Image.DecompressionBombError as exc:  # over 2x Pillow's limit: refused at open
        found = re.search(r"\((\d+) pixels\)", str(exc))
        if found is None:
            return decode_issue(exc)
        pixels = int(found.group(1))
        return too_large(f"{pixels:,} pixels", pixels, max_pixels)
    except UnidentifiedImageError:
        if _head(source).startswith((b"II*\x00", b"MM\x00*")):
            return issue("unsupported_format", "a TIFF that Pillow cannot read: a variant such as "
                                               "floating-point colour samples, or damaged; convert "
                                               "it to PNG or 8-bit TIFF")
        if _looks_like_image(source):
            return issue("corrupt", "starts like an image file but cannot be parsed")
        return issue("not_an_image")
    except DECODE_ERRORS as exc:
        return decode_issue(exc)
    finally:
        if raise_limit:
            Image.MAX_IMAGE_PIXELS = pillow_limit
    return _facts(w, h, fmt, orientation)


def too_large(what: str, pixels: int, max_pixels: int) -> dict[str, Any]:
    """The ``too_large`` issue, saying how to let the image in when it is trusted."""
    return issue("too_large", f"{what} is over the limit of {max_pixels:,} (ingest.max_pixels); "
                              f"if you trust the file, ingest again with --max-pixels {pixels}")


def _facts(w: int, h: int, fmt: str, orientation: int) -> dict[str, Any]:
    if orientation in _SWAPS_AXES:
        w, h = h, w
    return {"ok": True, "width": w, "height": h, "format": "JPEG" if fmt == "MPO" else fmt,
            "orientation": orientation}


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # a broken EXIF block must not reject a decodable image
        return 1


def probe_many(paths: list[str], max_pixels: int, max_bytes: int, check: str = "decode"
               ) -> list[dict[str, Any]]:
    """Probe a chunk of files (one task for a worker process)."""
    return [probe_file(p, max_pixels, max_bytes, check) for p in paths]
