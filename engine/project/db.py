"""Open the project database: WAL mode, foreign keys, and schema migration."""
from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

from ..errors import ProjectError
from .schema import LATEST, MIGRATIONS

log = logging.getLogger(__name__)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite DB with the pragmas ClassKit relies on."""
    con = None
    try:
        con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        # FULL: every commit is on disk when it returns (a confirmed label survives a power
        # cut, not only a crash); costs one fsync per transaction.
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
    except sqlite3.DatabaseError as exc:
        if con is not None:
            con.close()
        hint = _full_disk_hint(path)
        raise ProjectError(f"cannot open project database {path}: {exc}{hint}") from exc
    con.row_factory = sqlite3.Row
    return con


def _full_disk_hint(path: Path) -> str:
    """'; the disk ... is full ...' when the database's folder has (almost) no free space:
    SQLite then reports only 'disk I/O error' (it cannot create its WAL index)."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    if free >= 1 << 20:
        return ""
    return (f"; the disk holding the project is full ({free // 1024} KiB free): free some space "
            f"and try again (the project itself is intact)")


def schema_version(con: sqlite3.Connection) -> int:
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def migrate(con: sqlite3.Connection, target: int = LATEST) -> list[int]:
    """Bring the DB up to ``target``, one transaction per step; returns the versions applied."""
    current = schema_version(con)
    if current > LATEST:
        raise ProjectError(
            f"project database is schema version {current}, newer than this ClassKit "
            f"supports ({LATEST}); upgrade ClassKit to open it")
    applied = []
    for version in range(current, target):
        con.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](con)
            con.execute(f"PRAGMA user_version={version + 1}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        log.info("migrated project database to schema version %d", version + 1)
        applied.append(version + 1)
    return applied
