"""Append-only label events; an image's current label is derived from its latest event.

Nothing is ever updated or deleted: labeling, clearing and undoing each add an event, so
the full history survives and ``current_labels`` (a DB view: the latest event per image,
when its label is not NULL) is always right. Labels are class names in their canonical
case, or one of the reserved marks ``unsure``/``junk``/``skip`` (never class names).
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import RESERVED_LABELS
from ..errors import ClassKitError
from ..project import Project

SOURCES = ("manual", "bulk", "accepted-suggestion", "import", "undo", "rename", "merge", "delete")
# Written by class operations (engine/labels/class_ops.py), never undone image by image.
CLASS_OP_SOURCES = ("rename", "merge", "delete")
UNLABELED = -1
"""Code in :func:`label_arrays` for an image without a class label."""
MARKED = -2
"""Code in :func:`label_arrays` for an image marked unsure, junk or skip."""
SQL_CHUNK = 900  # below SQLite's default limit of host parameters


def current_round(con: sqlite3.Connection) -> int:
    """The current round: the newest row of ``rounds`` (0 before the first round)."""
    return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM rounds").fetchone()[0])


def class_lookup(project: Project) -> dict[str, str]:
    """Lower-cased class name -> canonical name."""
    return {c.name.lower(): c.name for c in project.classes()}


def canonical_label(label: str, classes: dict[str, str]) -> str | None:
    """A label's stored form (canonical class name or lower-case mark), None if unknown."""
    key = label.strip().lower()
    if key in RESERVED_LABELS:
        return key
    return classes.get(key)


def _check_images(con: sqlite3.Connection, ids: Sequence[int]) -> None:
    missing: list[int] = []
    for i in range(0, len(ids), SQL_CHUNK):
        part = list(ids[i:i + SQL_CHUNK])
        found = {r[0] for r in con.execute(
            f"SELECT id FROM images WHERE id IN ({','.join('?' * len(part))})", part)}
        missing += [x for x in part if x not in found]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ClassKitError(f"{len(missing)} unknown image id(s): {shown}")


def insert_events(con: sqlite3.Connection, rows: Sequence[tuple[int, str | None, str, int, str,
                                                                float | None]]) -> list[int]:
    """Insert ``(image_id, label, source, round, reason, lead_time_ms)`` rows inside the
    caller's transaction; returns the new event ids (labels must already be canonical)."""
    now = time.time()
    out = []
    for image_id, label, source, rnd, reason, lead in rows:
        cur = con.execute(
            "INSERT INTO label_events(image_id, label, source, round, reason, created_at, "
            "lead_time_ms) VALUES (?,?,?,?,?,?,?)", (image_id, label, source, rnd, reason, now, lead))
        out.append(int(cur.lastrowid))
    return out


def add_labels(project: Project, image_ids: Sequence[int], label: str | None, source: str = "manual",
               round: int | None = None, reason: str = "",
               lead_time_ms: float | None = None) -> list[int]:
    """Label images (``label=None`` clears them) in one committed transaction; returns event ids.

    ``label`` is matched case-insensitively against the project's classes and the reserved
    marks; ``round=None`` records the current round.
    """
    if source not in SOURCES or source == "undo" or source in CLASS_OP_SOURCES:
        raise ClassKitError(f"unknown label source {source!r} (one of: "
                            f"{', '.join(s for s in SOURCES if s != 'undo' and s not in CLASS_OP_SOURCES)}; "
                            "undo via undo())")
    name: str | None = None
    if label is not None:
        classes = class_lookup(project)
        name = canonical_label(label, classes)
        if name is None:
            known = ", ".join(classes.values()) or "none yet"
            raise ClassKitError(f"unknown class {label!r} (classes: {known}; marks: "
                                f"{', '.join(RESERVED_LABELS)})")
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    if not ids:
        return []
    with project.transaction(labels_only=True) as con:
        _check_images(con, ids)
        rnd = current_round(con) if round is None else int(round)
        return insert_events(con, [(i, name, source, rnd, reason, lead_time_ms) for i in ids])


def _effective(con: sqlite3.Connection, image_id: int) -> list[sqlite3.Row]:
    """The image's events that still count: not undo events, and not undone."""
    rows = con.execute("SELECT id, label, source, undo_of FROM label_events WHERE image_id=? "
                       "ORDER BY id", (image_id,)).fetchall()
    undone = {r["undo_of"] for r in rows if r["undo_of"] is not None}
    return [r for r in rows if r["source"] != "undo" and r["id"] not in undone]


