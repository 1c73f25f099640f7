"""Regressions from a new-user trial with messy data: output piped into `head`, failure
summaries, hints about files that were not ingested."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from classkit.engine.project import Project


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
