"""Crop PoseKit individuals out of their frames. Runs in worker processes, so it is self-contained.

One job is one image with its YOLO-pose label file. :func:`crop_jobs` returns plain dicts
(cheap to pickle), one per label line: ``{"ok": True, ...crop facts}`` or
``{"ok": False, "path", "reason", "detail"}``; every result names its job's ``image``.

Boxes are measured in the EXIF-oriented image, the frame PoseKit showed when labelling.
The padded box is ``[floor(x0 - pad*w), ceil(x1 + pad*w))`` (same for y), clipped to the
image; a crop is reused when its file is at least as new as the label file and the image
and has the expected size (so a changed padding re-crops).
"""
from __future__ import annotations

import io
import math
import os
import struct
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from ...fsutil import write_bytes_atomic

_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EPS = 1e-6  # pixels; keeps 0.3 * 100 = 30.000000000000004 from growing a box by one pixel

Box = tuple[int, int, int, int]


class LineError(ValueError):
    """A label line that cannot be read as ``class cx cy w h kpts...``."""


def parse_line(text: str, dims: int) -> tuple[int, list[float], list[list[Any]]]:
    """``class cx cy w h`` then keypoints (``dims`` values each) -> (class, bbox, keypoints)."""
    parts = text.split()
    if len(parts) < 5:
        raise LineError(f"expected at least 5 numbers (class cx cy w h), got {len(parts)}")
    values = []
    for part in parts:
        try:
            values.append(float(part))
        except ValueError:
            raise LineError(f"not a number: {part!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise LineError("contains NaN or infinity")
    if values[0] < 0 or values[0] != int(values[0]):
        raise LineError(f"class id {parts[0]!r} is not a non-negative integer")
    rest = values[5:]
    if len(rest) % dims:
        raise LineError(f"{len(rest)} keypoint values is not a multiple of dims={dims}")
    kpts: list[list[Any]] = []
    for i in range(0, len(rest), dims):
        v = _num(rest[i + 2]) if dims == 3 else None
        kpts.append([rest[i], rest[i + 1], v])
    return int(values[0]), values[1:5], kpts


def _num(v: float) -> float | int:
    return int(v) if v == int(v) else v


def padded_box(bbox: list[float], width: int, height: int, pad: float, min_px: int
               ) -> Box | str:
    """Pixel box of a normalised ``cx cy w h`` grown by ``pad`` per side, or why it is bad."""
    cx, cy, w, h = bbox
    if w <= 0 or h <= 0:
        return f"box has zero or negative size (w={w:g}, h={h:g})"
    bw, bh = w * width, h * height
    x0 = max(0, math.floor(cx * width - bw / 2 - pad * bw + _EPS))
    y0 = max(0, math.floor(cy * height - bh / 2 - pad * bh + _EPS))
    x1 = min(width, math.ceil(cx * width + bw / 2 + pad * bw - _EPS))
    y1 = min(height, math.ceil(cy * height + bh / 2 + pad * bh - _EPS))
    if x1 <= x0 or y1 <= y0:
        return f"box lies outside the {width}x{height} image"
    if x1 - x0 < min_px or y1 - y0 < min_px:
        return f"crop {x1 - x0}x{y1 - y0} px is smaller than min_crop_px={min_px}"
    return x0, y0, x1, y1


def _issue(image: str, path: str, reason: str, detail: str) -> dict[str, Any]:
    return {"ok": False, "image": image, "path": path, "reason": reason, "detail": detail}


def _image_issue(image: str, exc: BaseException) -> dict[str, Any]:
    """Name the reason an image could not be opened or decoded (probe.REASONS codes)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (Image.DecompressionBombError, MemoryError)):
        reason = "too_large"
    elif isinstance(exc, UnidentifiedImageError):
        reason = "not_an_image"
    elif isinstance(exc, FileNotFoundError):
        reason = "missing"
    elif isinstance(exc, PermissionError):
        reason = "unreadable"
    elif isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        reason = "truncated"
    else:
        reason = "corrupt"
    return _issue(image, image, reason, text)


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    """Size after EXIF orientation, read from the header only (no decoding)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not reject a decodable image
        orientation = 1
    w, h = im.size
    return (h, w) if orientation in _SWAPS_AXES else (w, h)


def _fresh(path: str, newer_than_ns: int, size: tuple[int, int]) -> bool:
    """Is the crop at ``path`` up to date (new enough and of the expected size)?"""
    try:
        if os.stat(path).st_mtime_ns < newer_than_ns:
            return False
        with Image.open(path) as im:
            return im.size == size
    except Exception:  # missing or unreadable: crop again
        return False


def _encode(region: Image.Image, ext: str, quality: int, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    extra = {"icc_profile": icc} if icc else {}
    if ext == ".png":
        region.save(buf, "PNG", **extra)
    else:
        if region.mode not in ("RGB", "L", "CMYK"):
            region = region.convert("RGBA" if "A" in region.mode or region.mode == "P"
                                    else "RGB").convert("RGB")
        region.save(buf, "JPEG", quality=quality, **extra)
    return buf.getvalue()


def _read_instances(job: dict[str, Any], dims: int
                    ) -> tuple[list[tuple[int, int, list[float], list]], list[dict[str, Any]]]:
    """Parse the label file: (line index, class, bbox, keypoints) per individual, plus issues."""
    image, label = job["image"], job["label"]
    try:
        with open(label, "rb") as fh:
            text = fh.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [_issue(image, label, "label_error", f"not UTF-8 text: {exc}")]
    except OSError as exc:
        return [], [_issue(image, label, "unreadable", f"{type(exc).__name__}: {exc}")]
    instances, issues = [], []
    for idx, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            cls, bbox, kpts = parse_line(line, dims)
        except LineError as exc:
            issues.append(_issue(image, f"{label}#line {idx + 1}", "label_error", str(exc)))
            continue
        instances.append((idx, cls, bbox, kpts))
    return instances, issues


def crop_one(job: dict[str, Any], opts: dict[str, Any]) -> list[dict[str, Any]]:
    """Crop (or reuse) every individual of one image; never raises for bad input."""
    image = job["image"]
    instances, out = _read_instances(job, opts["dims"])
    if not instances:
        return out
    try:
        newest = max(os.stat(image).st_mtime_ns, os.stat(job["label"]).st_mtime_ns)
        if os.path.getsize(image) == 0:
            return out + [_issue(image, image, "empty_file", "zero-byte file")]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(image) as im:
                size = _oriented_size(im)
                if size[0] * size[1] > opts["max_pixels"]:
                    return out + [_issue(image, image, "too_large",
                                         f"{size[0]}x{size[1]} is over ingest.max_pixels")]
                boxes = [padded_box(b, *size, opts["pad"], opts["min_px"])
                         for _, _, b, _ in instances]
                paths = [f"{job['out_stem']}_i{idx:03d}{job['ext']}" for idx, *_ in instances]
                stale = [i for i, box in enumerate(boxes) if not isinstance(box, str)
                         and not _fresh(paths[i], newest, (box[2] - box[0], box[3] - box[1]))]
                if stale:
                    oriented = ImageOps.exif_transpose(im)
                    oriented.load()
                    if oriented.size != size:  # EXIF read differently: trust the pixels
                        size = oriented.size
                        boxes = [padded_box(b, *size, opts["pad"], opts["min_px"])
                                 for _, _, b, _ in instances]
                        stale = [i for i, box in enumerate(boxes) if not isinstance(box, str)]
                    icc = im.info.get("icc_profile")
                    for i in stale:
                        data = _encode(oriented.crop(boxes[i]), job["ext"], opts["quality"], icc)
                        write_bytes_atomic(paths[i], data)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error,
            MemoryError, Image.DecompressionBombError) as exc:
        return out + [_image_issue(image, exc)]
    stale_set = set(stale)
    for i, (idx, cls, bbox, kpts) in enumerate(instances):
        box = boxes[i]
        if isinstance(box, str):
            out.append(_issue(image, f"{image}#instance {idx}", "bad_crop", box))
            continue
        x0, y0 = box[0], box[1]
        local = [[round(x * size[0] - x0, 3), round(y * size[1] - y0, 3), v]
                 for x, y, v in kpts]
        out.append({"ok": True, "image": image, "instance": idx, "class": cls,
                    "bbox_norm": bbox, "crop_box": list(box), "keypoints": local,
                    "crop": paths[i], "created": i in stale_set})
    return out


def crop_jobs(jobs: list[dict[str, Any]], opts: dict[str, Any]) -> list[dict[str, Any]]:
    """Crop a chunk of images (one task for a worker process)."""
    out: list[dict[str, Any]] = []
    for job in jobs:
        out += crop_one(job, opts)
    return out