def _latest_undoable(con: sqlite3.Connection) -> int | None:
    undone = {r[0] for r in con.execute(
        "SELECT undo_of FROM label_events WHERE undo_of IS NOT NULL")}
    for (event_id,) in con.execute("SELECT id FROM label_events WHERE source NOT IN "
                                   "('undo', 'import', 'rename', 'merge', 'delete') ORDER BY id DESC"):
        if event_id not in undone:
            return int(event_id)
    return None


def undo_events(project: Project, event_ids: Sequence[int]) -> list[int]:
    """Undo several events at once (e.g. one bulk action), all or nothing; returns new event ids.

    Each undo is a new ``undo`` event restoring the label the image had before the undone
    event. Only an image's latest standing event can be undone: undoing an older one would
    silently drop the work done after it.
    """
    with project.transaction(labels_only=True) as con:
        return _undo_in(con, event_ids)


def undo(project: Project, event_id: int | None = None) -> int | None:
    """Undo one event (default: the latest person-made event not undone yet, so calling it
    again walks back); returns the new undo event's id, or None when there is nothing to undo.

    Dataset imports (source ``import``) are skipped by the default: undo them by id.
    """
    with project.transaction(labels_only=True) as con:
        if event_id is None:
            event_id = _latest_undoable(con)
            if event_id is None:
                return None
        return _undo_in(con, [event_id])[0]


def _undo_in(con: sqlite3.Connection, event_ids: Sequence[int]) -> list[int]:
    rnd, now, out = current_round(con), time.time(), []
    for event_id in sorted({int(e) for e in event_ids}, reverse=True):  # newest first
        ev = con.execute("SELECT id, image_id, source FROM label_events WHERE id=?",
                         (event_id,)).fetchone()
        if ev is None:
            raise ClassKitError(f"no label event {event_id}")
        if ev["source"] == "undo":
            raise ClassKitError(f"event {event_id} is itself an undo; label the image again instead")
        if ev["source"] in CLASS_OP_SOURCES:
            raise ClassKitError(f"event {event_id} is part of a class {ev['source']}; change the "
                                "class again instead of undoing one image of it")
        stack = _effective(con, ev["image_id"])
        ids = [r["id"] for r in stack]
        if event_id not in ids:
            raise ClassKitError(f"event {event_id} was already undone")
        if ids[-1] != event_id:
            raise ClassKitError(
                f"event {event_id} is not the latest label of image {ev['image_id']} "
                f"(event {ids[-1]} came after it); undo that one first")
        before = stack[-2]["label"] if len(stack) > 1 else None
        cur = con.execute(
            "INSERT INTO label_events(image_id, label, source, round, reason, created_at, "
            "undo_of) VALUES (?,?,?,?,?,?,?)",
            (ev["image_id"], before, "undo", rnd, f"undo of event {event_id}", now, event_id))
        out.append(int(cur.lastrowid))
    return out


def current_labels(project: Project) -> dict[int, str]:
    """Image id -> current label (class name or reserved mark) of every labeled image."""
    return {int(r[0]): r[1] for r in project.db.execute("SELECT image_id, label FROM current_labels")}


