"""Class edits that touch labels: rename, merge, delete.

Renaming or merging never loses a label: every image currently carrying the old name
gets a new label event (source ``rename``/``merge``, reason ``old -> new``) in the same
transaction that updates the ``classes`` table. Deleting refuses while images carry the
class, unless they are merged into another class or cleared explicitly (source ``delete``).
Keys, colours and descriptions are edited with ``Project.update_class``.
"""
from __future__ import annotations

import sqlite3

from ..config import RESERVED_LABELS, ClassDef
from ..errors import ClassKitError
from ..project import Project
from .events import current_round, insert_events


def _name(con: sqlite3.Connection, name: str) -> str:
    row = con.execute("SELECT name FROM classes WHERE name=?", (name,)).fetchone()  # NOCASE
    if row is None:
        raise ClassKitError(f"no class named {name!r}")
    return str(row[0])


def _carriers(con: sqlite3.Connection, name: str) -> list[int]:
    return [int(r[0]) for r in con.execute("SELECT image_id FROM current_labels WHERE label=?", (name,))]


def _relabel(con: sqlite3.Connection, ids: list[int], label: str | None, source: str,
             reason: str) -> int:
    rnd = current_round(con)
    insert_events(con, [(i, label, source, rnd, reason, None) for i in ids])
    return len(ids)


def rename_class(project: Project, old: str, new: str) -> int:
    """Rename a class; returns how many images were relabeled (``rename`` events)."""
    new = new.strip()
    ClassDef(name=new)  # validates the name
    if new.lower() in RESERVED_LABELS:
        raise ClassKitError(f"{new!r} is a reserved mark, not a class name")
    with project.transaction() as con:
        old = _name(con, old)
        clash = con.execute("SELECT name FROM classes WHERE name=?", (new,)).fetchone()
        if clash is not None and clash[0].lower() != old.lower():
            raise ClassKitError(f"a class named {clash[0]!r} exists: merge into it instead")
        ids = _carriers(con, old)
        con.execute("UPDATE classes SET name=? WHERE name=?", (new, old))
        if old == new:
            return 0
        return _relabel(con, ids, new, "rename", f"rename {old} -> {new}")


def merge_classes(project: Project, source: str, target: str) -> int:
    """Merge class ``source`` into ``target`` (``source`` is removed); returns relabeled count."""
    with project.transaction() as con:
        source, target = _name(con, source), _name(con, target)
        if source == target:
            raise ClassKitError("cannot merge a class into itself")
        n = _relabel(con, _carriers(con, source), target, "merge", f"merge {source} -> {target}")
        con.execute("DELETE FROM classes WHERE name=?", (source,))
        return n


def delete_class(project: Project, name: str, merge_into: str | None = None,
                 clear: bool = False) -> int:
    """Delete a class. Refuses while images carry it, unless ``merge_into`` names another
    class or ``clear`` is set (their labels are cleared by ``delete`` events)."""
    if merge_into:
        return merge_classes(project, name, merge_into)
    with project.transaction() as con:
        name = _name(con, name)
        ids = _carriers(con, name)
        if ids and not clear:
            raise ClassKitError(f"{len(ids)} image(s) are labeled {name!r}: merge them into "
                                f"another class or clear them first")
        n = _relabel(con, ids, None, "delete", f"delete {name}")
        con.execute("DELETE FROM classes WHERE name=?", (name,))
        return n
