"""Shared by the GUI benchmarks: make sure there is a display to render on."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys


def ensure_display(name: str, width: int, height: int) -> None:
    """Without a display (and no other Qt platform chosen), re-run this script under
    ``xvfb-run`` (Mesa's software OpenGL, basic render loop) and exit with its status."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit(f"{name} needs a display or xvfb-run (apt-get install xvfb)")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "QSG_RENDER_LOOP": "basic"}
    sys.exit(subprocess.call([xvfb, "-a", "-s", f"-screen 0 {width}x{height}x24", sys.executable,
                              *sys.argv], env=env))
