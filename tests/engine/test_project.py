"""Project store: create, open (validate, find the root, migrate, repair a move), artifacts."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from classkit.engine.config import ClassDef, IngestConfig
from classkit.engine.errors import ConfigError, ProjectError
from classkit.engine.ingest import ingest
from classkit.engine.project import Project, find_project_root
from classkit.engine.project import db as dbmod
from classkit.engine.project.project import DB_RELPATH, MANIFEST_NAME, MANIFEST_SCHEMA
from classkit.engine.project.schema import LATEST
from tests.conftest import make_image

ONE = IngestConfig(workers=1)


def _manifest(root: Path) -> dict:
    return json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))


def _write_manifest(root: Path, data: dict) -> None:
    (root / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")


# ----------------------------------------------------------------- create
def test_create_layout(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    with Project.create(root, name="birds", classes=["a", "b"]) as p:
        assert p.root == root
        for sub in ("state", "runs/classkit", "media", "cache", "logs"):
            assert (root / sub).is_dir(), sub
        assert (root / DB_RELPATH).is_file()
        mode = p.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"
        assert p.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert dbmod.schema_version(p.db) == LATEST
        assert [c.name for c in p.classes()] == ["a", "b"]
        assert [c.key for c in p.classes()] == ["1", "2"]
    m = _manifest(root)
    assert m["schema_version"] == MANIFEST_SCHEMA
    assert m["name"] == "birds"
    assert m["last_root"] == str(root)
    assert len(m["project_id"]) == 32
    assert m["settings"]["autosave_ms"] == 250
    assert m["ingest"]["workers"] == 0
    # WAL survives a reopen (it is a property of the file)
    con = sqlite3.connect(root / DB_RELPATH)
    assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    con.close()


def test_create_default_name_and_existing_folder(tmp_path: Path) -> None:
    root = tmp_path / "my-set"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with Project.create(root) as p:
        assert p.manifest.name == "my-set"
        assert p.classes() == []
    assert (root / "notes.txt").read_text() == "keep me"


def test_create_refuses_existing_project_and_files(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already"):
        Project.create(tmp_path / "p")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="not a folder"):
        Project.create(tmp_path / "file")


def test_create_invalid_class_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Project.create(tmp_path / "p", classes=["cat", "unsure"])
    assert not (tmp_path / "p").exists()


# ----------------------------------------------------------------- open
def test_open_roundtrip_and_from_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root, classes=["x"]).close()
    sub = root / "runs" / "classkit"
    with Project.open(sub) as p:
        assert p.root == root
        assert [c.name for c in p.classes()] == ["x"]
    assert find_project_root(root / "media") == root
    with Project.open(root / MANIFEST_NAME) as p:  # a file inside works too
        assert p.root == root


def test_open_non_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a ClassKit project"):
        Project.open(tmp_path)


def test_open_with_dotdot_path_keeps_root_normalised(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    with Project.open(root / "media" / "..") as p:
        assert p.root == root
        assert str(p.root) == str(root)
    assert _manifest(root)["last_root"] == str(root)


@pytest.mark.parametrize("text, needle", [
    ("{not json", "cannot read"),
    ("[1, 2]", "not a JSON object"),
    ("", "cannot read"),
])
def test_open_bad_manifest_json(tmp_path: Path, text: str, needle: str) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    (root / MANIFEST_NAME).write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError, match=needle):
        Project.open(root)


def test_open_binary_manifest(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    (root / MANIFEST_NAME).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectError):
        Project.open(root)


@pytest.mark.parametrize("field", ["name", "project_id", "schema_version", "created_at"])
def test_open_manifest_missing_field(tmp_path: Path, field: str) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    data = _manifest(root)
    del data[field]
    _write_manifest(root, data)
    with pytest.raises(ProjectError, match=rf"manifest\.{field}\b"):
        Project.open(root)


@pytest.mark.parametrize("field, value", [
    ("name", 42), ("schema_version", "1"), ("last_root", ["x"]), ("settings", "big"),
    ("ingest", {"workers": "many"}), ("settings", {"autosave_ms": 1}), ("colour", "red"),
])
def test_open_manifest_wrong_type(tmp_path: Path, field: str, value: object) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    data = _manifest(root)
    data[field] = value
    _write_manifest(root, data)
    with pytest.raises(ProjectError, match=rf"manifest\.{field}"):
        Project.open(root)


def test_open_newer_manifest_schema(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    data = _manifest(root)
    data["schema_version"] = MANIFEST_SCHEMA + 1
    data["feature_from_the_future"] = True  # a newer manifest may hold keys we do not know
    _write_manifest(root, data)
    with pytest.raises(ProjectError, match="upgrade ClassKit"):
        Project.open(root)


def test_open_missing_database(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    (root / DB_RELPATH).unlink()
    with pytest.raises(ProjectError, match="database is missing"):
        Project.open(root)


def test_open_corrupt_database(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    (root / DB_RELPATH).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError, match="database"):
        Project.open(root)


def test_open_newer_database(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root).close()
    con = sqlite3.connect(root / DB_RELPATH)
    con.execute(f"PRAGMA user_version={LATEST + 1}")
    con.close()
    with pytest.raises(ProjectError, match="newer"):
        Project.open(root)


def test_open_migrates_older_database(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    Project.create(root, classes=["cat"]).close()
    (root / DB_RELPATH).unlink()
    con = dbmod.connect(root / DB_RELPATH)
    dbmod.migrate(con, target=1)
    con.execute("INSERT INTO classes(name, key, color, position) VALUES ('cat', '1', '#000000', 0)")
    con.execute("INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, "
                "format, added_at) VALUES ('media/a.png', 'h', 1, 1, 2, 3, 'PNG', 0)")
    con.close()
    with Project.open(root) as p:
        assert dbmod.schema_version(p.db) == LATEST
        assert [c.name for c in p.classes()] == ["cat"]
        assert p.counts()["images"] == 1
        with p.transaction() as c:
            c.execute("INSERT INTO label_events(image_id, label, source, created_at) "
                      "VALUES (1, 'cat', 'manual', 0)")
        assert p.counts()["labeled"] == 1


# ----------------------------------------------------------------- moving
def test_moved_project_rebases_outside_paths(tmp_path: Path) -> None:
    old = tmp_path / "old"
    data = old / "data"
    for i in range(3):
        make_image(data / f"img{i}.png", seed=i, fmt="PNG")
    (data / "bad.jpg").write_bytes(b"not an image")
    root = old / "proj"
    with Project.create(root) as p:
        inbox = root / "inbox"
        make_image(inbox / "inside.jpg", seed=9)
        ingest(p, [data, inbox], config=ONE)
        stored = dict(p.db.execute("SELECT path, id FROM images").fetchall())
        assert p.counts()["ingest_issues"] == 1
    assert str(data / "img0.png") in stored  # outside: absolute
    assert "inbox/inside.jpg" in stored  # inside: relative

    new = tmp_path / "elsewhere" / "moved"
    new.parent.mkdir()
    shutil.move(str(old), str(new))
    new_root = new / "proj"
    with Project.open(new_root) as p:
        paths = {r["path"] for r in p.db.execute("SELECT path FROM images")}
        assert paths == {str(new / "data" / f"img{i}.png") for i in range(3)} | {"inbox/inside.jpg"}
        for r in p.db.execute("SELECT path FROM images"):
            assert p.paths.resolve(r["path"]).is_file()
        srcs = {r["path"] for r in p.db.execute("SELECT path FROM sources")}
        assert srcs == {str(new / "data"), "inbox"}
        # the rebased project re-ingests as unchanged, not as new images
        summary = ingest(p, [new / "data", new_root / "inbox"], config=ONE)
        assert summary["added"] == 0 and summary["unchanged"] == 4
        # the issue moved with its file: one open issue, not a stale one plus a new one
        assert summary["issues_by_reason"] == {"not_an_image": 1}
        assert p.counts()["ingest_issues"] == 1
        (issue_path,) = [r[0] for r in p.db.execute("SELECT path FROM ingest_issues")]
        assert issue_path == str(new / "data" / "bad.jpg")
    assert _manifest(new_root)["last_root"] == str(new_root)


def test_moved_project_without_data_keeps_paths(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_image(data / "a.png", fmt="PNG")
    with Project.create(tmp_path / "proj") as p:
        ingest(p, [data], config=ONE)
    shutil.move(str(tmp_path / "proj"), str(tmp_path / "proj2"))
    with Project.open(tmp_path / "proj2") as p:  # data did not move: still exists
        (path,) = [r["path"] for r in p.db.execute("SELECT path FROM images")]
        assert path == str(data / "a.png")
    assert _manifest(tmp_path / "proj2")["last_root"] == str(tmp_path / "proj2")


# ----------------------------------------------------------------- artifacts
def test_new_version_dir_is_fresh(project: Project) -> None:
    seen = set()
    for _ in range(20):
        version, path = project.new_version_dir("embed")
        assert path.is_dir() and not any(path.iterdir())
        assert path == project.root / "runs" / "classkit" / "embed" / version
        assert version not in seen
        seen.add(version)
    with pytest.raises(ValueError):
        project.new_version_dir("../evil")


def test_new_version_dir_never_reuses_existing(project: Project, monkeypatch) -> None:
    import uuid as uuid_mod

    from classkit.engine.project import project as project_mod

    ids = iter([uuid_mod.UUID("a" * 32), uuid_mod.UUID("a" * 32), uuid_mod.UUID("b" * 32)])
    monkeypatch.setattr(project_mod.time, "strftime", lambda fmt: "20240101-000000")
    monkeypatch.setattr(project_mod.uuid, "uuid4", lambda: next(ids))
    v1, p1 = project.new_version_dir("umap")
    (p1 / "coords.npy").write_bytes(b"keep")
    v2, p2 = project.new_version_dir("umap")  # first try collides; a new id is drawn
    assert (v1, v2) == ("20240101-000000-aaaaaa", "20240101-000000-bbbbbb")
    assert (p1 / "coords.npy").read_bytes() == b"keep"


def test_register_and_current_artifact(project: Project) -> None:
    assert project.current_artifact("embed") is None
    v1, p1 = project.new_version_dir("embed")
    project.register_artifact("embed", v1, {"model": "a"})
    assert project.current_artifact("embed") == p1
    v2, p2 = project.new_version_dir("embed")
    project.register_artifact("embed", v2, {"model": "b"}, make_current=False)
    assert project.current_artifact("embed") == p1
    v3, p3 = project.new_version_dir("embed")
    project.register_artifact("embed", v3)
    assert project.current_artifact("embed") == p3
    assert project.current_artifact("umap") is None
    rows = project.db.execute("SELECT version, is_current, params, path FROM artifacts "
                              "ORDER BY id").fetchall()
    assert [r["is_current"] for r in rows] == [0, 0, 1]
    assert json.loads(rows[1]["params"]) == {"model": "b"}
    assert not os.path.isabs(rows[0]["path"])  # relative: survives a move
    vu, pu = project.new_version_dir("umap")
    project.register_artifact("umap", vu)
    assert project.current_artifact("embed") == p3  # other stages untouched


# ----------------------------------------------------------------- classes
def test_add_classes_duplicate_key_rejected(project: Project) -> None:
    with pytest.raises(ConfigError) as info:
        project.add_classes([ClassDef(name="bird", key="1")])  # "cat" has key 1
    assert info.value.field == "key"
    assert [c.name for c in project.classes()] == ["cat", "dog"]  # rolled back
    with pytest.raises(ConfigError):
        project.add_classes([ClassDef(name="a", key="q"), ClassDef(name="b", key="q")])
    assert [c.name for c in project.classes()] == ["cat", "dog"]


def test_add_classes_skips_existing_names(project: Project) -> None:
    added = project.add_classes([ClassDef(name="CAT", key="c"), ClassDef(name="bird", key="b")])
    assert [d.name for d in added] == ["bird"]
    assert [c.name for c in project.classes()] == ["cat", "dog", "bird"]


def test_ensure_classes_uses_free_keys(project: Project) -> None:
    new = project.ensure_classes(["Dog", "bird", "fish", "bird"])
    assert [d.name for d in new] == ["bird", "fish"]
    assert [c.key for c in project.classes()] == ["1", "2", "3", "4"]
    many = project.ensure_classes([f"c{i}" for i in range(8)])
    assert [d.key for d in many] == ["5", "6", "7", "8", "9", "", "", ""]


# ----------------------------------------------------------------- settings, counts
def test_update_settings_persists_and_validates(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        p.update_settings(thumbnail_size=128)
        with pytest.raises(ConfigError) as info:
            p.update_settings(thumbnail_size=1)
        assert info.value.field == "settings.thumbnail_size"
        assert p.settings.thumbnail_size == 128
    with Project.open(tmp_path / "p") as p:
        assert p.settings.thumbnail_size == 128
        assert p.ingest_config == IngestConfig()


def test_transaction_rolls_back(project: Project) -> None:
    with pytest.raises(RuntimeError), project.transaction() as con:
        con.execute("INSERT INTO meta(key, value) VALUES ('a', 'b')")
        raise RuntimeError("boom")
    assert project.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0
    with project.transaction() as con:
        con.execute("INSERT INTO meta(key, value) VALUES ('a', 'b')")
    assert project.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 1


def test_counts_empty(project: Project) -> None:
    assert project.counts() == {"images": 0, "duplicates": 0, "ingest_issues": 0,
                                "labeled": 0, "sources": 0}


def test_close_checkpoints_wal(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "p", classes=["a"])
    p.close()
    wal = tmp_path / "p" / "state" / "classkit.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_opening_through_a_symlink_is_not_a_move(tmp_path: Path) -> None:
    Project.create(tmp_path / "real").close()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    before = (tmp_path / "real" / "classkit_project.json").read_text()
    Project.open(tmp_path / "link").close()
    assert (tmp_path / "real" / "classkit_project.json").read_text() == before
