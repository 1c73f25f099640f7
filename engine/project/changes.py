"""Noticing what other processes changed in a project (the CLI while the app is open).

The app keeps a project open for hours; a user may meanwhile run ``classkit label --csv``,
``classkit train`` or ``classkit select`` on it from a terminal. :class:`Watch` tells such
changes apart from the app's own by comparing a cheap fingerprint of the database
(:func:`change_mark`: a handful of indexed ``max(id)`` reads and two tiny tables) with what
this process committed itself (:data:`OWN`, fed by :meth:`Project.transaction`):

- label events are told apart exactly: every own transaction records the range of event ids
  it added (ids are consecutive inside a write transaction, which holds SQLite's write lock);
- other parts (images, classes, rounds, batches, artifacts, settings) count as changed
  elsewhere when they changed while this process committed nothing but labels. The app
  refreshes after its own jobs anyway; a change from outside that lands while one of its own
  jobs commits is picked up by that job's refresh.

No Qt here: the app polls :meth:`Watch.poll` from a worker thread.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .project import Project

PARTS = ("images", "classes", "rounds", "batches", "artifacts", "settings")


def _max_id(project: Project, table: str) -> int:
    return int(project.db.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0)  # noqa: S608


def change_mark(project: Project) -> dict[str, Any]:
    """A fingerprint of what the app shows; equal marks mean nothing it shows changed.
    Costs well under a millisecond at a million images (indexed reads only)."""
    db = project.db
    try:
        settings = project.manifest_path.stat().st_mtime_ns
    except OSError:
        settings = 0
    ingest = db.execute("SELECT max(id), max(finished_at) FROM ingest_runs").fetchone()
    return {
        "labels": project.last_label_event(),
        "images": (int(ingest[0] or 0), ingest[1]),
        "classes": [tuple(r) for r in db.execute(
            "SELECT id, name, key, color, description, position FROM classes ORDER BY id")],
        "rounds": _max_id(project, "rounds"),
        "batches": _max_id(project, "batches"),
        "artifacts": (_max_id(project, "artifacts"), [r[0] for r in db.execute(
            "SELECT id FROM artifacts WHERE is_current = 1 ORDER BY id")]),
        "settings": settings,
    }


@dataclass
class _Record:
    label_ranges: list[tuple[int, int]] = field(default_factory=list)  # (after, last] own event ids
    other_commits: int = 0
    watchers: int = 1


class OwnWrites:
    """What this process committed to each watched project (thread-safe; nothing is kept for
    projects nobody watches, so the CLI pays nothing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    @staticmethod
    def _key(root: Path | str) -> str:
        return str(root)

    def watch(self, root: Path | str) -> None:
        with self._lock:
            rec = self._records.get(self._key(root))
            if rec is None:
                self._records[self._key(root)] = _Record()
            else:
                rec.watchers += 1

    def unwatch(self, root: Path | str) -> None:
        with self._lock:
            rec = self._records.get(self._key(root))
            if rec is not None:
                rec.watchers -= 1
                if rec.watchers <= 0:
                    del self._records[self._key(root)]

    def watching(self, root: Path | str) -> bool:
        return self._key(root) in self._records  # a dict read: atomic under the GIL

    def committed(self, root: Path | str, labels_before: int | None, labels_after: int | None,
                  labels_only: bool) -> None:
        """Record one own commit: the label events it added, and whether it was labels only."""
        with self._lock:
            rec = self._records.get(self._key(root))
            if rec is None:
                return
            if labels_before is not None and labels_after is not None and labels_after > labels_before:
                rec.label_ranges.append((labels_before, labels_after))
            if not labels_only or labels_before is None:
                rec.other_commits += 1

    def take(self, root: Path | str, upto: int) -> tuple[list[tuple[int, int]], int]:
        """Own label-id ranges at or below ``upto`` and the count of other commits, both
        forgotten; ranges above ``upto`` (committed after the caller's read) stay."""
        with self._lock:
            rec = self._records.get(self._key(root))
            if rec is None:
                return [], 0
            done = [r for r in rec.label_ranges if r[1] <= upto]
            rec.label_ranges = [r for r in rec.label_ranges if r[1] > upto]
            other, rec.other_commits = rec.other_commits, 0
            return done, other


OWN = OwnWrites()


def _covered(ranges: list[tuple[int, int]], lo: int, hi: int) -> int:
    """How many ids in (lo, hi] the (disjoint) ranges cover."""
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in ranges)


class Watch:
    """Changes to one project made by other processes since the last :meth:`poll`.

    Create and poll it on one thread with its own open project; :meth:`close` when done."""

    def __init__(self, project: Project) -> None:
        self.root = project.root
        OWN.watch(self.root)
        self._closed = False
        self._mark = change_mark(project)
        OWN.take(self.root, self._mark["labels"])
        self._own_other_before = False
        self.own_labels = 0  # label events this process added, as of the last poll

    def poll(self, project: Project) -> dict[str, Any] | None:
        """``None`` when nothing changed elsewhere; else ``{"labels": n, part: bool, ...}``:
        ``labels`` counts label events others added (labels, undos, imports), each part of
        :data:`PARTS` says whether others changed it. ``own_labels`` then holds the label
        events this process added meanwhile."""
        mark = change_mark(project)  # read first: own commits after it stay for the next poll
        ranges, other = OWN.take(self.root, mark["labels"])
        before, self._mark = self._mark, mark
        new = mark["labels"] - before["labels"]
        self.own_labels = _covered(ranges, before["labels"], mark["labels"])
        labels = max(0, new - self.own_labels)
        # an own commit just after the read shows up in the next mark: trust it one poll more
        own_other = other > 0 or self._own_other_before
        self._own_other_before = other > 0
        parts = {k: (mark[k] != before[k] and not own_other) for k in PARTS}
        if not labels and not any(parts.values()):
            return None
        return {"labels": labels, **parts}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            OWN.unwatch(self.root)


def describe(change: dict[str, Any]) -> str:
    """One line for people: what the app just loaded from changes made elsewhere."""
    bits = []
    if change.get("labels"):
        n = int(change["labels"])
        bits.append(f"{n} label change{'s' if n != 1 else ''}")
    names = {"images": "new or changed images", "classes": "classes", "rounds": "a new training round",
             "batches": "a new batch", "artifacts": "new embeddings, map or clusters",
             "settings": "settings"}
    bits += [names[k] for k in PARTS if change.get(k)]
    return "Loaded changes made outside the app: " + ", ".join(bits) if bits else ""
