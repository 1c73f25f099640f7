"""CSV label import: path/id matching, formats, validation before writing, human labels kept."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.labels import add_labels, current_labels, import_label_csv, label_history
from classkit.engine.project import Project


@pytest.fixture
def imgs(project: Project, tmp_path: Path) -> dict[str, int]:
    """Image rows for data/a.jpg .. data/e.jpg outside the project, and one inside it."""
    files = [tmp_path / "data" / f"{n}.jpg" for n in "abcde"] + [project.root / "media" / "in.jpg"]
    out = {}
    with project.transaction() as con:
        for k, f in enumerate(files):
            out[f.stem] = int(con.execute(
                "INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
                "added_at) VALUES (?,?,1,1,8,8,'JPEG',?)",
                (project.paths.to_stored(f), f"h{k}", time.time())).lastrowid)
    return out


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def test_paths_absolute_relative_and_stored(project: Project, imgs: dict[str, int], tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = write(data / "labels.csv",
                f"path,label,notes\n{data / 'a.jpg'},cat,x\nb.jpg,Dog,\n./sub/../c.jpg,junk,\n"
                f"media/in.jpg,dog,\n\n")
    s = import_label_csv(project, csv)
    assert (s["rows"], s["labeled"], s["unmatched"], s["errors"]) == (4, 4, 0, [])
    assert current_labels(project) == {imgs["a"]: "cat", imgs["b"]: "dog", imgs["c"]: "junk",
                                       imgs["in"]: "dog"}
    assert label_history(project, imgs["b"])[0]["source"] == "import"
    assert "labels.csv line 3" in label_history(project, imgs["b"])[0]["reason"]
    again = import_label_csv(project, csv)
    assert again["labeled"] == 0 and again["unchanged"] == 4


def test_id_column_bom_and_semicolons(project: Project, imgs: dict[str, int], tmp_path: Path) -> None:
    csv = write(tmp_path / "x.csv", f"id;Label\r\n{imgs['a']};cat\r\n{imgs['d']};unsure\r\n",
                encoding="utf-8-sig")
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")
    s = import_label_csv(project, csv, source="manual")
    assert s["labeled"] == 2
    assert current_labels(project) == {imgs["a"]: "cat", imgs["d"]: "unsure"}
    assert label_history(project, imgs["a"])[0]["source"] == "manual"


def test_unknown_classes_need_create_classes(project: Project, imgs: dict[str, int],
                                             tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = write(data / "l.csv", "path,label\na.jpg,bird\nb.jpg,Fish\nc.jpg,bird\nd.jpg,cat\n")
    with pytest.raises(ClassKitError, match=r"bird \(2\), fish \(1\).*--create-classes") as err:
        import_label_csv(project, csv)
    assert "nothing was imported" in str(err.value)
    assert current_labels(project) == {}  # validation failed: nothing written
    assert [c.name for c in project.classes()] == ["cat", "dog"]
    dry = import_label_csv(project, csv, create_classes=True, dry_run=True)
    assert dry["labeled"] == 4 and dry["created_classes"] == ["bird", "Fish"]
    assert current_labels(project) == {} and len(project.classes()) == 2
    s = import_label_csv(project, csv, create_classes=True)
    assert s["created_classes"] == ["bird", "Fish"]
    assert [c.name for c in project.classes()] == ["cat", "dog", "bird", "Fish"]
    assert current_labels(project)[imgs["b"]] == "Fish"


def test_unmatched_rows_reported_with_lines(project: Project, imgs: dict[str, int],
                                            tmp_path: Path) -> None:
    data = tmp_path / "data"
    csv = write(data / "l.csv", "path,label\na.jpg,cat\nnope.jpg,dog\n\nb.jpg,\n,cat\na.jpg,dog\n"
                                "c.jpg,cat\n")
    s = import_label_csv(project, csv)
    assert s["rows"] == 6 and s["labeled"] == 2 and s["unmatched"] == 1 and s["invalid"] == 3
    lines = {e["line"]: e["error"] for e in s["errors"]}
    assert set(lines) == {3, 5, 6, 7}
    assert "nope.jpg" in lines[3] and "empty label" in lines[5] and "first row kept" in lines[7]
    assert current_labels(project) == {imgs["a"]: "cat", imgs["c"]: "cat"}


def test_all_rows_failing_is_an_error(project: Project, imgs: dict[str, int], tmp_path: Path) -> None:
    csv = write(tmp_path / "l.csv", "path,label\nx.jpg,cat\ny.jpg,bird\n")
    with pytest.raises(ClassKitError, match=r"none of the 2 row\(s\).*line 2"):
        import_label_csv(project, csv)
    with pytest.raises(ClassKitError, match="needs a header"):
        import_label_csv(project, write(tmp_path / "h.csv", "file_name,klass\na,b\n"))
    with pytest.raises(ClassKitError, match="empty"):
        import_label_csv(project, write(tmp_path / "e.csv", "\n\n"))
    assert current_labels(project) == {}


def test_import_never_overrides_manual_but_manual_does(project: Project, imgs: dict[str, int],
                                                      tmp_path: Path) -> None:
    add_labels(project, [imgs["a"]], "dog")  # a person said dog
    add_labels(project, [imgs["b"]], "cat", source="import")
    csv = write(tmp_path / "data" / "l.csv", "path,label\na.jpg,cat\nb.jpg,dog\n")
    s = import_label_csv(project, csv)
    assert s["kept_human"] == 1 and s["labeled"] == 1
    assert current_labels(project) == {imgs["a"]: "dog", imgs["b"]: "dog"}  # import updates import
    s = import_label_csv(project, csv, source="manual")
    assert s["labeled"] == 2  # a overridden; b confirmed by a person (was an import)
    assert current_labels(project) == {imgs["a"]: "cat", imgs["b"]: "dog"}
    assert label_history(project, imgs["b"])[-1]["source"] == "manual"
    assert import_label_csv(project, csv, source="manual")["unchanged"] == 2
    with pytest.raises(ClassKitError, match="source must be"):
        import_label_csv(project, csv, source="bulk")
