"""``classkit gui``: the CLI loads Qt only inside the command; the app starts offscreen."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from classkit.engine.project import Project

SMOKE = """
import argparse, sys
from classkit.cli.commands import gui_cmd
parser = argparse.ArgumentParser()
gui_cmd.register(parser.add_subparsers())
args = parser.parse_args(["gui", *sys.argv[1:]])
raise SystemExit(args.func(args))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    """Offscreen, with QSettings (recent projects) in the test's folder, not the user's."""
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_cli_modules_do_not_load_qt() -> None:
    code = ("import sys, classkit.cli.main, classkit.cli.commands.gui_cmd; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]; "
            "print(*bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"Qt loaded by the CLI: {out.stdout} {out.stderr}"


def test_gui_starts_offscreen_on_a_project_and_quits(tmp_path: Path) -> None:
    Project.create(tmp_path / "proj", name="smoke", classes=["a"]).close()
    out = subprocess.run([sys.executable, "-c", SMOKE, str(tmp_path / "proj"), "--quit-after", "1500"],
                         capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Error" not in out.stderr and "TypeError" not in out.stderr, out.stderr


def test_gui_reports_a_missing_project(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SMOKE, str(tmp_path / "nope"), "--quit-after", "500"],
                         capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert out.returncode == 1


def test_classkit_gui_and_the_launcher(tmp_path: Path) -> None:
    from classkit.cli.main import RESERVED

    if "gui" in RESERVED:
        pytest.skip("`classkit gui` is not registered in cli/main.py yet")
    Project.create(tmp_path / "proj", name="smoke").close()
    proj = str(tmp_path / "proj")
    launcher = "from classkit.cli.commands.gui_cmd import main; main()"  # classkit-gui
    for cmd in ([sys.executable, "-m", "classkit.cli.main", "gui", proj, "--quit-after", "1000"],
                [sys.executable, "-c", launcher, proj, "--quit-after", "1000"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env(tmp_path))
        assert out.returncode == 0, out.stderr


def test_gui_without_a_display_is_a_clear_error(monkeypatch, capsys) -> None:  # noqa: ANN001
    """No display and no Qt platform chosen: one clear line, exit 1, Qt never loaded."""
    import sys as _sys

    from classkit.cli.main import main as cli_main

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_sys, "platform", "linux")
    assert cli_main(["gui"]) == 1
    assert "no display found" in capsys.readouterr().err
