"""One test per schema migration: data written at version N-1 survives the step to N.

When you append a migration to engine/project/schema.py, add a test here that builds the DB
at the previous version with ``migrate(con, target=N-1)``, fills it, migrates, and checks.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from classkit.engine.errors import ProjectError
from classkit.engine.project import Project
from classkit.engine.project import db as dbmod
from classkit.engine.project.schema import LATEST, MIGRATIONS


def _db_at(tmp_path: Path, version: int) -> sqlite3.Connection:
    con = dbmod.connect(tmp_path / "classkit.db")
    assert dbmod.migrate(con, target=version) == list(range(1, version + 1))
    assert dbmod.schema_version(con) == version
    return con


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}


def test_every_migration_has_a_test() -> None:
    tested = {n for n in globals() if n.startswith("test_migration_")}
    assert tested == {f"test_migration_{n}" for n in range(1, LATEST + 1)}, \
        "add a test_migration_<N> for each migration in schema.py"


def test_migration_1(tmp_path: Path) -> None:
    con = _db_at(tmp_path, 0)
    assert _tables(con) == set()
    assert dbmod.migrate(con, target=1) == [1]
    assert {"meta", "sources", "images", "ingest_issues", "ingest_runs", "classes"} <= _tables(con)
    con.execute("INSERT INTO sources(kind, path, added_at) VALUES ('folder', '/data', 1)")
    con.execute("INSERT INTO images(path, source_id, content_hash, file_size, mtime_ns, width, "
                "height, format, added_at) VALUES ('a.png', 1, 'h', 10, 1, 4, 3, 'PNG', 1)")
    con.execute("INSERT INTO images(path, source_id, content_hash, file_size, mtime_ns, width, "
                "height, format, added_at, duplicate_of) VALUES ('b.png', 1, 'h', 10, 1, 4, 3, "
                "'PNG', 1, 1)")
    with pytest.raises(sqlite3.IntegrityError):  # paths are unique
        con.execute("INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, "
                    "format, added_at) VALUES ('a.png', 'x', 1, 1, 1, 1, 'PNG', 1)")
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
        con.execute("INSERT INTO images(path, source_id, content_hash, file_size, mtime_ns, "
                    "width, height, format, added_at) VALUES ('c.png', 99, 'x', 1, 1, 1, 1, 'PNG', 1)")
    con.execute("INSERT INTO classes(name, color, position) VALUES ('Cat', '#000000', 0)")
    with pytest.raises(sqlite3.IntegrityError):  # class names are unique, case-insensitively
        con.execute("INSERT INTO classes(name, color, position) VALUES ('cat', '#000000', 1)")
    con.close()


def test_migration_2(tmp_path: Path) -> None:
    con = _db_at(tmp_path, 1)
    assert "label_events" not in _tables(con)
    con.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')")
    con.execute("INSERT INTO sources(kind, path, options, added_at) VALUES ('folder', '/d', '{}', 1)")
    for i in range(3):
        con.execute("INSERT INTO images(path, source_id, content_hash, file_size, mtime_ns, "
                    "width, height, format, origin, added_at) VALUES (?,1,?,10,5,64,48,'JPEG',"
                    "'{\"relpath\": \"x\"}',2)", (f"img{i}.jpg", f"h{i}"))
    con.execute("INSERT INTO ingest_issues(source_id, path, reason, first_seen, last_seen) "
                "VALUES (1, 'bad.jpg', 'truncated', 1, 1)")
    con.execute("INSERT INTO ingest_runs(started_at, status, sources) VALUES (1, 'done', '[]')")
    con.execute("INSERT INTO classes(name, key, color, position) VALUES ('cat', '1', '#4e79a7', 0)")

    assert dbmod.migrate(con, target=2) == [2]
    assert dbmod.schema_version(con) == 2
    # old data survived
    assert con.execute("SELECT value FROM meta WHERE key='k'").fetchone()[0] == "v"
    assert con.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 3
    assert con.execute("SELECT reason FROM ingest_issues").fetchone()[0] == "truncated"
    assert con.execute("SELECT name, key FROM classes").fetchone()[:] == ("cat", "1")
    # the new schema works: events, derived current labels, undo, artifacts
    ins = ("INSERT INTO label_events(image_id, label, source, created_at, undo_of) "
           "VALUES (?,?,?,?,?)")
    con.execute(ins, (1, "cat", "import", 1, None))
    con.execute(ins, (1, "dog", "manual", 2, None))
    con.execute(ins, (2, "cat", "manual", 3, None))
    undo = con.execute(ins, (2, None, "manual", 4, 3)).lastrowid
    assert undo
    current = {r[0]: (r[1], r[2]) for r in con.execute(
        "SELECT image_id, label, source FROM current_labels")}
    assert current == {1: ("dog", "manual")}  # image 2 was undone, image 3 never labelled
    with pytest.raises(sqlite3.IntegrityError):
        con.execute(ins, (999, "cat", "manual", 5, None))
    con.execute("INSERT INTO artifacts(stage, version, path, created_at, is_current) "
                "VALUES ('embed', 'v1', 'runs/classkit/embed/v1', 1, 1)")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO artifacts(stage, version, path, created_at) "
                    "VALUES ('embed', 'v1', 'x', 2)")
    con.close()


def test_migration_3(tmp_path: Path) -> None:
    con = _db_at(tmp_path, 2)
    con.execute("INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
                "added_at) VALUES ('a.png', 'h', 1, 1, 1, 1, 'PNG', 1)")
    con.execute("INSERT INTO label_events(image_id, label, source, created_at) "
                "VALUES (1, 'cat', 'manual', 1)")
    assert dbmod.migrate(con, target=3) == [3]
    assert {"splits", "rounds", "batches", "batch_items"} <= _tables(con)
    assert con.execute("SELECT label FROM current_labels").fetchone()[0] == "cat"
    con.execute("INSERT INTO splits(image_id, split, assigned_at) VALUES (1, 'val', 1)")
    with pytest.raises(sqlite3.IntegrityError):  # one split per image
        con.execute("INSERT INTO splits(image_id, split, assigned_at) VALUES (1, 'train', 2)")
    with pytest.raises(sqlite3.IntegrityError):  # only the three split names
        con.execute("INSERT INTO splits(image_id, split, assigned_at) VALUES (1, 'holdout', 2)")
    rid = con.execute("INSERT INTO rounds(created_at, metrics) VALUES (1, '{}')").lastrowid
    bid = con.execute("INSERT INTO batches(round, created_at) VALUES (?, 2)", (rid,)).lastrowid
    con.execute("INSERT INTO batch_items(batch_id, rank, image_id, reason, score) VALUES (?, 0, 1, "
                "'uncertainty', 0.9)", (bid,))
    with pytest.raises(sqlite3.IntegrityError):  # items name real images
        con.execute("INSERT INTO batch_items(batch_id, rank, image_id, reason) VALUES (?, 1, 99, 'audit')",
                    (bid,))
    con.close()


def test_migrate_is_idempotent_and_stepwise(tmp_path: Path) -> None:
    con = _db_at(tmp_path, LATEST)
    assert dbmod.migrate(con) == []
    assert dbmod.schema_version(con) == LATEST
    con.close()


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch) -> None:
    con = _db_at(tmp_path, LATEST)

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("boom")

    monkeypatch.setattr(dbmod, "MIGRATIONS", [*MIGRATIONS, broken])
    monkeypatch.setattr(dbmod, "LATEST", LATEST + 1)
    with pytest.raises(sqlite3.OperationalError):
        dbmod.migrate(con, target=LATEST + 1)
    assert dbmod.schema_version(con) == LATEST
    assert "half_done" not in _tables(con)
    con.close()


def test_newer_database_is_a_clear_error(tmp_path: Path) -> None:
    con = _db_at(tmp_path, LATEST)
    con.execute(f"PRAGMA user_version={LATEST + 3}")
    with pytest.raises(ProjectError, match=rf"version {LATEST + 3}.*upgrade ClassKit"):
        dbmod.migrate(con)
    con.close()


def test_open_project_with_newer_database(tmp_path: Path) -> None:
    root = tmp_path / "p"
    Project.create(root).close()
    con = sqlite3.connect(root / "state" / "classkit.db")
    con.execute(f"PRAGMA user_version={LATEST + 1}")
    con.close()
    with pytest.raises(ProjectError, match="newer than this ClassKit"):
        Project.open(root)
    # the failed open released the DB: it can be opened (and fixed) again
    con = sqlite3.connect(root / "state" / "classkit.db")
    con.execute(f"PRAGMA user_version={LATEST}")
    con.close()
    Project.open(root).close()
