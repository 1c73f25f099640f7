"""Label CSVs as people really save them: Excel encodings, repeated rows."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest import ingest
from classkit.engine.labels import current_labels, import_label_csv
from classkit.engine.project import Project
from tests.conftest import make_image


def test_non_utf8_csv_says_what_to_do(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")
    ingest(project, [tmp_path / "imgs"], config=IngestConfig(workers=1))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,label\nimgs/a.jpg,caf\u00e9\n".encode("cp1252"))
    with pytest.raises(ClassKitError) as info:
        import_label_csv(project, latin)
    msg = str(info.value)
    assert "latin.csv" in msg and "not UTF-8" in msg and "0xe9" in msg and "save it as UTF-8" in msg
    with pytest.raises(ClassKitError, match="not UTF-8"):
        ingest(project, [latin], config=IngestConfig(workers=1))


def test_unknown_class_message_names_the_cli_flag_only(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")
    ingest(project, [tmp_path / "imgs"], config=IngestConfig(workers=1))
    (tmp_path / "l.csv").write_text("path,label\nimgs/a.jpg,fish\n")
    with pytest.raises(ClassKitError) as info:
        import_label_csv(project, tmp_path / "l.csv")
    assert "--create-classes" in str(info.value) and "create_classes=True" not in str(info.value)


def test_macos_decomposed_names_and_working_folder_paths_match(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nfc = "caf\u00e9.jpg"
    make_image(tmp_path / "data" / nfc)
    make_image(tmp_path / "data" / "b.jpg", seed=1)
    ingest(project, [tmp_path / "data"], config=IngestConfig(workers=1))
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    # written on a Mac (decomposed accents); paths relative to where the user stands
    (sheets / "l.csv").write_text(f"path,label\ndata/{nfd},cat\ndata/b.jpg,dog\n")
    monkeypatch.chdir(tmp_path)
    s = import_label_csv(project, sheets / "l.csv")
    assert s["labeled"] == 2 and s["unmatched"] == 0, s["errors"]


def test_dataset_csv_with_decomposed_names_finds_the_files(project: Project, tmp_path: Path) -> None:
    nfc = "\u00fcber.jpg"
    make_image(tmp_path / nfc)
    (tmp_path / "list.csv").write_text(f"path,label\n{unicodedata.normalize('NFD', nfc)},cat\n")
    summary = ingest(project, [tmp_path / "list.csv"], config=IngestConfig(workers=1))
    assert summary["added"] == 1 and summary["issues"] == 0, summary["issue_examples"]
    assert summary["labels_imported"] == 1


def test_export_csv_from_another_project_never_labels_by_foreign_ids(
        project: Project, tmp_path: Path) -> None:
    """Another project numbered the same files differently: its export's ids name other
    images here. The path decides; a disagreeing id is an error, not a silent mislabel."""
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        make_image(tmp_path / "imgs" / name, seed=ord(name[0]))
    ingest(project, [tmp_path / "imgs" / "c.jpg"], config=IngestConfig(workers=1))  # c is id 1
    ingest(project, [tmp_path / "imgs"], config=IngestConfig(workers=1))  # a = 2, b = 3
    ids = {Path(r["path"]).name: r["id"] for r in project.db.execute("SELECT id, path FROM images")}
    assert ids == {"c.jpg": 1, "a.jpg": 2, "b.jpg": 3}
    imgs = tmp_path / "imgs"
    # as exported by a project where a = 1, b = 2, c = 3
    (tmp_path / "dataset.csv").write_text(
        "id,original_path,exported_path,label\n"
        f"1,{imgs / 'a.jpg'},,cat\n2,{imgs / 'b.jpg'},,dog\n3,{imgs / 'c.jpg'},,cat\n")
    with pytest.raises(ClassKitError, match="another project"):
        import_label_csv(project, tmp_path / "dataset.csv")
    assert current_labels(project) == {}
    # the same rows with matching ids (an export of this very project) import fine
    (tmp_path / "same.csv").write_text(
        f"id,original_path,label\n2,{imgs / 'a.jpg'},cat\n3,{imgs / 'b.jpg'},dog\n")
    s = import_label_csv(project, tmp_path / "same.csv")
    assert s["labeled"] == 2 and current_labels(project) == {2: "cat", 3: "dog"}


@pytest.mark.parametrize("delim", [";", "\t"])
def test_dataset_csv_with_excel_delimiters(project: Project, tmp_path: Path, delim: str) -> None:
    make_image(tmp_path / "a b.jpg")
    (tmp_path / "list.csv").write_text(f"Path{delim}Label\r\na b.jpg{delim}cat\r\n")
    summary = ingest(project, [tmp_path / "list.csv"], config=IngestConfig(workers=1))
    assert summary["added"] == 1 and summary["labels_imported"] == 1, summary


def test_bare_file_names_and_path_tails_match_one_image(project: Project, tmp_path: Path) -> None:
    """CSVs made for other tools name files by their name or the end of their path."""
    for rel in ("train/cat_1.jpg", "val/cat_1.jpg", "train/dog_2.jpg", "other/x.png", "other/y.png"):
        make_image(tmp_path / "data" / rel)
    ingest(project, [tmp_path / "data"], config=IngestConfig(workers=1))
    (tmp_path / "elsewhere").mkdir()
    csv_file = tmp_path / "elsewhere" / "labels.csv"
    csv_file.write_text("filename,label\n"
                        "dog_2.jpg,dog\n"          # unique file name
                        "cat_1.jpg,cat\n"          # two images end so: ambiguous, not guessed
                        "val/cat_1.jpg,cat\n"      # the end of its path: unique
                        "x,cat\n"                  # no extension: the stem
                        "../y.png,dog\n"           # not a tail: unmatched
                        "train/missing.jpg,dog\n")
    summary = import_label_csv(project, csv_file)
    assert summary["labeled"] == 3 and summary["unmatched"] == 3, summary
    errors = {e["line"]: e["error"] for e in summary["errors"]}
    assert "matches 2 images" in errors[3] and "give more of the path" in errors[3]
    paths = dict(project.db.execute("SELECT id, path FROM images").fetchall())
    got = {Path(paths[i]).as_posix().split("data/")[-1]: lab for i, lab in current_labels(project).items()}
    assert got == {"train/dog_2.jpg": "dog", "val/cat_1.jpg": "cat", "other/x.png": "cat"}
