"""Writers: an image tree (ImageFolder / Ultralytics) by copy, hardlink or symlink; CSV; Parquet.

Every written file is hashed (SHA-256, what ``sha256sum`` checks) for the manifest. A copy
is read once: the same pass writes it and hashes it, and also checks the ingest content
hash (xxh3-128), so an image edited since ingest is reported. Files are created
exclusively (``xb``): nothing is ever overwritten.
"""
from __future__ import annotations

import csv
import errno
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from ..errors import ClassKitError
from ..ingest.probe import HASH_PREFIX
from ..jobs import CancelToken, ProgressFn
from .orient import UPRIGHT_FORMATS, inspect_orientation, write_upright
from .rows import COLUMNS

LINK_MODES = ("copy", "hardlink", "symlink")
CHUNK = 1 << 20
# Errors after which a hardlink falls back to a copy: another device, or a file system
# (or permission setting) without hardlinks.
_LINK_FALLBACK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES}


@dataclass(frozen=True)
class FileItem:
    """One image to place: its id, source path, path relative to the export, ingest hash."""

    image_id: int
    source: str
    rel: str
    content_hash: str


@dataclass
class TreeResult:
    """Per-file records (rel path, sha256, size), hardlinks copied instead, changed images,
    EXIF-oriented images left as stored or written upright."""

    files: list[dict[str, Any]] = field(default_factory=list)
    copied_instead: int = 0
    changed: list[int] = field(default_factory=list)
    oriented: list[int] = field(default_factory=list)  # as stored; Image.open(path) reads them wrong
    tiff_oriented: list[int] = field(default_factory=list)  # as stored; Pillow applies their tag
    rotated: list[int] = field(default_factory=list)   # oriented images written upright
    kept_16bit: list[int] = field(default_factory=list)  # upright asked, 16-bit colour kept as stored


def _read_hash(src: str, out: Any = None) -> tuple[str, int, str]:
    """(sha256 hex, size, ingest-style content hash) of ``src``; copies into ``out`` if given."""
    sha, xxh, size = hashlib.sha256(), xxhash.xxh3_128(), 0
    with open(src, "rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
            xxh.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
    return sha.hexdigest(), size, HASH_PREFIX + xxh.hexdigest()


def _copy(src: str, dst: Path) -> tuple[str, int, str]:
    with open(dst, "xb") as out:
        return _read_hash(src, out)


def place_file(src: str, dst: Path, mode: str) -> tuple[str, int, str, bool]:
    """Put ``src`` at ``dst`` by ``mode``; (sha256, size, content hash, copied instead of linked)."""
    if mode == "copy":
        return (*_copy(src, dst), False)
    if mode == "hardlink":
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno not in _LINK_FALLBACK:
                raise
            return (*_copy(src, dst), True)
        return (*_read_hash(src), False)
    if mode == "symlink":
        os.symlink(os.path.abspath(src), dst)
        return (*_read_hash(src), False)
    raise ClassKitError(f"unknown link mode {mode!r} (one of: {', '.join(LINK_MODES)})")


def write_tree(root: Path, items: Sequence[FileItem], mode: str, progress: ProgressFn,
               cancel: CancelToken, upright: bool = False) -> TreeResult:
    """Place every item under ``root`` (folders made as needed), checking cancel per file.
    ``upright`` (copy mode): images with an orientation tag are re-encoded with it applied
    (``orient.write_upright``) except 16-bit colour; otherwise they are only listed in
    ``oriented`` or ``tiff_oriented`` (see ``orient``'s docstring for which)."""
    result = TreeResult()
    made: set[str] = set()
    total = len(items)
    for done, item in enumerate(items):
        cancel.raise_if_cancelled()
        dst = root / item.rel
        parent = str(dst.parent)
        if parent not in made:
            dst.parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        info = inspect_orientation(item.source)
        try:
            if upright and info.tag != 1 and info.fmt in UPRIGHT_FORMATS and not info.wide:
                _sha, _size, content = _read_hash(item.source)
                (sha, size), fallback = write_upright(item.source, dst), False
                result.rotated.append(item.image_id)
            else:
                sha, size, content, fallback = place_file(item.source, dst, mode)
                if info.tag != 1:
                    (result.tiff_oriented if info.pillow_upright else result.oriented).append(item.image_id)
                    if upright and info.wide:
                        result.kept_16bit.append(item.image_id)
        except (OSError, ValueError) as exc:
            raise ClassKitError(f"cannot export image {item.image_id} ({item.source}) to {item.rel}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from exc
        result.files.append({"path": item.rel, "sha256": sha, "size": size})
        result.copied_instead += fallback
        if item.content_hash and content != item.content_hash:
            result.changed.append(item.image_id)
        if done % 64 == 0 or done + 1 == total:
            progress(done + 1, total, "writing files")
    return result


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, columns: dict[str, list[Any]]) -> None:
    """A UTF-8 CSV with the :data:`COLUMNS` header; None is an empty cell."""
    with open(path, "x", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in zip(*(columns[c] for c in COLUMNS), strict=True):
            writer.writerow([_cell(v) for v in row])


def write_parquet(path: Path, columns: dict[str, list[Any]]) -> None:
    """A Parquet file (pyarrow, zstd) with a fixed schema; None is null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"id": pa.int64(), "round": pa.int64(), "confidence": pa.float64(), "cluster": pa.int64(),
             "dup_group": pa.int64(), "duplicate_of": pa.int64()}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in COLUMNS])
    table = pa.table({c: pa.array(columns[c], type=schema.field(c).type) for c in COLUMNS}, schema=schema)
    pq.write_table(table, path, compression="zstd")


def file_record(root: Path, rel: str) -> dict[str, Any]:
    """Manifest record (path, sha256, size) of a file written under ``root``."""
    sha, size, _ = _read_hash(str(root / rel))
    return {"path": rel, "sha256": sha, "size": size}
