"""SQLite schema as an ordered list of migrations; ``PRAGMA user_version`` is the DB version.

Each migration takes a DB at version N-1 to N inside one transaction. Never edit a shipped
migration: append a new one (and a test in tests/engine/test_migrations.py).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '{}',
    fingerprint TEXT,
    added_at REAL NOT NULL,
    last_ingested_at REAL,
    UNIQUE (kind, path)
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    source_id INTEGER REFERENCES sources(id),
    kind TEXT NOT NULL DEFAULT 'file',
    content_hash TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    duplicate_of INTEGER REFERENCES images(id),
    origin TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    changed_at REAL,
    prev_hash TEXT
);
CREATE INDEX images_hash ON images(content_hash);
CREATE INDEX images_source ON images(source_id);
CREATE TABLE ingest_issues (
    id INTEGER PRIMARY KEY,
    source_id INTEGER REFERENCES sources(id),
    path TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    resolved_at REAL
);
CREATE TABLE ingest_runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    sources TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE classes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    key TEXT NOT NULL DEFAULT '',
    color TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL
);
"""

_V2 = """
CREATE TABLE label_events (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id),
    label TEXT,
    source TEXT NOT NULL,
    round INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    lead_time_ms REAL,
    undo_of INTEGER REFERENCES label_events(id)
);
CREATE INDEX label_events_image ON label_events(image_id, id);
CREATE VIEW current_labels AS
    SELECT e.image_id, e.label, e.source, e.round, e.created_at
    FROM label_events e
    JOIN (SELECT image_id, MAX(id) AS last_id FROM label_events GROUP BY image_id) m
      ON e.id = m.last_id
    WHERE e.label IS NOT NULL;
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    version TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    is_current INTEGER NOT NULL DEFAULT 0,
    UNIQUE (stage, version)
);
"""

_V3 = """
CREATE TABLE splits (
    image_id INTEGER PRIMARY KEY REFERENCES images(id),
    split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
    assigned_at REAL NOT NULL,
    seed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rounds (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    embedding_version TEXT,
    train_version TEXT,
    prediction_version TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    settings TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    signals TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    round INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    composition TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    rank INTEGER NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images(id),
    reason TEXT NOT NULL,
    score REAL,
    PRIMARY KEY (batch_id, rank)
);
CREATE INDEX batch_items_image ON batch_items(image_id);
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(con: sqlite3.Connection) -> None:
        for stmt in sql.split(";"):
            if stmt.strip():
                con.execute(stmt)
    return apply


# MIGRATIONS[i] takes the DB from version i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _script(_V1),  # 0 -> 1: sources, images, ingest issues and runs, classes
    _script(_V2),  # 1 -> 2: append-only label events, versioned artifacts
    _script(_V3),  # 2 -> 3: stable splits, round ledger, active-learning batches
]
LATEST = len(MIGRATIONS)
