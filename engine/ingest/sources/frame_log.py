"""Progress log of an unfinished video extraction, so an interrupted run can resume.

``<frames folder>/.classkit-frames.partial`` is one JSON header line (what identifies the
video and the sampling settings) then one JSON line per frame written:
``[index, time_s, pts, nbytes]`` (``time_s`` unrounded). A line is appended only after its
frame file was written atomically, so a logged frame is always a complete file. A killed
process can lose the last lines (those frames are written again, identically) or leave one
cut in half (ignored). On resume the log is trusted up to the first frame whose file is
missing or has another size; a log whose header differs (the video or the settings changed)
is deleted and the extraction starts over.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...fsutil import open_atomic

PARTIAL = ".classkit-frames.partial"
SAMPLE_BYTES = 1 << 20  # bytes hashed at each end of the video
STALE_TMP_S = 600.0  # a temporary frame file older than this was left by a dead process


@dataclass(frozen=True)
class Done:
    """One frame an earlier, interrupted run wrote."""

    index: int
    t: float  # seconds from the stream start, unrounded (the fps picker's state)
    pts: int | None  # presentation timestamp, to find the frame again after a seek
    nbytes: int


def sample_hash(path: Path, size: int) -> str:
    """Hash of the video's first and last MiB: catches a changed file whose size and mtime
    were kept, without reading hours of footage."""
    h = hashlib.sha1(str(size).encode())
    try:
        with open(path, "rb") as fh:
            h.update(fh.read(SAMPLE_BYTES))
            if size > SAMPLE_BYTES:
                fh.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
                h.update(fh.read(SAMPLE_BYTES))
    except OSError:
        return ""  # unreadable now: size and mtime still identify it
    return h.hexdigest()


def _parse(line: str) -> Done | None:
    try:
        index, t, pts, nbytes = json.loads(line)
        return Done(int(index), float(t), None if pts is None else int(pts), int(nbytes))
    except (ValueError, TypeError):
        return None


def load(folder: Path, header: dict[str, Any], path_of: Callable[[int], Path]) -> list[Done]:
    """The frames an interrupted extraction with this ``header`` left complete on disk, in
    order; [] when there is none. A log for another header is deleted."""
    try:
        with open(folder / PARTIAL, encoding="utf-8") as fh:
            first = fh.readline()
            try:
                same = json.loads(first) == header
            except ValueError:
                same = False
            if not same:
                discard(folder)
                return []
            lines = fh.read().split("\n")
    except OSError:
        return []
    done: list[Done] = []
    for line in lines[:-1]:  # the last piece has no newline: empty, or cut by a crash
        item = _parse(line)
        if item is None or (done and item.index <= done[-1].index):
            break
        try:
            if os.stat(path_of(item.index)).st_size != item.nbytes:
                break
        except OSError:
            break
        done.append(item)
    return done


def discard(folder: Path) -> None:
    """Forget an unfinished extraction (it completed, failed, or is stale)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / PARTIAL)


def remove_stale_tmp(folder: Path) -> None:
    """Delete half-written frame files (``open_atomic`` temporaries) a killed run left."""
    cutoff = time.time() - STALE_TMP_S
    for tmp in folder.glob(".*.jpg.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


class FrameLog:
    """Appends a line per frame written; starts as ``header`` plus the trusted ``done``."""

    def __init__(self, folder: Path, header: dict[str, Any], done: list[Done]) -> None:
        self.path = folder / PARTIAL
        with open_atomic(self.path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
            for d in done:
                fh.write(_line(d))
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")

    def add(self, item: Done) -> None:
        """Record a frame whose file is complete (flushed: survives the process dying)."""
        assert self._fh is not None
        self._fh.write(_line(item))
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> FrameLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(d: Done) -> str:
    return json.dumps([d.index, d.t, d.pts, d.nbytes]) + "\n"
