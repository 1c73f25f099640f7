"""EXIF orientation at export: find photos stored sideways with an orientation tag, and
optionally write them with the rotation applied to the pixels (``--upright``).

ClassKit shows, embeds and labels every image as its EXIF orientation says (upright).
Exported bytes are the originals, so loaders that ignore EXIF (torchvision's ImageFolder,
plain PIL, many training scripts) read such photos sideways. ``write_upright`` re-encodes
them in their own format with the orientation applied and the tag reset: JPEG at quality
95 (one generation of lossy re-encoding, only for the oriented files), PNG/TIFF/WebP as
lossless as their encoder allows, ICC profile kept. Pillow's encoders are deterministic,
so a repeated export is byte-identical.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

from PIL import ImageOps

from ..thumbs.render import _orientation, open_image

ORIENTATION_TAG = 0x0112
_SAVE = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}, "PNG": {}, "TIFF": {"compression": "tiff_lzw"}}
UPRIGHT_FORMATS = frozenset(_SAVE)  # formats write_upright re-encodes (others keep their bytes)


def exif_orientation(src: str) -> tuple[int, str]:
    """(EXIF orientation, Pillow format) of ``src`` from its header. Orientation 1 = as
    stored, also for no EXIF, a broken EXIF block or an unreadable file (the export's own
    checks report those): detection never fails an export."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_image(src, vetted=True) as im:
                return _orientation(im), im.format or ""
    except Exception:  # noqa: BLE001
        return 1, ""


def write_upright(src: str, dst: Path) -> tuple[str, int]:
    """Write ``src`` to ``dst`` (created exclusively) with its EXIF orientation applied to the
    pixels and the tag reset to 1, in the source's format. Returns (sha256 hex, size)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_image(src, vetted=True) as im:
            fmt = im.format or ""
            if fmt not in _SAVE:
                raise ValueError(f"{src}: cannot re-encode {fmt or 'this format'} upright")
            icc = im.info.get("icc_profile")
            upright = ImageOps.exif_transpose(im)
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
