"""Regressions from a new-user trial with messy data: output piped into `head`, failure
summaries, hints about files that were not ingested."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from classkit.cli.main import main
from classkit.engine.project import Project
from tests.conftest import make_image


def _cmd() -> list[str]:
    exe = Path(sys.executable).with_name("classkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "classkit.cli"]


def test_output_into_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`classkit status PROJECT | head -1`: the reader leaves early; no traceback."""
    Project.create(tmp_path / "p", name="p", classes=["a", "b"]).close()
    proc = subprocess.Popen([*_cmd(), "status", str(tmp_path / "p")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()  # long before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 1


def test_embed_text_output_counts_and_explains_failures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files deleted after ingest: the summary must not claim they were embedded."""
    proj = tmp_path / "p"
    for i in range(4):
        make_image(tmp_path / "imgs" / f"{i}.jpg", seed=i)
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(tmp_path / "imgs"), "--workers", "1"]) == 0
    (tmp_path / "imgs" / "3.jpg").unlink()
    capsys.readouterr()
    assert main(["embed", str(proj), "--model", "squeezenet1.1"]) == 0
    out = capsys.readouterr().out
    assert "Embedded 3 of 4 image(s)" in out, out
    assert "failed: 1 (missing 1)" in out and "3.jpg: missing" in out, out


def test_ingest_says_when_a_dataset_created_classes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_image(tmp_path / "a.jpg")
    (tmp_path / "list.csv").write_text("path,label\na.jpg,heron\n")
    assert main(["init", str(tmp_path / "p"), "--classes", "cat"]) == 0
    capsys.readouterr()
    assert main(["ingest", str(tmp_path / "p"), str(tmp_path / "list.csv")]) == 0
    assert "Created 1 class(es)" in capsys.readouterr().out


def test_label_csv_summary_counts_repeated_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """BOM, CRLF, a quoted path with a comma, trailing spaces, a repeated row: every row is
    accounted for in the one-line summary."""
    make_image(tmp_path / "imgs" / "a, b.jpg")
    make_image(tmp_path / "imgs" / "c.jpg", seed=1)
    assert main(["init", str(tmp_path / "p"), "--classes", "cat,dog"]) == 0
    assert main(["ingest", str(tmp_path / "p"), str(tmp_path / "imgs")]) == 0
    text = 'path,label\r\n"imgs/a, b.jpg",cat  \r\nimgs/c.jpg ,Dog\r\nimgs/c.jpg,dog\r\n'
    (tmp_path / "l.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    capsys.readouterr()
    assert main(["label", str(tmp_path / "p"), "--csv", str(tmp_path / "l.csv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 row(s): labeled 2,") and "repeated 1" in out, out


def test_export_inside_the_data_folder_is_not_ingested_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, proj = tmp_path / "data", str(tmp_path / "p")
    for i in range(3):
        make_image(data / f"{i}.jpg", seed=i)
    assert main(["init", proj, "--classes", "cat"]) == 0
    assert main(["ingest", proj, str(data)]) == 0
    assert main(["label", proj, "--id", "1", "--id", "2", "--id", "3", "--set", "cat"]) == 0
    assert main(["export", proj, "--format", "imagefolder", "--out", str(data / "exports")]) == 0
    capsys.readouterr()
    assert main(["ingest", proj, str(data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["added"] == 0 and summary["unchanged"] == 3, summary
    assert any("1 ClassKit export folder(s)" in h for h in summary["hints"]), summary["hints"]


def test_thumbs_says_how_many_failures_are_not_listed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, proj = tmp_path / "data", str(tmp_path / "p")
    for i in range(22):
        make_image(data / f"{i:02d}.jpg", size=(16, 12), seed=i)
    assert main(["init", proj]) == 0
    assert main(["ingest", proj, str(data), "--workers", "1"]) == 0
    for f in data.iterdir():
        f.unlink()
    capsys.readouterr()
    assert main(["thumbs", proj, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "failed 22" in out and "... and 2 more" in out, out


def test_predict_out_that_cannot_be_a_file_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = str(tmp_path / "p")
    assert main(["init", proj]) == 0
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["predict", proj, "--out", str(tmp_path)]) == 1
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["predict", proj, "--out", str(tmp_path / "afile" / "p.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("classkit: error: cannot create the folder for") and "Traceback" not in err


def test_os_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from classkit.cli.commands import project_cmds

    def full(*args: object) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(project_cmds, "cmd_status", full)
    assert main(["status", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"classkit: error: no space left on the disk ({tmp_path / 'x'}): "
                                       f"free some space and run it again\n")

    def denied(*args: object) -> int:
        raise PermissionError(13, "Permission denied", str(tmp_path / "y"))

    monkeypatch.setattr(project_cmds, "cmd_status", denied)
    assert main(["status", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"classkit: error: Permission denied: {tmp_path / 'y'}\n"


def test_bad_ingest_option_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    assert main(["ingest", str(tmp_path / "p"), str(tmp_path), "--fps", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("classkit: error: --fps: must be between"), err


def test_init_with_an_undecodable_name_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/pr\xe9")
    assert main(["init", bad]) == 1
    err = capsys.readouterr().err
    assert err.startswith("classkit: error: the project path") and "pr\\xe9" in err, err
    assert not os.path.lexists(bad)
