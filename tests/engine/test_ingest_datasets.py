"""Labelled datasets: ImageFolder, CSV and Ultralytics classify layouts, and label import rules."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest import detect_kind, ingest
from classkit.engine.project import Project
from tests.conftest import make_image

ONE = IngestConfig(workers=1)


def _labels(project: Project) -> dict[str, str]:
    """Current label per image file name."""
    rows = project.db.execute("SELECT i.path, c.label FROM current_labels c "
                              "JOIN images i ON i.id = c.image_id").fetchall()
    return {Path(r["path"]).name: r["label"] for r in rows}


def _events(project: Project) -> int:
    return project.db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]


def _image_id(project: Project, path: Path) -> int:
    return project.db.execute("SELECT id FROM images WHERE path=?", (str(path),)).fetchone()[0]


def _issues(project: Project) -> dict[str, str]:
    return {r["path"]: r["reason"] for r in project.db.execute(
        "SELECT path, reason FROM ingest_issues WHERE resolved_at IS NULL")}


def _manual(project: Project, image_id: int, label: str | None) -> None:
    with project.transaction() as con:
        con.execute("INSERT INTO label_events(image_id, label, source, created_at) "
                    "VALUES (?, ?, 'manual', 1)", (image_id, label))


# ----------------------------------------------------------------- ImageFolder
@pytest.fixture
def imagefolder(tmp_path: Path) -> Path:
    top = tmp_path / "imf"
    make_image(top / "Cat" / "c1.png", seed=1)  # matches the project's "cat"
    make_image(top / "Cat" / "nested" / "c2.jpg", seed=2)
    make_image(top / "bird" / "b1.png", seed=3)
    make_image(top / "fish" / "f1.webp", seed=4)
    make_image(top / ".hidden" / "h.png", seed=5)
    return top


def test_imagefolder_imports_labels_and_creates_classes(project: Project, imagefolder: Path) -> None:
    assert detect_kind(imagefolder) == "folder"  # never guessed: it would invent labels
    summary = ingest(project, [imagefolder], kind="imagefolder", config=ONE)
    assert summary["added"] == 4
    assert summary["labels_imported"] == 4
    assert summary["classes_created"] == 2
    assert _labels(project) == {"c1.png": "cat", "c2.jpg": "cat", "b1.png": "bird",
                                "f1.webp": "fish"}
    classes = project.classes()
    assert [c.name for c in classes] == ["cat", "dog", "bird", "fish"]
    assert [c.key for c in classes] == ["1", "2", "3", "4"]
    assert len({c.color for c in classes}) == 4
    ev = project.db.execute("SELECT * FROM label_events").fetchone()
    assert ev["source"] == "import" and ev["round"] == 0
    origin = json.loads(project.db.execute(
        "SELECT origin FROM images WHERE path LIKE '%c2.jpg'").fetchone()[0])
    assert origin == {"dataset": "imagefolder", "dataset_label": "Cat", "relpath": "Cat/nested/c2.jpg"}


def test_imagefolder_loose_files_hint_and_empty_error(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "imf"
    make_image(top / "a" / "1.png")
    make_image(top / "loose.png", seed=1)
    summary = ingest(project, [top], kind="imagefolder", config=ONE)
    assert summary["added"] == 1
    assert any("no class folder" in h for h in summary["hints"])
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    with pytest.raises(ClassKitError, match="no class folders"):
        ingest(project, [empty], kind="imagefolder", config=ONE)
    with pytest.raises(ClassKitError, match="must be a folder"):
        ingest(project, [top / "loose.png"], kind="imagefolder", config=ONE)


def test_reingest_adds_no_label_events(project: Project, imagefolder: Path) -> None:
    ingest(project, [imagefolder], kind="imagefolder", config=ONE)
    n = _events(project)
    summary = ingest(project, [imagefolder], kind="imagefolder", config=ONE)
    assert summary["labels_imported"] == 0 and summary["classes_created"] == 0
    assert summary["added"] == 0 and summary["unchanged"] == 4
    assert _events(project) == n


def test_manual_label_never_overridden(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "imf"
    make_image(top / "cat" / "x.png", seed=1)
    make_image(top / "cat" / "y.png", seed=2)
    make_image(top / "cat" / "z.png", seed=3)
    ingest(project, [top], kind="imagefolder", config=ONE)
    x, y = _image_id(project, top / "cat" / "x.png"), _image_id(project, top / "cat" / "y.png")
    _manual(project, x, "dog")  # a person relabelled x
    _manual(project, y, None)  # and cleared y
    events = _events(project)
    # x and y change on disk (same paths): re-read, labels offered again, never applied
    for name, seed in (("x.png", 10), ("y.png", 11)):
        f = make_image(top / "cat" / name, seed=seed)
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    summary = ingest(project, [top], kind="imagefolder", config=ONE)
    assert summary["changed"] == 2 and summary["labels_imported"] == 0
    assert _events(project) == events
    assert _labels(project) == {"x.png": "dog", "z.png": "cat"}


def test_manual_label_survives_reimport_of_same_path(project: Project, tmp_path: Path) -> None:
    csv_path = tmp_path / "ds" / "labels.csv"
    make_image(tmp_path / "ds" / "a.png", seed=1)
    make_image(tmp_path / "ds" / "b.png", seed=2)
    csv_path.write_text("path,label\na.png,cat\nb.png,cat\n")
    ingest(project, [csv_path], config=ONE)
    a = _image_id(project, tmp_path / "ds" / "a.png")
    _manual(project, a, "dog")
    csv_path.write_text("path,label\na.png,bird\nb.png,bird\n")  # the dataset relabels both
    summary = ingest(project, [csv_path], config=ONE)
    assert _labels(project) == {"a.png": "dog", "b.png": "bird"}  # manual kept, import updated
    assert summary["labels_imported"] == 1


# ----------------------------------------------------------------- CSV
def test_csv_import(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_image(ds / "imgs" / "a.png", seed=1)
    make_image(ds / "imgs" / "b.png", seed=2)
    make_image(ds / "imgs" / "c.png", seed=3)
    elsewhere = make_image(tmp_path / "other" / "d.jpg", seed=4)
    csv_path = ds / "labels.csv"
    csv_path.write_text(
        "path,label,notes\n"
        "imgs/a.png,cat,first\n"
        "imgs/b.png,,unlabelled\n"
        f"{elsewhere},dog,absolute path\n"
        "imgs/missing.png,cat,gone\n"
        "\n"
        "imgs/c.png,  Bird  ,spaces\n"
        "imgs/a.png,dog,listed twice\n"
        ",cat,no path\n", encoding="utf-8")
    assert detect_kind(csv_path) == "csv"
    summary = ingest(project, [csv_path], config=ONE)
    assert summary["added"] == 4
    assert _labels(project) == {"a.png": "cat", "d.jpg": "dog", "c.png": "Bird"}
    issues = _issues(project)
    assert issues[str(ds / "imgs" / "missing.png")] == "missing"
    assert issues[f"{csv_path}:8"] == "label_error"  # listed twice
    assert issues[f"{csv_path}:9"] == "label_error"  # no path
    assert len(issues) == 3 == project.counts()["ingest_issues"]
    assert [c.name for c in project.classes()] == ["cat", "dog", "Bird"]
    origin = json.loads(project.db.execute(
        "SELECT origin FROM images WHERE path LIKE '%a.png'").fetchone()[0])
    assert origin == {"dataset": "csv", "csv_row": 2}


def test_csv_relative_to_csv_folder_not_cwd(project: Project, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ds = tmp_path / "ds"
    make_image(ds / "a.png", seed=1)
    make_image(tmp_path / "a.png", seed=2)  # same name in the working directory: a trap
    (ds / "l.csv").write_text("filename,class\na.png,cat\n")
    monkeypatch.chdir(tmp_path)
    ingest(project, [Path("ds/l.csv")], config=ONE)
    (path,) = [r[0] for r in project.db.execute("SELECT path FROM images")]
    assert path == str(ds / "a.png")


def test_csv_header_variants_and_bom(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", seed=1)
    (tmp_path / "l.csv").write_bytes("\ufeffImage,Category\na.png,cat\n".encode())
    ingest(project, [tmp_path / "l.csv"], config=ONE)
    assert _labels(project) == {"a.png": "cat"}


def test_csv_without_label_column(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", seed=1)
    (tmp_path / "l.csv").write_text("file,width\na.png,64\n")
    summary = ingest(project, [tmp_path / "l.csv"], config=ONE)
    assert summary["added"] == 1 and _labels(project) == {}
    assert any("no label column" in h for h in summary["hints"])


@pytest.mark.parametrize("text", ["name,label\na.png,cat\n", "x,y,z\n1,2,3\n"])
def test_csv_unknown_columns_clear_error(project: Project, tmp_path: Path, text: str) -> None:
    make_image(tmp_path / "a.png")
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(ClassKitError, match="no path column") as info:
        ingest(project, [tmp_path / "l.csv"], config=ONE)
    assert "path" in str(info.value) and "filename" in str(info.value)
    assert project.counts()["images"] == 0
    assert project.db.execute("SELECT status FROM ingest_runs").fetchone()[0] == "failed"


def test_csv_empty_and_unreadable(project: Project, tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ClassKitError, match="empty"):
        ingest(project, [tmp_path / "e.csv"], config=ONE)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\xfa binary")
    with pytest.raises(ClassKitError, match="cannot read CSV"):
        ingest(project, [tmp_path / "bin.csv"], config=ONE)


def test_invalid_class_name_is_a_label_issue(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_image(ds / "a.png", seed=1)
    make_image(ds / "b.png", seed=2)
    long_name = "x" * 150
    (ds / "l.csv").write_text(f"path,label\na.png,{long_name}\nb.png,bad\x07bell\n")
    summary = ingest(project, [ds / "l.csv"], config=ONE)
    assert summary["added"] == 2  # the images are still ingested
    assert _labels(project) == {}
    assert _issues(project) == {f"{ds / 'a.png'}#label": "label_error",
                                f"{ds / 'b.png'}#label": "label_error"}
    assert summary["issues_by_reason"] == {"label_error": 2}
    assert project.counts()["ingest_issues"] == 2
    assert [c.name for c in project.classes()] == ["cat", "dog"]
    # fixing the label in the dataset resolves the issue
    (ds / "l.csv").write_text("path,label\na.png,cat\nb.png,dog\n")
    ingest(project, [ds / "l.csv"], config=ONE)
    assert _labels(project) == {"a.png": "cat", "b.png": "dog"}
    assert project.counts()["ingest_issues"] == 0
    # a label issue also goes away when the dataset drops the bad label
    (ds / "l.csv").write_text(f"path,label\na.png,{long_name}\nb.png,dog\n")
    ingest(project, [ds / "l.csv"], config=ONE)
    assert project.counts()["ingest_issues"] == 1
    (ds / "l.csv").write_text("path,label\na.png,\nb.png,dog\n")
    ingest(project, [ds / "l.csv"], config=ONE)
    assert project.counts()["ingest_issues"] == 0


def test_imagefolder_invalid_class_folder(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "imf"
    bad = "y" * 120
    make_image(top / bad / "a.png", seed=1)
    make_image(top / "ok" / "b.png", seed=2)
    summary = ingest(project, [top], kind="imagefolder", config=ONE)
    assert summary["added"] == 2
    assert _labels(project) == {"b.png": "ok"}
    assert _issues(project) == {f"{top / bad / 'a.png'}#label": "label_error"}


def test_reserved_status_labels_are_imported_as_status(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", seed=1)
    (tmp_path / "l.csv").write_text("path,label\na.png,Unsure\n")
    summary = ingest(project, [tmp_path / "l.csv"], config=ONE)
    assert _labels(project) == {"a.png": "unsure"}
    assert summary["classes_created"] == 0
    assert "unsure" not in [c.name.lower() for c in project.classes()]


# ----------------------------------------------------------------- Ultralytics
@pytest.fixture
def ultralytics(tmp_path: Path) -> Path:
    top = tmp_path / "yolo_cls"
    seed = 0
    for split, per in (("train", 2), ("val", 1), ("test", 1)):
        for cls in ("ant", "bee"):
            for i in range(per):
                seed += 1
                make_image(top / split / cls / f"{split}_{cls}_{i}.jpg", seed=seed)
    return top


def test_ultralytics_detected_and_imported(project: Project, ultralytics: Path) -> None:
    assert detect_kind(ultralytics) == "ultralytics"
    summary = ingest(project, [ultralytics], config=ONE)  # auto
    assert summary["sources"][0]["kind"] == "ultralytics"
    assert summary["added"] == 8 and summary["labels_imported"] == 8
    assert summary["classes_created"] == 2
    labels = _labels(project)
    assert labels == {n: n.split("_")[1] for n in labels} and len(labels) == 8
    splits = {}
    for r in project.db.execute("SELECT path, origin FROM images"):
        o = json.loads(r["origin"])
        assert o["dataset"] == "ultralytics"
        assert o["relpath"] == Path(r["path"]).relative_to(ultralytics).as_posix()
        assert o["dataset_label"] == Path(r["path"]).parent.name
        splits[Path(r["path"]).name] = o["split"]
    assert splits == {n: n.split("_")[0] for n in splits}
    again = ingest(project, [ultralytics], config=ONE)
    assert again["labels_imported"] == 0 and again["added"] == 0


def test_ultralytics_needs_two_splits(tmp_path: Path) -> None:
    top = tmp_path / "only_train"
    make_image(top / "train" / "a" / "1.png")
    assert detect_kind(top) == "folder"
    make_image(top / "val" / "a" / "2.png", seed=1)
    assert detect_kind(top) == "ultralytics"


def test_ultralytics_explicit_kind_without_splits(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "x" / "a" / "1.png")
    with pytest.raises(ClassKitError, match="train"):
        ingest(project, [tmp_path / "x"], kind="ultralytics", config=ONE)


def test_csv_quoted_fields_may_hold_commas_and_newlines(project, tmp_path) -> None:
    make_image(tmp_path / "a, b.jpg", seed=5)
    make_image(tmp_path / "c.jpg", seed=6)
    csv_file = tmp_path / "list.csv"
    csv_file.write_text('path,label,note\n"a, b.jpg",cat,"two\nlines"\nc.jpg,dog,plain\n')
    summary = ingest(project, [csv_file])
    assert summary["added"] == 2 and summary["labels_imported"] == 2 and summary["issues"] == 0
