"""``classkit export``: every format end to end through the CLI, --json keys, errors, snapshots."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from classkit.cli.commands import export_cmd
from classkit.cli.main import RESERVED, main
from classkit.engine.export import FORMATS, LINK_MODES

from .helpers import run_json
from tests.conftest import make_image


@pytest.fixture
def proj(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    for i in range(8):
        make_image(tmp_path / "src" / ("x" if i % 2 else "y") / f"img_{i // 2}.jpg", seed=i)
    proj = tmp_path / "p"
    run_json(capsys, "init", str(proj), "--classes", "cat,dog")
    assert run_json(capsys, "ingest", str(proj), str(tmp_path / "src"))["added"] == 8
    from classkit.engine.project import Project

    with Project.open(proj) as p:
        ids = [int(r[0]) for r in p.db.execute("SELECT id FROM images ORDER BY id")]
    for label, part in (("cat", ids[:2]), ("dog", ids[2:5]), ("junk", ids[5:6])):
        run_json(capsys, "label", str(proj), *[a for i in part for a in ("--id", str(i))], "--set", label)
    return proj


def test_cli_matches_engine_choices() -> None:
    assert export_cmd.FORMATS == FORMATS and export_cmd.LINKS == LINK_MODES
    assert "export" not in RESERVED


@pytest.mark.parametrize("fmt", ["imagefolder", "csv", "parquet"])
def test_export_formats_json(proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             fmt: str) -> None:
    out = tmp_path / "exports"
    res = run_json(capsys, "export", str(proj), "--format", fmt, "--out", str(out))
    for key in ("version", "counts", "manifest", "path", "snapshot", "warnings"):
        assert key in res
    assert Path(res["manifest"]).is_file() and Path(res["path"]) == out / res["version"]
    assert res["counts"]["labels"] == {"cat": 2, "dog": 3}
    manifest = json.loads(Path(res["manifest"]).read_text())
    assert manifest["format"] == fmt and manifest["label_snapshot"] == res["snapshot"]
    again = run_json(capsys, "export", str(proj), "--format", fmt, "--out", str(out),
                     "--snapshot", str(res["snapshot"]))
    assert Path(again["manifest"]).read_bytes() == Path(res["manifest"]).read_bytes()


def test_export_options_and_human_output(proj: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exports"
    assert main(["export", str(proj), "--format", "imagefolder", "--out", str(out),
                 "--include", "junk", "--link", "symlink"]) == 0
    text = capsys.readouterr().out
    assert "exported 6 image(s) as imagefolder" in text and "junk 1" in text
    version = json.loads((out / "classkit_exports.json").read_text())["latest"]
    with open(out / version / "index.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all((out / version / r["exported_path"]).is_symlink() for r in rows)


def test_export_errors(proj: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    assert main(["export", str(proj), "--format", "csv", "--out", str(busy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a ClassKit export folder" in err
    # cat has 2 labels (both in train), dog 3 (one goes to val): cat is missing from val/
    assert main(["export", str(proj), "--format", "ultralytics", "--out", str(tmp_path / "y")]) == 1
    err = capsys.readouterr().err
    assert "class 'cat' has no images in val/" in err and "--allow-empty-splits" in err
    assert not (tmp_path / "y").exists()
    assert main(["export", str(proj), "--format", "csv", "--out", str(tmp_path / "c"),
                 "--link", "symlink"]) == 1
    assert "--link applies to" in capsys.readouterr().err
    assert main(["export", str(proj), "--format", "csv", "--out", str(tmp_path / "c"),
                 "--snapshot", "999"]) == 1
    assert "snapshot 999 does not exist" in capsys.readouterr().err


def test_ultralytics_allow_empty_splits(proj: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    res = run_json(capsys, "export", str(proj), "--format", "ultralytics", "--out", str(tmp_path / "y"),
                   "--allow-empty-splits")
    assert res["warnings"] and res["counts"]["splits"] == {"train": 4, "val": 1}
    assert sorted(p.name for p in (Path(res["path"]) / "train").iterdir()) == ["cat", "dog"]
    assert sorted(p.name for p in (Path(res["path"]) / "val").iterdir()) == ["dog"]
