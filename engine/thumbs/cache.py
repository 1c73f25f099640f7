"""Where thumbnails live, lazy single thumbnails for the app, and the build-all job.

Layout: ``PROJECT/cache/thumbs/<size>/<2 hex>/<32 hex>.jpg``, keyed by the image's content
hash, so identical files share one thumbnail and a changed file (new hash after re-ingest)
gets a new one without any invalidation. The whole folder is disposable.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import default_workers
from ..errors import ClassKitError, ConfigError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..parallel import map_chunks
from ..project import Project
from .render import make_thumbnail, make_thumbnails

log = logging.getLogger(__name__)

THUMBS_DIR = Path("cache") / "thumbs"
MAX_FAILURES_LISTED = 20
_HEX32 = re.compile(r"[0-9a-f]{32}")
_TOUCH_AFTER_NS = 3600 * 10**9  # refresh the LRU timestamp at most hourly per file
# Striped locks: one build per thumbnail at a time within this process (other processes
# are safe anyway: each writer renames its own temporary file into place).
_LOCKS = [threading.Lock() for _ in range(64)]


def thumbs_root(project: Project) -> Path:
    """``PROJECT/cache/thumbs``: everything the thumbnail cache owns."""
    return project.root / THUMBS_DIR


def resolve_size(project: Project, size: int | None) -> int:
    """The thumbnail size to use: ``size`` or the project's ``thumbnail_size`` setting."""
    if size is None:
        return project.settings.thumbnail_size
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ConfigError("size", f"thumbnail size must be an integer 16-4096, got {size!r}")
    return size


def hash_hex(content_hash: str) -> str:
    """The 32 hex digits of a stored ``xxh128:<hex>`` content hash."""
    hexpart = content_hash.rpartition(":")[2].lower()
    if not _HEX32.fullmatch(hexpart):
        raise ClassKitError(f"unexpected content hash {content_hash!r} in the project database")
    return hexpart


def path_for_hash(root: Path, content_hash: str, size: int) -> Path:
    """Cache path of the thumbnail for ``content_hash`` under the thumbs folder ``root``."""
    hexpart = hash_hex(content_hash)
    return root / str(size) / hexpart[:2] / f"{hexpart}.jpg"


def _row(project: Project, image_id: int) -> Any:
    row = project.db.execute("SELECT id, path, content_hash FROM images WHERE id=?",
                             (int(image_id),)).fetchone()
    if row is None:
        raise ClassKitError(f"no image with id {image_id} in this project")
    return row


def thumbnail_path(project: Project, image_id: int, size: int | None = None) -> Path:
    """Where the thumbnail of ``image_id`` lives (it may not exist yet)."""
    row = _row(project, image_id)
    return path_for_hash(thumbs_root(project), row["content_hash"], resolve_size(project, size))


def _present(path: Path, touch: bool = False) -> bool:
    """Is a usable thumbnail file there? Empty files (power cut mid-write) count as missing.

    With ``touch``, refresh its access time (at most hourly) so pruning is LRU even on
    filesystems mounted noatime/relatime.
    """
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_size == 0:
        return False
    if touch:
        now = time.time_ns()
        if now - max(st.st_atime_ns, st.st_mtime_ns) > _TOUCH_AFTER_NS:
            with contextlib.suppress(OSError):  # read-only cache, or pruned meanwhile
                os.utime(path, ns=(now, st.st_mtime_ns))
    return True


def get_thumbnail(project: Project, image_id: int, size: int | None = None) -> Path:
    """The thumbnail of ``image_id``, built now if missing (safe from several threads).

    Raises :class:`ClassKitError` for an unknown id, or a source that is gone, changed
    since ingest, or cannot be decoded.
    """
    size = resolve_size(project, size)
    row = _row(project, image_id)
    out = path_for_hash(thumbs_root(project), row["content_hash"], size)
    if _present(out, touch=True):
        return out
    with _LOCKS[int(out.stem[:8], 16) % len(_LOCKS)]:
        if _present(out):  # another thread built it while we waited
            return out
        source = project.paths.resolve(row["path"])
        res = make_thumbnail(str(source), str(out), size, project.settings.thumbnail_quality)
    if not res["ok"]:
        raise ClassKitError(f"cannot make a thumbnail for image {image_id} ({source}): "
                            f"{res['reason']}: {res['detail']}")
    return out


