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


def _project_with_map(root: Path) -> tuple[Path, list[str]]:
    """A project whose 300 images are all labeled (3 classes, their own colours) and placed
    on a map in three blobs: no pixels or embeddings needed to draw it."""
    import time

    import numpy as np

    from classkit.engine.fsutil import write_json_atomic

    project = Project.create(root, name="shot", classes=["a", "b", "c"])
    colours = [c.color for c in project.classes()]
    n, now = 300, time.time()
    with project.transaction() as con:
        con.executemany(
            "INSERT INTO images(id, path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ((i + 1, f"/nonexistent/{i}.png", f"h{i}", 1, 1, 8, 8, "PNG", now) for i in range(n)))
        con.executemany("INSERT INTO label_events(image_id, label, source, created_at) VALUES (?,?,?,?)",
                        ((i + 1, "abc"[i % 3], "manual", now) for i in range(n)))
    rng = np.random.default_rng(0)
    centres = np.array([[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]])
    coords = (centres[np.arange(n) % 3] + rng.normal(0, 0.05, (n, 2))).astype(np.float32)
    version, folder = project.new_version_dir("map")
    np.save(folder / "ids.npy", np.arange(1, n + 1, dtype=np.int64))
    np.save(folder / "coords.npy", coords)
    np.save(folder / "display.npy", ((coords - coords.min(0)) / np.ptp(coords, 0)).astype(np.float32))
    write_json_atomic(folder / "manifest.json", {"embedding_version": "synthetic", "count": n})
    project.register_artifact("map", version, {"embedding_version": "synthetic", "count": n})
    project.close()
    return root, colours


def test_screenshot_shows_the_map_in_the_class_colours(tmp_path: Path) -> None:
    """`classkit gui P --screenshot F`: waits for the map, saves the drawn window, quits; the
    points are drawn in the project's class colours, the app log goes to the log folder."""
    import importlib.util
    import json

    proj, colours = _project_with_map(tmp_path / "proj")
    shot = tmp_path / "shot.png"
    env = {**_env(tmp_path), "CLASSKIT_LOG_DIR": str(tmp_path / "logs")}
    cmd = [sys.executable, "-m", "classkit.cli.main", "gui", str(proj), "--screenshot", str(shot)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["map_status"] == "ready" and report["saved"] and report["frame_s"] >= report["ready_s"]
    script = Path(__file__).parents[2] / "scripts" / "png_stats.py"
    spec = importlib.util.spec_from_file_location("png_stats", script)
    png_stats = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(png_stats)
    stats = png_stats.stats(str(shot), colours)
    # 100 points of each class (the legend swatch alone is ~100 px): the map is drawn.
    assert all(v > 400 for v in stats["near"].values()), stats
    assert "job" in (tmp_path / "logs" / "classkit-gui.log").read_text()
