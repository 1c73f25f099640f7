"""Export safety: hostile class names, collisions, cancel, missing files, empty exports,
output folders that are not export roots, Ultralytics split coverage, changed files."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.export import ExportOptions, class_folders, export_file_name, export_project
from classkit.engine.export.names import WINDOWS_RESERVED, ensure_inside, safe_component
from classkit.engine.jobs import CancelToken
from classkit.engine.labels import add_labels
from classkit.engine.project import Project
from tests.conftest import make_image
from tests.engine.test_export_formats import PER_CLASS, add_files, check_hashes, make_labeled

HOSTILE = ["a/b", "..", ".", "CON", "con.txt", "Lpt1", ".hidden", "tab\there", "bell\x07",
           "back\\slash", "trail. ", "what?*<>|:\"", "nul .x"]


def add_raw_label(project: Project, image_id: int, label: str) -> None:
    """A label event straight into the table (a label no class row backs, e.g. control chars,
    which the project refuses as class names but an old database may still hold)."""
    with project.transaction() as con:
        con.execute("INSERT INTO label_events(image_id, label, source, created_at) "
                    "VALUES (?,?,'manual',0)", (image_id, label))


def add_raw_class(project: Project, name: str) -> None:
    """A class straight into the table, as an old or hand-edited project may hold it."""
    with project.transaction() as con:
        pos = con.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM classes").fetchone()[0]
        con.execute("INSERT INTO classes(name, key, color, description, position) VALUES (?,?,?,?,?)",
                    (name, "", "#888888", "", pos))


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_component_is_safe(name: str) -> None:
    out = safe_component(name)
    assert out and out not in (".", "..") and not out.startswith(".")
    assert not any(ch in out for ch in '/\\:*?"<>|') and all(ord(ch) >= 32 for ch in out)
    assert not out.endswith((".", " "))
    assert out.split(".")[0].strip().upper() not in WINDOWS_RESERVED
    assert safe_component(name) == out  # deterministic


def test_class_folder_collisions_are_errors() -> None:
    assert class_folders(["cat", "dog"]) == {"cat": "cat", "dog": "dog"}
    for pair in (["a/b", "a_b"], ["Cat", "cat"], ["CON", "con_"], [".x", "_X"]):
        with pytest.raises(ClassKitError, match="both be exported"):
            class_folders(pair)


def test_file_names_unique_and_stable() -> None:
    a = export_file_name("/data/one/img001.JPG", 7)
    b = export_file_name("/data/two/img001.JPG", 8)
    assert a == "img001__7.jpg" and b == "img001__8.jpg"
    assert export_file_name("x/CON.png", 3) == "CON___3.png"
    assert export_file_name("x/.hidden", 4) == "_hidden__4"
    assert export_file_name("x/nul.tar.gz", 5) == "nul_.tar__5.gz"
    assert "/" not in export_file_name("weird\\name.jpg", 1)


def test_ensure_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "ok").mkdir(parents=True)
    ensure_inside(root, root / "ok" / "f.jpg")
    with pytest.raises(ClassKitError, match="outside"):
        ensure_inside(root, root / ".." / "escape.jpg")
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ClassKitError, match="outside"):
        ensure_inside(root, root / "link" / "f.jpg")


def test_hostile_class_names_export_inside(project: Project, tmp_path: Path) -> None:
    paths = [make_image(tmp_path / "src" / f"h{i}.png", seed=i, fmt="PNG") for i in range(len(HOSTILE))]
    ids = add_files(project, paths)
    for name, image_id in zip(HOSTILE, ids, strict=True):
        if any(ord(ch) < 32 for ch in name):
            add_raw_label(project, image_id, name)
        else:
            add_raw_class(project, name)
            add_labels(project, [image_id], name)
    before = set(os.listdir(tmp_path))
    out = tmp_path / "exports"
    res = export_project(project, "imagefolder", out)
    assert set(os.listdir(tmp_path)) - before == {"exports"}  # nothing written beside it
    manifest = check_hashes(res.path)
    folders = {c["label"]: c["folder"] for c in manifest["classes"]}
    stored = {r[0] for r in project.db.execute("SELECT label FROM current_labels")}
    assert len(stored) == len(HOSTILE) and set(folders) == stored and folders == res.folders
    assert folders["a/b"] == "a_b" and folders[".."] == "__" and folders["CON"] == "CON_"
    assert folders[".hidden"] == "_hidden" and folders["con.txt"] == "con_.txt"
    real_root = os.path.realpath(res.path)
    for dirpath, dirs, files in os.walk(res.path):
        for f in [*dirs, *files]:
            assert os.path.realpath(os.path.join(dirpath, f)).startswith(real_root + os.sep)
    assert sorted(p.name for p in res.path.iterdir() if p.is_dir()) == sorted(folders.values())
    assert all(len(list((res.path / f).iterdir())) == 1 for f in folders.values())
    assert [c["renamed"] for c in manifest["classes"]] == [k != v for k, v in folders.items()]


def test_colliding_classes_write_nothing(project: Project, tmp_path: Path) -> None:
    ids = add_files(project, [make_image(tmp_path / "src" / f"{i}.png", seed=i, fmt="PNG") for i in range(2)])
    for name, image_id in zip(["a/b", "a_b"], ids, strict=True):
        add_raw_class(project, name)
        add_labels(project, [image_id], name)
    with pytest.raises(ClassKitError, match="'a/b' and 'a_b'"):
        export_project(project, "imagefolder", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    res = export_project(project, "csv", tmp_path / "csv")  # a table has no folders: fine
    assert res.counts["images"] == 2


def test_cancel_leaves_nothing(project: Project, tmp_path: Path) -> None:
    make_labeled(project, tmp_path)
    out = tmp_path / "exports"
    first = export_project(project, "imagefolder", out)
    token = CancelToken()

    def progress(done: int, total: int, msg: str = "") -> None:
        if msg == "writing files" and done >= 3:
            token.cancel()

    with pytest.raises(Cancelled):
        export_project(project, "imagefolder", out, progress=progress, cancel=token)
    assert sorted(os.listdir(out)) == sorted(["classkit_exports.json", first.version])
    marker = json.loads((out / "classkit_exports.json").read_text())
    assert [e["version"] for e in marker["exports"]] == [first.version]
    fresh = tmp_path / "fresh"  # a root this run created is taken back entirely
    token = CancelToken()
    with pytest.raises(Cancelled):
        export_project(project, "ultralytics", fresh, progress=progress, cancel=token)
    assert not fresh.exists()
    assert project.db.execute("SELECT COUNT(*) FROM artifacts WHERE stage='exports'").fetchone()[0] == 1


def test_missing_files_error_or_skip(project: Project, tmp_path: Path) -> None:
    groups = make_labeled(project, tmp_path)
    gone = Path(project.paths.resolve(project.db.execute(
        "SELECT path FROM images WHERE id=?", (groups["cat"][3],)).fetchone()[0]))
    gone.unlink()
    with pytest.raises(ClassKitError, match=r"1 source image\(s\) are missing.*--skip-missing") as err:
        export_project(project, "imagefolder", tmp_path / "out")
    assert str(gone) in str(err.value)
    assert not (tmp_path / "out").exists()
    res = export_project(project, "imagefolder", tmp_path / "out", ExportOptions(skip_missing=True))
    manifest = check_hashes(res.path)
    assert res.counts["labels"] == {"cat": PER_CLASS - 1, "dog": PER_CLASS}
    assert manifest["skipped_missing"] == [{"id": groups["cat"][3], "path": str(gone)}]


def test_empty_exports_are_errors(project: Project, tmp_path: Path) -> None:
    ids = add_files(project, [make_image(tmp_path / "src" / f"{i}.jpg", seed=i) for i in range(3)])
    with pytest.raises(ClassKitError, match="nothing to export.*label some images"):
        export_project(project, "csv", tmp_path / "out")
    add_labels(project, ids, "junk")
    with pytest.raises(ClassKitError, match="nothing to export.*--include"):
        export_project(project, "imagefolder", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    res = export_project(project, "imagefolder", tmp_path / "out", ExportOptions(include=("junk",)))
    assert res.counts["labels"] == {"junk": 3}


def test_output_folder_checks(project: Project, tmp_path: Path) -> None:
    make_labeled(project, tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ClassKitError, match="not a ClassKit export folder"):
        export_project(project, "csv", busy)
    assert os.listdir(busy) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ClassKitError, match="is not a folder"):
        export_project(project, "csv", tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = export_project(project, "csv", empty)
    assert res.path.parent == empty and (empty / "classkit_exports.json").is_file()


def test_bad_options(project: Project, tmp_path: Path) -> None:
    make_labeled(project, tmp_path)
    cases = [("zip", ExportOptions(), "unknown export format"),
             ("imagefolder", ExportOptions(link="move"), "unknown link mode"),
             ("csv", ExportOptions(include=("maybe",)), "unknown label status"),
             ("csv", ExportOptions(include_predicted=1.5), "between 0 and 1"),
             ("imagefolder", ExportOptions(include=("unlabeled",)), "no class folder"),
             ("ultralytics", ExportOptions(include=("junk",)), "no train/val/test split"),
             ("csv", ExportOptions(snapshot=10_000), "snapshot 10000 does not exist")]
    for fmt, opts, msg in cases:
        with pytest.raises(ClassKitError, match=msg):
            export_project(project, fmt, tmp_path / "out", opts)
    assert not (tmp_path / "out").exists()


def test_ultralytics_class_missing_from_split(project: Project, tmp_path: Path) -> None:
    groups = make_labeled(project, tmp_path)
    add_raw_class(project, "bird")
    add_labels(project, groups["unlabeled"], "bird")  # 2 labels: both go to train
    with pytest.raises(ClassKitError, match=r"class 'bird' has no images in val/.*--allow-empty-splits"):
        export_project(project, "ultralytics", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    res = export_project(project, "ultralytics", tmp_path / "out", ExportOptions(allow_empty_splits=True))
    assert any("'bird' has no images in val/" in w for w in res.warnings)
    assert (res.path / "train" / "bird").is_dir() and not (res.path / "val" / "bird").exists()
    manifest = check_hashes(res.path)
    assert manifest["warnings"] == res.warnings


def test_changed_since_ingest_is_reported(project: Project, tmp_path: Path) -> None:
    groups = make_labeled(project, tmp_path)
    path = Path(project.paths.resolve(project.db.execute(
        "SELECT path FROM images WHERE id=?", (groups["dog"][0],)).fetchone()[0]))
    make_image(path, seed=99)
    res = export_project(project, "imagefolder", tmp_path / "out")
    assert res.changed_since_ingest == [groups["dog"][0]]
    assert json.loads(res.manifest.read_text())["changed_since_ingest"] == [groups["dog"][0]]
    assert any("changed on disk" in w for w in res.warnings)
