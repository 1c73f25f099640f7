"""Cache policy: how big the thumbnail cache is, and pruning it (orphans, then LRU).

Only files named like thumbnails (``<size>/<2 hex>/<32 hex>.jpg``) and stale temporary
files of interrupted writes are ever deleted, and only under ``PROJECT/cache/thumbs``;
symlinks are neither followed nor removed. Memory stays flat at 1M thumbnails: hashes are
looked up one shard at a time, and the LRU pass keeps two numbers per file.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..project import Project
from .cache import thumbs_root

log = logging.getLogger(__name__)

MIB = 1 << 20
STALE_TEMP_S = 600  # a temporary file older than this belongs to a writer that died
_THUMB = re.compile(r"([0-9a-f]{32})\.jpg")
_TEMP = re.compile(r"\.[0-9a-f]{32}\.jpg\..+\.tmp")
_SHARD = re.compile(r"[0-9a-f]{2}")


def cache_stats(project: Project) -> dict[str, int]:
    """Thumbnail files and bytes of all regular files under ``cache/thumbs`` (no symlinks)."""
    total = files = 0
    for dirpath, _dirs, names in os.walk(thumbs_root(project)):
        for name in names:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files += _THUMB.fullmatch(name) is not None
    return {"files": files, "bytes": total}


def cache_size_bytes(project: Project) -> int:
    """Bytes of all regular files under ``cache/thumbs`` (symlinks not followed)."""
    return cache_stats(project)["bytes"]


def _subdirs(path: Path, pattern: re.Pattern[str]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted((e for e in it if pattern.fullmatch(e.name)
                           and e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
    except OSError:
        return []


def _files(shard: str, size_dirs: list[os.DirEntry[str]]
           ) -> Iterator[tuple[str, os.stat_result, str | None]]:
    """(path, stat, thumbnail hex or None for a temp/other file) of one shard in all sizes."""
    for size_dir in size_dirs:
        try:
            with os.scandir(os.path.join(size_dir.path, shard)) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                m = _THUMB.fullmatch(e.name)
                yield e.path, st, (m.group(1) if m and m.group(1)[:2] == shard else None)


def _known_hashes(project: Project, shard: str, prefixes: list[str]) -> set[str]:
    """Hex digests of the project's images whose hash starts with ``shard``."""
    out: set[str] = set()
    for prefix in prefixes:
        lo = prefix + shard
        rows = project.db.execute(
            "SELECT content_hash FROM images WHERE content_hash >= ? AND content_hash < ?",
            (lo, lo + "g"))  # hex digits all sort below 'g'
        out.update(r[0][len(prefix):].lower() for r in rows)
    return out


def _remove(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("cannot remove cached thumbnail %s: %s", path, exc)
        return False


def prune_thumbnails(project: Project, max_mb: int | None = None) -> dict[str, Any]:
    """Delete orphan thumbnails, then least-recently-used ones until under ``max_mb``.

    ``max_mb`` defaults to the project's ``cache_max_mb`` (0 keeps nothing). Orphans are
    thumbnails whose content hash no image has any more. Recency is the later of a file's
    atime and mtime (``get_thumbnail`` refreshes atime itself on noatime mounts).
    """
    limit_mb = project.settings.cache_max_mb if max_mb is None else max_mb
    if isinstance(limit_mb, bool) or not isinstance(limit_mb, int) or limit_mb < 0:
        raise ConfigError("max_mb", f"must be a whole number of MB >= 0, got {limit_mb!r}")
    root = thumbs_root(project)
    size_dirs = _subdirs(root, re.compile(r"\d+"))
    prefixes = [r[0] for r in project.db.execute(
        "SELECT DISTINCT substr(content_hash, 1, instr(content_hash, ':')) FROM images")]
    now = time.time()
    summary = {"max_mb": limit_mb, "bytes_before": 0, "removed_orphans": 0,
               "removed_temp": 0, "removed_lru": 0, "freed_bytes": 0}
    keys, sizes = array("q"), array("q")
    other = 0  # bytes we may not delete (unknown files, fresh temp files)
    shards = [f"{i:02x}" for i in range(256)]
    for shard in shards:
        known = _known_hashes(project, shard, prefixes)
        for path, st, hexpart in _files(shard, size_dirs):
            summary["bytes_before"] += st.st_size
            if hexpart is not None and hexpart not in known:
                if _remove(path):
                    summary["removed_orphans"] += 1
                    summary["freed_bytes"] += st.st_size
            elif hexpart is not None:
                keys.append(max(st.st_atime_ns, st.st_mtime_ns))
                sizes.append(st.st_size)
            elif _TEMP.fullmatch(os.path.basename(path)) and now - st.st_mtime > STALE_TEMP_S:
                if _remove(path):
                    summary["removed_temp"] += 1
                    summary["freed_bytes"] += st.st_size
            else:
                other += st.st_size
    kept_bytes = int(sum(sizes))
    excess = kept_bytes + other - limit_mb * MIB
    if excess > 0 and keys:
        summary["removed_lru"], freed = _remove_lru(size_dirs, shards, np.asarray(keys),
                                                    np.asarray(sizes), excess)
        summary["freed_bytes"] += freed
        kept_bytes -= freed
    summary["kept"] = len(keys) - summary["removed_lru"]
    summary["bytes_after"] = kept_bytes + other
    log.info("pruned thumbnail cache: %s", summary)
    return summary


def _remove_lru(size_dirs: list[os.DirEntry[str]], shards: list[str], keys: np.ndarray,
                sizes: np.ndarray, excess: int) -> tuple[int, int]:
    """Delete the oldest thumbnails until ``excess`` bytes are freed; (count, bytes)."""
    order = np.argsort(keys, kind="stable")
    freed_sorted = np.cumsum(sizes[order])
    n = min(int(np.searchsorted(freed_sorted, excess)) + 1, len(order))
    cutoff = int(keys[order[n - 1]])
    at_cutoff = int(np.count_nonzero(keys[order[:n]] == cutoff))
    removed = freed = 0
    for shard in shards:
        for path, st, hexpart in _files(shard, size_dirs):
            if hexpart is None:
                continue
            key = max(st.st_atime_ns, st.st_mtime_ns)
            if key > cutoff or (key == cutoff and at_cutoff == 0):
                continue
            if key == cutoff:
                at_cutoff -= 1
            if _remove(path):
                removed += 1
                freed += st.st_size
    return removed, freed
