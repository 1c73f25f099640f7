"""Write ingest results into the project database: images, duplicates, issues, labels."""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..config import RESERVED_LABELS, check_class_name
from ..errors import ConfigError
from ..project import Project
from .model import Candidate, Issue

log = logging.getLogger(__name__)


class IngestWriter:
    """Accumulates counts while committing each chunk of results in its own transaction."""

    def __init__(self, project: Project, run_id: int) -> None:
        self.project = project
        self.run_id = run_id
        self.counts: Counter[str] = Counter()
        self.issue_counts: Counter[str] = Counter()
        self.issue_examples: list[dict[str, str]] = []
        self._known_classes = {c.name.lower(): c.name for c in project.classes()}

    # ------------------------------------------------------------ lookups
    def existing(self, stored_paths: Sequence[str]) -> dict[str, sqlite3.Row]:
        """Rows of already-ingested images for these stored paths."""
        out: dict[str, sqlite3.Row] = {}
        con = self.project.db
        for i in range(0, len(stored_paths), 500):
            part = list(stored_paths[i:i + 500])
            marks = ",".join("?" * len(part))
            for row in con.execute(
                    f"SELECT id, path, file_size, mtime_ns, content_hash FROM images "
                    f"WHERE path IN ({marks})", part):
                out[row["path"]] = row
        return out

    # ------------------------------------------------------------ writes
    def write_chunk(self, source_id: int, items: Sequence[tuple[Candidate, str]],
                    results: Sequence[dict[str, Any]]) -> None:
        """Commit one chunk of probe results (``items`` pairs each candidate with its stored path)."""
        now = time.time()
        with self.project.transaction() as con:
            for (cand, stored), res in zip(items, results, strict=True):
                if not res.get("ok"):
                    self._issue(con, source_id, stored, res["reason"], res.get("detail", ""), now)
                    continue
                image_id = self._upsert_image(con, source_id, cand, stored, res, now)
                con.execute("UPDATE ingest_issues SET resolved_at=? WHERE path=? "
                            "AND resolved_at IS NULL", (now, stored))
                if cand.label is not None and image_id is not None:
                    self._import_label(con, image_id, cand.label, stored, source_id, now)

    def write_issues(self, source_id: int | None, issues: Sequence[Issue]) -> None:
        """Commit issues found while scanning or extracting (not by the probe)."""
        now = time.time()
        with self.project.transaction() as con:
            for iss in issues:
                self._issue(con, source_id, iss.path, iss.reason, iss.detail, now)

    def resolve_unseen(self, source_id: int, since: float) -> None:
        """Resolve this source's open issues that were not reported again since ``since``."""
        with self.project.transaction() as con:
            con.execute("UPDATE ingest_issues SET resolved_at=? WHERE source_id=? AND "
                        "resolved_at IS NULL AND last_seen<?", (time.time(), source_id, since))

    def import_labels(self, source_id: int, items: Sequence[tuple[str, str]]) -> None:
        """Import dataset labels for images already in the project (re-ingest)."""
        if not items:
            return
        now = time.time()
        with self.project.transaction() as con:
            for stored, label in items:
                row = con.execute("SELECT id FROM images WHERE path=?", (stored,)).fetchone()
                if row is not None:
                    self._import_label(con, int(row["id"]), label, stored, source_id, now)

    def _upsert_image(self, con: sqlite3.Connection, source_id: int, cand: Candidate,
                      stored: str, res: dict[str, Any], now: float) -> int | None:
        origin = json.dumps(cand.origin, sort_keys=True, default=str)
        row = con.execute("SELECT id, content_hash FROM images WHERE path=?", (stored,)).fetchone()
        if row is None:
            cur = con.execute(
                "INSERT INTO images(path, source_id, kind, content_hash, file_size, mtime_ns, "
                "width, height, format, origin, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (stored, source_id, cand.kind, res["content_hash"], res["file_size"],
                 res["mtime_ns"], res["width"], res["height"], res["format"], origin, now))
            image_id = int(cur.lastrowid)
            self.counts["added"] += 1
        else:
            image_id = int(row["id"])
            if row["content_hash"] == res["content_hash"]:
                con.execute("UPDATE images SET file_size=?, mtime_ns=? WHERE id=?",
                            (res["file_size"], res["mtime_ns"], image_id))
                self.counts["unchanged"] += 1
                return image_id
            con.execute(
                "UPDATE images SET prev_hash=content_hash, content_hash=?, file_size=?, "
                "mtime_ns=?, width=?, height=?, format=?, changed_at=?, duplicate_of=NULL "
                "WHERE id=?",
                (res["content_hash"], res["file_size"], res["mtime_ns"], res["width"],
                 res["height"], res["format"], now, image_id))
            # Its former copies now form their own group: the first of them is canonical.
            orphans = [r[0] for r in con.execute(
                "SELECT id FROM images WHERE duplicate_of=? ORDER BY id", (image_id,))]
            if orphans:
                con.execute("UPDATE images SET duplicate_of=NULL WHERE id=?", (orphans[0],))
                con.execute("UPDATE images SET duplicate_of=? WHERE duplicate_of=?",
                            (orphans[0], image_id))
            self.counts["changed"] += 1
            log.warning("content changed since last ingest (labels kept): %s", stored)
        first = con.execute("SELECT MIN(id) FROM images WHERE content_hash=? AND id<>?",
                            (res["content_hash"], image_id)).fetchone()[0]
        if first is not None:
            canonical = con.execute("SELECT COALESCE(duplicate_of, id) FROM images WHERE id=?",
                                    (first,)).fetchone()[0]
            con.execute("UPDATE images SET duplicate_of=? WHERE id=?", (canonical, image_id))
            self.counts["duplicates"] += 1
        return image_id

    def _issue(self, con: sqlite3.Connection, source_id: int | None, path: str, reason: str,
               detail: str, now: float) -> None:
        con.execute(
            "INSERT INTO ingest_issues(source_id, path, reason, detail, first_seen, last_seen) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET reason=excluded.reason, "
            "detail=excluded.detail, last_seen=excluded.last_seen, resolved_at=NULL",
            (source_id, path, reason, detail, now, now))
        self.issue_counts[reason] += 1
        if len(self.issue_examples) < 20:
            self.issue_examples.append({"path": path, "reason": reason, "detail": detail})

    def _import_label(self, con: sqlite3.Connection, image_id: int, label: str, stored: str,
                      source_id: int, now: float) -> None:
        """Record a dataset label unless a person labeled the image since (never overridden)."""
        name = label.strip()
        if name.lower() in RESERVED_LABELS:
            name = name.lower()
        else:
            try:
                name = check_class_name(name)
            except ConfigError as exc:
                self._issue(con, source_id, stored + "#label", "label_error", str(exc), now)
                return
            canonical = self._known_classes.get(name.lower())
            if canonical is None:
                self.project.ensure_classes_in(con, [name])
                self._known_classes[name.lower()] = name
                self.counts["classes_created"] += 1
                canonical = name
            name = canonical
        con.execute("UPDATE ingest_issues SET resolved_at=? WHERE path=? AND resolved_at IS NULL",
                    (now, stored + "#label"))  # the dataset's label for it is valid now
        last = con.execute("SELECT label, source FROM label_events WHERE image_id=? "
                           "ORDER BY id DESC LIMIT 1", (image_id,)).fetchone()
        if last is not None and (last["source"] != "import" or last["label"] == name):
            return
        con.execute("INSERT INTO label_events(image_id, label, source, round, reason, created_at) "
                    "VALUES (?,?,?,?,?,?)", (image_id, name, "import", 0, f"ingest run {self.run_id}", now))
        self.counts["labels_imported"] += 1
