"""A ClassKit project folder: create, open (validate, migrate, repair a move), paths, classes.

Layout::

    PROJECT/classkit_project.json     manifest (schema_version, name, settings)
    PROJECT/state/classkit.db         SQLite in WAL mode: images, sources, labels, ...
    PROJECT/runs/classkit/<stage>/<version>/   versioned artifacts, never overwritten
    PROJECT/media/                    files ClassKit made (video frames, crops)
    PROJECT/cache/                    disposable caches (thumbnails)
    PROJECT/logs/classkit.log         log file
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, UTC
from pathlib import Path

from .. import __version__
from ..config import ClassDef, IngestConfig, Manifest, ProjectSettings, default_class_defs
from ..errors import ConfigError, ProjectError
from ..fsutil import write_json_atomic
from . import db as dbmod
from .changes import OWN
from .paths import PathMapper

log = logging.getLogger(__name__)

MANIFEST_NAME = "classkit_project.json"
MANIFEST_SCHEMA = 1
DB_RELPATH = Path("state") / "classkit.db"


def find_project_root(path: Path) -> Path:
    """The folder holding ``classkit_project.json``: ``path`` itself or one of its parents."""
    path = Path(os.path.abspath(path))  # normalised: "proj/sub/.." must give "proj"
    for candidate in (path, *path.parents):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    raise ProjectError(f"{path} is not a ClassKit project (no {MANIFEST_NAME}); "
                       f"create one with `classkit init {path}`")


class Project:
    """An open project. Use :meth:`create` or :meth:`open`; close with :meth:`close`."""

    def __init__(self, root: Path, manifest: Manifest, con: sqlite3.Connection) -> None:
        self.root = root
        self.manifest = manifest
        self.db = con
        self.paths = PathMapper(root)
        self._write_lock = threading.RLock()
        self._log_handler: logging.Handler | None = None

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, root: Path, name: str | None = None,
               classes: list[str] | None = None) -> Project:
        """Create a new project folder (it may exist but must not hold a project)."""
        root = Path(os.path.abspath(root))
        if (root / MANIFEST_NAME).exists():
            raise ProjectError(f"{root} already holds a ClassKit project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} exists and is not a folder")
        name = (name or root.name).strip() or "classkit-project"
        defs = default_class_defs(list(classes or []))  # validate before touching disk
        manifest = Manifest(
            name=name, schema_version=MANIFEST_SCHEMA,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            classkit_version=__version__, project_id=uuid.uuid4().hex, last_root=str(root),
            settings=ProjectSettings().to_dict(), ingest=IngestConfig().to_dict())
        try:
            for sub in ("state", "runs/classkit", "media", "cache", "logs"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"cannot create project folder {root}: {exc}") from exc
        con = dbmod.connect(root / DB_RELPATH)
        dbmod.migrate(con)
        project = cls(root, manifest, con)
        project.add_classes(defs)
        write_json_atomic(root / MANIFEST_NAME, manifest.to_dict())  # last: marks it complete
        project._attach_log_file()
        log.info("created project %s at %s", name, root)
        return project

    @classmethod
    def open(cls, path: Path) -> Project:
        """Open the project at ``path`` (or a parent): validate, migrate, repair a move."""
        root = find_project_root(Path(path))
        manifest = cls._read_manifest(root)
        db_path = root / DB_RELPATH
        if not db_path.is_file():
            raise ProjectError(f"project database is missing: {db_path}")
        con = dbmod.connect(db_path)
        try:
            dbmod.migrate(con)
        except BaseException:
            con.close()
            raise
        project = cls(root, manifest, con)
        project._attach_log_file()
        if manifest.last_root != str(root) and not _same_place(manifest.last_root, root):
            project._repair_move(Path(manifest.last_root) if manifest.last_root else None)
        return project

    @staticmethod
    def _read_manifest(root: Path) -> Manifest:
        path = root / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"cannot read project manifest {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ProjectError(f"project manifest {path} is not a JSON object")
        version = data.get("schema_version")
        if isinstance(version, int) and version > MANIFEST_SCHEMA:
            raise ProjectError(f"project manifest {path} is schema version {version}; this "
                               f"ClassKit reads up to {MANIFEST_SCHEMA}: upgrade ClassKit")
        try:
            return Manifest.from_dict(data, "manifest")
        except ConfigError as exc:
            raise ProjectError(f"invalid project manifest {path}: {exc}") from exc

    def _repair_move(self, old_root: Path | None) -> None:
        """The project folder moved: rebase stored absolute paths that no longer exist."""
        log.warning("project moved from %s to %s; repairing paths", old_root, self.root)
        fixed = 0
        if old_root is not None:
            with self.transaction() as con:
                for table in ("images", "sources", "ingest_issues"):
                    rows = con.execute(f"SELECT id, path FROM {table}").fetchall()
                    for row in rows:
                        new = self.paths.rebase(row["path"], old_root)
                        base, sep, frag = row["path"].partition("#")  # e.g. "x.csv#label"
                        if new is None and sep:
                            new = self.paths.rebase(base, old_root)
                            new = None if new is None else new + sep + frag
                        if new is not None:
                            con.execute(f"UPDATE {table} SET path=? WHERE id=?", (new, row["id"]))
                            fixed += 1
        self.manifest.last_root = str(self.root)
        try:
            self.save_manifest()
        except OSError as exc:  # read-only copy of a project: it still opens
            log.warning("cannot record the new project location: %s", exc)
        log.info("repaired %d stored paths after the move", fixed)

    def close(self) -> None:
        """Checkpoint and close the database, detach the log file."""
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        if self._log_handler is not None:
            logging.getLogger("classkit").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attach_log_file(self) -> None:
        from logging.handlers import RotatingFileHandler

        try:
            (self.root / "logs").mkdir(exist_ok=True)
            handler = RotatingFileHandler(self.root / "logs" / "classkit.log",
                                          maxBytes=5_000_000, backupCount=3, encoding="utf-8")
        except OSError as exc:  # read-only project still opens
            log.warning("cannot write the project log file: %s", exc)
            return
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root_logger = logging.getLogger("classkit")
        root_logger.addHandler(handler)
        if root_logger.level == logging.NOTSET or root_logger.level > logging.INFO:
            root_logger.setLevel(logging.INFO)
        self._log_handler = handler

    # ----------------------------------------------------------------- storage
    @contextlib.contextmanager
    def transaction(self, labels_only: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), serialised across threads.

        ``labels_only``: it adds label events and nothing else. While this process watches
        the project for changes made elsewhere (the app does), the commit is recorded as its
        own (``changes.OWN``): the label event ids it added, and whether it changed more."""
        with self._write_lock:
            self.db.execute("BEGIN IMMEDIATE")
            watched = OWN.watching(self.root)
            before = after = None
            try:
                if watched:
                    before = self.last_label_event()
                yield self.db
                if watched:
                    after = self.last_label_event()
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            if watched:
                OWN.committed(self.root, before, after, labels_only)

    def last_label_event(self) -> int:
        """Id of the newest label event (0: none): labels read after it are current until it
        changes (event ids only grow; one indexed read)."""
        return int(self.db.execute("SELECT max(id) FROM label_events").fetchone()[0] or 0)

    @property
    def manifest_path(self) -> Path:
        """The project's manifest file (name, settings, ingest config)."""
        return self.root / MANIFEST_NAME

    def save_manifest(self) -> None:
        write_json_atomic(self.manifest_path, self.manifest.to_dict())
        if OWN.watching(self.root):
            OWN.committed(self.root, None, None, False)

    @property
    def settings(self) -> ProjectSettings:
        return ProjectSettings.from_dict(self.manifest.settings, "settings")

    def update_settings(self, **changes: object) -> ProjectSettings:
        """Validate and persist changed settings."""
        new = ProjectSettings.from_dict({**self.manifest.settings, **changes}, "settings")
        self.manifest.settings = new.to_dict()
        self.save_manifest()
        return new

    @property
    def ingest_config(self) -> IngestConfig:
        return IngestConfig.from_dict(self.manifest.ingest, "ingest")

    def version_dir(self, stage: str, version: str = "") -> Path:
        """``runs/classkit/<stage>/<version>/`` (the stage's folder without ``version``),
        where every versioned artifact lives; nothing is created."""
        return self.root / "runs" / "classkit" / stage / version

    def new_version_dir(self, stage: str) -> tuple[str, Path]:
        """A fresh, empty ``runs/classkit/<stage>/<YYYYmmdd-HHMMSS>-<id>/`` folder."""
        if not stage.isidentifier():
            raise ValueError(f"bad stage name {stage!r}")
        base = self.version_dir(stage)
        base.mkdir(parents=True, exist_ok=True)
        while True:
            version = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
            path = base / version
            try:
                path.mkdir()
                return version, path
            except FileExistsError:
                continue

    def register_artifact(self, stage: str, version: str, params: dict | None = None,
                          make_current: bool = True) -> None:
        """Record a finished artifact version; optionally make it the stage's current one."""
        path = self.paths.to_stored(self.version_dir(stage, version))
        with self.transaction() as con:
            if make_current:
                con.execute("UPDATE artifacts SET is_current=0 WHERE stage=?", (stage,))
            con.execute(
                "INSERT INTO artifacts(stage, version, path, created_at, params, is_current) "
                "VALUES (?,?,?,?,?,?)",
                (stage, version, path, time.time(), json.dumps(params or {}, sort_keys=True),
                 int(make_current)))

    def current_artifact(self, stage: str) -> Path | None:
        row = self.db.execute("SELECT path FROM artifacts WHERE stage=? AND is_current=1",
                              (stage,)).fetchone()
        return self.paths.resolve(row["path"]) if row else None

    # ----------------------------------------------------------------- classes
    def classes(self) -> list[ClassDef]:
        rows = self.db.execute(
            "SELECT name, key, color, description FROM classes ORDER BY position").fetchall()
        return [ClassDef(name=r["name"], key=r["key"], color=r["color"],
                         description=r["description"]) for r in rows]

    def add_classes(self, defs: list[ClassDef]) -> list[ClassDef]:
        """Add classes (skipping names that exist, case-insensitively); returns the added ones."""
        with self.transaction() as con:
            return self.add_classes_in(con, defs)

    def ensure_classes(self, names: list[str]) -> list[ClassDef]:
        """Create any missing classes with default keys and colours; returns the new ones."""
        with self.transaction() as con:
            return self.ensure_classes_in(con, names)

    def update_class(self, name: str, *, key: str | None = None, color: str | None = None,
                     description: str | None = None) -> ClassDef:
        """Change a class's key, colour or description (validated; keys stay unique)."""
        with self.transaction() as con:
            row = con.execute("SELECT name, key, color, description FROM classes WHERE name=?",
                              (name,)).fetchone()
            if row is None:
                raise ConfigError("name", f"no class named {name!r}")
            new = ClassDef(name=row["name"], key=row["key"] if key is None else key,
                           color=row["color"] if color is None else color,
                           description=row["description"] if description is None else description)
            if new.key and con.execute("SELECT 1 FROM classes WHERE key=? AND name<>?",
                                       (new.key, row["name"])).fetchone():
                raise ConfigError("key", f"key {new.key!r} is already used by another class")
            con.execute("UPDATE classes SET key=?, color=?, description=? WHERE name=?",
                        (new.key, new.color, new.description, row["name"]))
            return new

    @staticmethod
    def add_classes_in(con: sqlite3.Connection, defs: list[ClassDef]) -> list[ClassDef]:
        """:meth:`add_classes` inside the caller's open transaction."""
        rows = con.execute("SELECT name, key FROM classes").fetchall()
        have = {r["name"].lower() for r in rows}
        keys = {r["key"] for r in rows if r["key"]}
        pos = con.execute("SELECT COALESCE(MAX(position), -1) FROM classes").fetchone()[0]
        added = []
        for d in defs:
            if d.name.lower() in have:
                continue
            if d.key and d.key in keys:
                raise ConfigError("key", f"key {d.key!r} is already used by another class")
            pos += 1
            con.execute("INSERT INTO classes(name, key, color, description, position) "
                        "VALUES (?,?,?,?,?)", (d.name, d.key, d.color, d.description, pos))
            have.add(d.name.lower())
            if d.key:
                keys.add(d.key)
            added.append(d)
        return added

    @classmethod
    def ensure_classes_in(cls, con: sqlite3.Connection, names: list[str]) -> list[ClassDef]:
        """:meth:`ensure_classes` inside the caller's open transaction."""
        rows = con.execute("SELECT name, key FROM classes").fetchall()
        have = {r["name"].lower() for r in rows}
        missing: list[str] = []
        for n in names:
            if n.lower() not in have:
                have.add(n.lower())
                missing.append(n)
        defs = default_class_defs(missing, {r["key"] for r in rows if r["key"]},
                                  first_color=len(rows))
        return cls.add_classes_in(con, defs)

    # ----------------------------------------------------------------- counts
    def has_images(self) -> bool:
        """Whether anything was ingested yet (one read; an empty project names that step)."""
        return self.db.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None

    def counts(self, labeled: int | None = None) -> dict[str, int]:
        """Headline numbers for `classkit status`. ``labeled``: the labeled count when the
        caller already has it (from per-label counts), sparing a second read of every event."""
        q = self.db.execute
        return {
            "images": q("SELECT COUNT(*) FROM images").fetchone()[0],
            "duplicates": q("SELECT COUNT(*) FROM images WHERE duplicate_of IS NOT NULL").fetchone()[0],
            "ingest_issues": q("SELECT COUNT(*) FROM ingest_issues WHERE resolved_at IS NULL").fetchone()[0],
            "labeled": (q("SELECT COUNT(*) FROM current_labels").fetchone()[0] if labeled is None
                        else labeled),
            "sources": q("SELECT COUNT(*) FROM sources").fetchone()[0],
        }


def _same_place(old: str, new: Path) -> bool:
    """True when ``old`` is ``new`` reached another way (a symlink, a bind mount)."""
    try:
        return bool(old) and os.path.samefile(old, new)
    except OSError:
        return False
