"""EXIF/TIFF orientation at export: find images stored sideways with an orientation tag, and
optionally write them with the rotation applied to the pixels (``--upright``).

ClassKit shows, embeds and labels every image as its orientation tag says (upright).
Exported bytes are the originals, so what a training script sees depends on its loader.
Facts (measured with Pillow 13.0.0; Pillow has applied the TIFF tag on load since 6.2):

- JPEG/PNG/WebP: ``Image.open`` + ``convert`` (torchvision's ImageFolder loader) ignores
  the EXIF orientation: such photos are read sideways. They go to the manifest's
  ``exif_oriented`` list.
- TIFF: Pillow applies the orientation tag when it loads the pixels, so the same loader sees
  the image upright, while readers that ignore the tag (tifffile, imageio's TIFF plugin)
  see it as stored. Such files go to ``tiff_oriented``. Exception: opened by path, a
  single-strip uncompressed TIFF in a memory-mappable mode (8-bit grey, palette, RGBA,
  CMYK, 16-bit grey) with orientation 5-8 is mapped into the already-transposed size and
  comes out scrambled. Rather than encode Pillow's internals, :func:`inspect_orientation`
  decodes each tagged TIFF the way such a loader does and compares it with the upright
  image; one that differs goes to ``exif_oriented`` (loaders get it wrong).

``write_upright`` re-encodes a tagged image in its own format with the orientation applied
exactly once and the tag reset: the file is decoded from memory (never memory-mapped), and
only the orientation still present after loading is applied (none for TIFF, whose tag
Pillow consumed). JPEG at quality 95 (one generation of lossy re-encoding, only for the
oriented files), PNG/TIFF/WebP as lossless as their encoder allows, ICC profile kept.
16-bit grey keeps all 16 bits. 16-bit-per-channel colour is *not* re-encoded: Pillow holds
colour at 8 bits per channel and would keep only the high bytes, so such files are exported
as stored and listed in ``upright_skipped_16bit``. Pillow's encoders are deterministic, so
a repeated export is byte-identical.
"""
from __future__ import annotations

import functools
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..thumbs import highbit
from ..thumbs.render import _orientation, open_image

ORIENTATION_TAG = 0x0112
_SAVE = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}, "PNG": {}, "TIFF": {"compression": "tiff_lzw"}}
UPRIGHT_FORMATS = frozenset(_SAVE)  # formats write_upright re-encodes (others keep their bytes)


@dataclass(frozen=True)
class Orientation:
    """What export needs to know about one file's orientation tag."""

    tag: int = 1                 # orientation as stored (1: none, no EXIF, broken EXIF)
    fmt: str = ""                # Pillow format name
    pillow_upright: bool = False  # ``Image.open(path)`` + convert already shows it upright
    wide: bool = False           # 16-bit colour: re-encoding would cut it to 8 bits


@functools.cache
def applies_on_load(fmt: str) -> bool:
    """Whether the installed Pillow applies the orientation tag of ``fmt`` when loading.

    Probed once per format on a 2x1 image tagged 6 (a 90-degree turn), not read from the
    version number: True for TIFF, False for JPEG/PNG/WebP with Pillow 13.
    """
    buf = io.BytesIO()
    try:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = 6
        Image.new("RGB", (2, 1)).save(buf, fmt, exif=exif.tobytes())
        buf.seek(0)
        with Image.open(buf) as im:
            im.load()
            return im.size == (1, 2)
    except Exception:  # noqa: BLE001 - a format Pillow cannot write with EXIF: no tag applied
        return False


def inspect_orientation(src: str) -> Orientation:
    """The orientation facts of ``src``. Never fails: an unreadable file or broken EXIF block
    is ``Orientation()`` (as stored), the export's own checks report those files."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_image(src, vetted=True) as im:
                # first: PNG's getexif() loads the pixels
                wide = highbit.is_wide(im) or highbit.planar_tiles(im) is not None
                tag, fmt = _orientation(im), im.format or ""
            pillow_upright = tag != 1 and applies_on_load(fmt) and _pillow_sees_upright(src)
    except Exception:  # noqa: BLE001
        return Orientation()
    return Orientation(tag, fmt, pillow_upright, wide)


def exif_orientation(src: str) -> tuple[int, str]:
    """(orientation as stored, Pillow format) of ``src``; (1, "") when unreadable."""
    info = inspect_orientation(src)
    return info.tag, info.fmt


def _pillow_sees_upright(src: str) -> bool:
    """Whether a plain ``Image.open(path)`` decode of ``src`` equals the upright image.
    Opened by path as loaders do, not with ``render.open_image`` (which decodes TIFFs from
    bytes to avoid Pillow's scrambling memory map)."""
    with Image.open(src) as im:
        im.load()
        seen = np.asarray(im)
    return np.array_equal(seen, np.asarray(_upright(src)[0]))


def _upright(src: str) -> tuple[Image.Image, str, bytes | None]:
    """(upright image, format, ICC profile) of ``src``, orientation applied exactly once.

    ``render.open_image`` decodes a TIFF from its bytes, never memory-mapped: Pillow maps some
    uncompressed TIFFs opened by path and scrambles them when their tag turns them (module
    docstring).
    """
    with open_image(src, vetted=True) as im:
        fmt, icc = im.format or "", im.info.get("icc_profile")
        # exif_transpose loads first, then applies what is left: nothing for a TIFF, whose tag
        # Pillow applied while loading; it also drops the tag from EXIF and XMP
        upright = ImageOps.exif_transpose(im)
    return upright, fmt, icc


def write_upright(src: str, dst: Path) -> tuple[str, int]:
    """Write ``src`` to ``dst`` (created exclusively) with its orientation applied to the
    pixels and the tag reset to 1, in the source's format. Returns (sha256 hex, size).
    Raises ValueError for formats it cannot re-encode and for 16-bit colour."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if inspect_orientation(src).wide:
            raise ValueError(f"{src}: 16-bit colour would be cut to 8 bits; export it as stored")
        upright, fmt, icc = _upright(src)
        if fmt not in _SAVE:
            raise ValueError(f"{src}: cannot re-encode {fmt or 'this format'} upright")
        params = dict(_SAVE[fmt])
        exif = upright.getexif()
        exif[ORIENTATION_TAG] = 1
        params["exif"] = exif.tobytes()
        if icc:
            params["icc_profile"] = icc
        if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        buf = io.BytesIO()
        upright.save(buf, fmt, **params)
    data = buf.getvalue()
    with open(dst, "xb") as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest(), len(data)
