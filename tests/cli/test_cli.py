"""The `classkit` command: init, ingest, status, thumbs, demo; --json; exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from classkit.cli.main import RESERVED, main

from .helpers import run_json
from tests.conftest import make_image


@pytest.fixture
def images(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for i in range(6):
        make_image(src / f"img_{i}.jpg", seed=i)
    make_image(src / "sub" / "deep.PNG", fmt="PNG", seed=99)
    (src / "broken.jpg").write_text("not an image")
    return src


def test_init_ingest_status_thumbs(tmp_path: Path, images: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "p"
    info = run_json(capsys, "init", str(proj), "--name", "Bees", "--classes", "worker,drone")
    assert info["project"] == "Bees"
    assert [c["key"] for c in info["classes"]] == ["1", "2"]
    assert (proj / "classkit_project.json").is_file()

    summary = run_json(capsys, "ingest", str(proj), str(images))
    assert summary["added"] == 7
    assert summary["issues_by_reason"] == {"not_an_image": 1}

    again = run_json(capsys, "ingest", str(proj), str(images))
    assert again["added"] == 0 and again["unchanged"] == 7

    status = run_json(capsys, "status", str(proj))
    assert status["images"] == 7
    assert status["ingest_issues"] == 1
    assert status["labeled"] == 0
    assert [c["name"] for c in status["classes"]] == ["worker", "drone"]
    assert status["issues"][0]["reason"] == "not_an_image"

    thumbs = run_json(capsys, "thumbs", str(proj))
    assert thumbs["built"] == 7 and thumbs["failed"] == 0
    assert run_json(capsys, "status", str(proj))["thumbnails"]["files"] == 7


def test_human_output(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "p"
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(images)]) == 0
    out = capsys.readouterr().out
    assert "Added 7" in out and "not_an_image" in out
    assert main(["status", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "Images    7" in out and "1 open ingest issue" in out


def test_imagefolder_labels_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    for cls in ("ant", "bee"):
        for i in range(3):
            make_image(tree / cls / f"{i}.jpg", seed=hash(cls) % 1000 + i)
    proj = tmp_path / "p"
    main(["init", str(proj)])
    capsys.readouterr()
    auto = run_json(capsys, "ingest", str(proj), str(tree))
    assert auto["labels_imported"] == 0
    assert any("--kind imagefolder" in h for h in auto["hints"])
    labeled = run_json(capsys, "ingest", str(proj), str(tree), "--kind", "imagefolder")
    assert labeled["labels_imported"] == 6 and labeled["added"] == 0
    status = run_json(capsys, "status", str(proj))
    assert status["labeled"] == 6
    assert {c["name"]: c["count"] for c in status["classes"]} == {"ant": 3, "bee": 3}


def test_errors_are_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a ClassKit project" in err
    main(["init", str(tmp_path / "p")])
    capsys.readouterr()
    assert main(["init", str(tmp_path / "p")]) == 1
    assert "already holds" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "p"), str(tmp_path / "missing")]) == 1
    assert "source not found" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "q"), "--classes", "ok,unsure"]) == 1
    assert "reserved" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ingest"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(tmp_path), str(tmp_path), "--kind", "bogus"])
    assert exc.value.code == 2
    for name in RESERVED:  # names kept for later releases (none at the moment)
        assert main([name, str(tmp_path)]) == 2
        assert "not available" in capsys.readouterr().err


def test_entry_point_subprocess(tmp_path: Path) -> None:
    """The installed console script works as a user runs it, with --json on stdout only."""
    exe = Path(sys.executable).with_name("classkit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "classkit.cli"]
    env = {**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"}
    res = subprocess.run([*cmd, "init", str(tmp_path / "p"), "--json"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["root"] == str(tmp_path / "p")
    res = subprocess.run([*cmd, "status", str(tmp_path / "nothing")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.startswith("classkit: error:")


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "demo", str(tmp_path / "demo"))
    status = result["status"]
    kinds = status["images_by_kind"]
    assert kinds["file"] >= 120 and kinds["frame"] >= 3 and kinds["crop"] == 6
    assert status["labeled"] >= 120
    assert set(status["ingest_issues_by_reason"]) >= {"empty_file", "not_an_image", "truncated"}
    assert result["thumbnails"]["failed"] == 0
    # the whole loop ran: map, clusters, a trained round, a first batch
    assert result["map"]["count"] == result["embeddings"]["count"]
    assert result["train"]["round"] == 1 and result["train"]["metrics"]["val"]["accuracy"] >= 0.8
    assert 0 < len(result["batch"]["items"]) <= 20
    again = run_json(capsys, "demo", str(tmp_path / "demo"))
    assert sum(r["added"] for r in again["ingest"]) == 0 and again["train"]["round"] == 2


def test_classes_add_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "p"
    main(["init", str(proj), "--classes", "cat"])
    capsys.readouterr()
    out = run_json(capsys, "classes", str(proj), "--add", "dog", "--color", "#112233",
                   "--description", "any dog")
    assert out["classes"][1] == {"name": "dog", "key": "2", "color": "#112233",
                                 "description": "any dog"}
    out = run_json(capsys, "classes", str(proj), "--edit", "cat", "--key", "c")
    assert out["classes"][0]["key"] == "c"
    assert main(["classes", str(proj), "--edit", "dog", "--key", "c"]) == 1
    assert "already used" in capsys.readouterr().err
    assert main(["classes", str(proj), "--edit", "dog", "--color", "red"]) == 1
    assert "color" in capsys.readouterr().err
    assert main(["classes", str(proj), "--edit", "emu"]) == 1
    assert main(["classes", str(proj)]) == 0
    assert "[c] cat" in capsys.readouterr().out


def test_classes_add_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `--add a --add b` once kept only b, and `--add a,b` made one class named "a,b"
    proj = tmp_path / "p"
    main(["init", str(proj)])
    capsys.readouterr()
    out = run_json(capsys, "classes", str(proj), "--add", "walk, rest", "--add", "groom")
    assert [(c["name"], c["key"]) for c in out["classes"]] == [("walk", "1"), ("rest", "2"), ("groom", "3")]
    assert main(["classes", str(proj), "--add", "run,jump", "--key", "r"]) == 1
    assert "one at a time" in capsys.readouterr().err
    assert main(["classes", str(proj), "--add", "run", "--add", "rest"]) == 1
    assert "'rest' already exists" in capsys.readouterr().err
    assert main(["classes", str(proj), "--add", "run,Run"]) == 1
    assert "twice" in capsys.readouterr().err
    assert main(["classes", str(proj), "--add", " , "]) == 1
    out = run_json(capsys, "classes", str(proj))
    assert [c["name"] for c in out["classes"]] == ["walk", "rest", "groom"]  # nothing half-added