def _plan(project: Project, size: int, quality: int, only_missing: bool
          ) -> tuple[dict[str, list[tuple[int, str]]], list[tuple[str, str, int, int]], int]:
    """Group images by thumbnail file; the tasks to run and how many images already have one."""
    root = thumbs_root(project)
    groups: dict[str, list[tuple[int, str]]] = {}
    for row in project.db.execute("SELECT id, path, content_hash FROM images ORDER BY id"):
        out = str(path_for_hash(root, row["content_hash"], size))
        groups.setdefault(out, []).append((int(row["id"]), row["path"]))
    tasks, skipped = [], 0
    for out, members in groups.items():
        if only_missing and _present(Path(out)):
            skipped += len(members)
            continue
        sources = [str(project.paths.resolve(p)) for _, p in members]
        # identical files share a thumbnail: build it from any copy that still exists
        src = next((s for s in sources if os.path.isfile(s)), sources[0]) \
            if len(sources) > 1 else sources[0]
        tasks.append((src, out, size, quality))
    return groups, tasks, skipped


def build_thumbnails(project: Project, size: int | None = None, workers: int | None = None,
                     progress: ProgressFn = no_progress, cancel: CancelToken | None = None,
                     only_missing: bool = True, chunk_size: int = 32) -> dict[str, Any]:
    """Background job: make the thumbnails of all images (or only the missing ones).

    Runs in worker processes (crash-isolated). A source that vanished, changed or is
    corrupt is counted as failed and never stops the job. Counts are per image (identical
    files share one thumbnail file). Cancel raises :class:`Cancelled` between chunks;
    what was built stays, so a rerun continues where this one stopped. ``per_s`` is
    images given a new thumbnail per second of the whole call (pool start included).
    """
    started = time.perf_counter()
    size = resolve_size(project, size)
    quality = project.settings.thumbnail_quality
    workers = default_workers() if workers is None else max(1, int(workers))
    progress(0, 0, "finding missing thumbnails")
    groups, tasks, skipped = _plan(project, size, quality, only_missing)
    counts = {"built": 0, "failed": 0, "files_written": 0, "bytes_written": 0}
    failures: list[dict[str, Any]] = []

    def fail(out: str, reason: str, detail: str) -> None:
        for image_id, stored in groups[out]:
            counts["failed"] += 1
            if len(failures) < MAX_FAILURES_LISTED:
                failures.append({"image_id": image_id,
                                 "path": str(project.paths.resolve(stored)),
                                 "reason": reason, "detail": detail})

    def on_result(chunk: Sequence[tuple[str, str, int, int]],
                  results: list[dict[str, Any]]) -> None:
        for (_src, out, _s, _q), res in zip(chunk, results, strict=True):
            if res["ok"]:
                counts["built"] += len(groups[out])
                counts["files_written"] += 1
                counts["bytes_written"] += res["bytes"]
            else:
                fail(out, res["reason"], res["detail"])

    def on_crash(item: tuple[str, str, int, int], why: str) -> None:
        fail(item[1], "decoder_crash", why)

    status = "cancelled"
    try:
        map_chunks(make_thumbnails, tasks, workers=workers, chunk_size=chunk_size,
                   on_result=on_result, on_crash=on_crash, progress=progress,
                   cancel=cancel, msg=f"making {size}px thumbnails")
        status = "done"
    finally:
        elapsed = time.perf_counter() - started
        log.info("thumbnails %dpx %s: %d built, %d existed, %d failed in %.1f s", size,
                 status, counts["built"], skipped, counts["failed"], elapsed)
    total = sum(len(m) for m in groups.values())
    return {"size": size, "total": total, "built": counts["built"],
            "skipped_existing": skipped, "failed": counts["failed"], "failures": failures,
            "files_written": counts["files_written"], "bytes_written": counts["bytes_written"],
            "elapsed_s": round(elapsed, 3),
            "per_s": round(counts["built"] / elapsed, 1) if elapsed > 0 else None}