def align(ids: np.ndarray, keys: np.ndarray, values: np.ndarray, fill: int | float | bool) -> np.ndarray:
    """``values`` (given per ``keys``, unique ids) aligned with ``ids``; ``fill`` where absent."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.full(ids.shape, fill, dtype=values.dtype)
    if keys.size == 0 or ids.size == 0:
        return out
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    pos = np.minimum(np.searchsorted(keys, ids), keys.size - 1)
    hit = keys[pos] == ids
    out[hit] = values[pos[hit]]
    return out


def fetch_ints(con: sqlite3.Connection, sql: str, columns: int,
               params: Sequence[Any] = ()) -> np.ndarray:
    """Rows of a query returning ``columns`` integer columns, as an int64 (n, columns) array.

    The rows come back as one ``group_concat`` string parsed by numpy: several times faster
    than building a Python tuple per row at a million rows.
    """
    names = [f"c{i}" for i in range(columns)]
    joined = " || ',' || ".join(names)
    text = con.execute(f"WITH q({', '.join(names)}) AS ({sql}) "
                       f"SELECT group_concat({joined}, ',') FROM q", params).fetchone()[0]
    flat = np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)
    if flat.size % columns:
        raise RuntimeError(f"could not parse the result of {sql[:80]!r}")
    return flat.reshape(-1, columns)


def fetch_pairs(con: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> tuple[np.ndarray,
                                                                                      np.ndarray]:
    """Run a query returning (int, int) rows; the two columns as int64 arrays."""
    out = fetch_ints(con, sql, 2, params)
    return out[:, 0].copy(), out[:, 1].copy()


def latest_labels(project: Project, image_ids: Sequence[int]) -> dict[int, tuple[str, float]]:
    """(current label or mark, when it was given) of each of ``image_ids`` that has one: per
    image its latest event through the (image, id) index, so a queue's few hundred images cost
    milliseconds at any project size (``current_labels`` reads every event)."""
    out: dict[int, tuple[str, float]] = {}
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    for at in range(0, len(ids), SQL_CHUNK):  # SQLite's bound-parameter limit
        chunk = ids[at:at + SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        out.update((int(i), (lab, float(t))) for i, lab, t in project.db.execute(
            "SELECT image_id, label, created_at FROM label_events WHERE id IN (SELECT max(id) "
            f"FROM label_events WHERE image_id IN ({marks}) GROUP BY image_id) AND label IS NOT NULL",
            chunk))
    return out


def labels_of(project: Project, image_ids: Sequence[int]) -> dict[int, str]:
    """The current label (class or mark) of each of ``image_ids`` that has one."""
    return {i: lab for i, (lab, _) in latest_labels(project, image_ids).items()}


def label_arrays(project: Project, ids: np.ndarray, classes: list[str]) -> np.ndarray:
    """int64 codes aligned with ``ids``: index into ``classes`` (case-insensitive), -1 when
    unlabeled (or labeled with a class not in ``classes``), -2 for unsure/junk/skip marks."""
    stored = class_lookup(project)  # labels are stored in canonical case: compare exactly
    cases = " ".join(["WHEN ? THEN ?"] * (len(classes) + len(RESERVED_LABELS)))
    params: list[Any] = []
    for i, c in enumerate(classes):
        params += [stored.get(c.lower(), c), i]
    for m in RESERVED_LABELS:
        params += [m, MARKED]
    code = f"CASE label {cases} ELSE {UNLABELED} END"
    # One scan of all events, then the latest per image in numpy (what the current_labels
    # view does, without its join); a cleared label (NULL) falls to ELSE: unlabeled.
    rows = fetch_ints(project.db, f"SELECT image_id, id, {code} FROM label_events", 3, params)
    if rows.shape[0] == 0:
        return align(ids, rows[:, 0], rows[:, 2], UNLABELED)
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    last = np.ones(rows.shape[0], dtype=bool)
    last[:-1] = rows[1:, 0] != rows[:-1, 0]
    return align(ids, rows[last, 0], rows[last, 2], UNLABELED)


def label_history(project: Project, image_id: int) -> list[dict[str, Any]]:
    """Every label event of an image, oldest first, each marked ``undone`` when undone later."""
    con = project.db
    if con.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone() is None:
        raise ClassKitError(f"unknown image id {image_id}")
    rows = [dict(r) for r in con.execute(
        "SELECT id, label, source, round, reason, created_at, lead_time_ms, undo_of "
        "FROM label_events WHERE image_id=? ORDER BY id", (image_id,))]
    undone = {r["undo_of"] for r in rows if r["undo_of"] is not None}
    for r in rows:
        r["undone"] = r["id"] in undone
    return rows


def label_counts(project: Project) -> dict[str, int]:
    """Images per current label (classes and marks; unlabeled images are not counted)."""
    return {str(k): int(n) for k, n in project.db.execute(
        "SELECT label, COUNT(*) FROM current_labels GROUP BY label")}


def label_snapshot(project: Project) -> dict[str, Any]:
    """Current label counts: ``classes`` (every class, zeros included), ``marks`` (unsure,
    junk, skip), ``labeled`` (with a class), ``marked`` and ``total`` (either)."""
    counts = label_counts(project)
    classes = {c.name: 0 for c in project.classes()}
    marks = dict.fromkeys(RESERVED_LABELS, 0)
    for label, n in counts.items():
        target = marks if label in RESERVED_LABELS else classes
        target[label] = target.get(label, 0) + int(n)
    labeled, marked = sum(classes.values()), sum(marks.values())
    return {"classes": classes, "marks": marks, "labeled": labeled, "marked": marked,
            "total": labeled + marked}


def label_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Change between two :func:`label_snapshot` results (after minus before), per class,
    per mark and in the totals; classes or marks missing on one side count as zero."""
    out: dict[str, Any] = {}
    for part in ("classes", "marks"):
        b, a = before.get(part, {}), after.get(part, {})
        out[part] = {k: int(a.get(k, 0)) - int(b.get(k, 0)) for k in dict.fromkeys([*b, *a])}
    for key in ("labeled", "marked", "total"):
        out[key] = int(after.get(key, 0)) - int(before.get(key, 0))
    return out
