"""``classkit label``: CSV import, labeling by id, undo and history, end to end."""
from __future__ import annotations

from pathlib import Path

import pytest

from classkit.cli.main import main

from .helpers import run_json
from tests.conftest import make_image


@pytest.fixture
def proj(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    src = tmp_path / "src"
    for i in range(4):
        make_image(src / f"img_{i}.jpg", seed=i)
    proj = tmp_path / "p"
    run_json(capsys, "init", str(proj), "--classes", "cat,dog")
    assert run_json(capsys, "ingest", str(proj), str(src))["added"] == 4
    return proj


def ids_by_name(proj: Path) -> dict[str, int]:
    from classkit.engine.project import Project

    with Project.open(proj) as p:
        return {Path(r["path"]).name: int(r["id"]) for r in p.db.execute("SELECT id, path FROM images")}


def test_csv_import_end_to_end(proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "src" / "labels.csv"
    csv.write_text("path;label\nimg_0.jpg;cat\nimg_1.jpg;bird\nmissing.jpg;dog\n", encoding="utf-8-sig")
    assert main(["label", str(proj), "--csv", str(csv)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bird (1)" in err and "--create-classes" in err

    dry = run_json(capsys, "label", str(proj), "--csv", str(csv), "--create-classes", "--dry-run")
    assert dry["dry_run"] is True and dry["labeled"] == 2
    assert run_json(capsys, "status", str(proj))["labeled"] == 0

    s = run_json(capsys, "label", str(proj), "--csv", str(csv), "--create-classes")
    for key in ("rows", "labeled", "unchanged", "kept_human", "unmatched", "invalid",
                "created_classes", "errors", "error_count", "source", "dry_run"):
        assert key in s
    assert (s["rows"], s["labeled"], s["unmatched"]) == (3, 2, 1)
    assert s["created_classes"] == ["bird"]
    assert s["errors"][0]["line"] == 4 and "missing.jpg" in s["errors"][0]["error"]
    assert run_json(capsys, "status", str(proj))["labeled"] == 2

    assert main(["label", str(proj), "--csv", str(csv)]) == 0  # human-readable summary
    out = capsys.readouterr().out
    assert "unchanged 2" in out and "line 4:" in out


def test_set_undo_history(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = ids_by_name(proj)
    a, b = str(ids["img_0.jpg"]), str(ids["img_1.jpg"])
    out = run_json(capsys, "label", str(proj), "--id", a, "--id", b, "--set", "Dog")
    assert len(out["events"]) == 2 and out["labels"] == {a: "dog", b: "dog"}
    out = run_json(capsys, "label", str(proj), "--id", a, "--set", "junk")
    assert out["labels"] == {a: "junk"}

    undone = run_json(capsys, "label", str(proj), "--undo")
    assert undone["image_id"] == int(a) and undone["label"] == "dog"
    assert undone["undone"] == out["events"][0]
    undone = run_json(capsys, "label", str(proj), "--undo")
    assert undone["image_id"] == int(b) and undone["label"] is None

    hist = run_json(capsys, "label", str(proj), "--history", a)
    assert hist["label"] == "dog" and hist["path"].endswith("img_0.jpg")
    assert [e["source"] for e in hist["events"]] == ["manual", "manual", "undo"]
    assert [e["undone"] for e in hist["events"]] == [False, True, False]

    first = str(hist["events"][0]["id"])
    assert main(["label", str(proj), "--undo", "--event", first]) == 0  # a's dog: now unlabeled
    assert "is now (unlabeled)" in capsys.readouterr().out
    assert main(["label", str(proj), "--history", a]) == 0
    assert "[undone]" in capsys.readouterr().out

    assert main(["label", str(proj), "--id", a, "--set", "bird"]) == 1
    assert "unknown class 'bird'" in capsys.readouterr().err
    assert main(["label", str(proj), "--id", "999", "--set", "cat"]) == 1
    assert "unknown image id" in capsys.readouterr().err
    assert main(["label", str(proj), "--id", a]) == 1
    assert "--set LABEL or --clear" in capsys.readouterr().err
    assert run_json(capsys, "label", str(proj), "--id", b, "--set", "cat")["labels"] == {b: "cat"}
    assert run_json(capsys, "label", str(proj), "--id", b, "--clear")["labels"] == {b: None}


def test_usage(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["label", str(proj)])
    assert exc.value.code == 2
    capsys.readouterr()
    assert run_json(capsys, "label", str(proj), "--undo") == {"event": None, "undone": None,
                                                             "image_id": None, "label": None}
