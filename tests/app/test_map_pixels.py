"""The map really draws: render known points under Xvfb with Mesa's software OpenGL
(llvmpipe) and count lit pixels in the grabbed frame (tests/app/_pixel_probe.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("_pixel_probe.py")


@pytest.fixture(scope="module")
def probe() -> dict:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run is not installed (scripts/system-deps.sh installs xvfb)")
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "QSG_RENDER_LOOP": "basic",
           "LIBGL_ALWAYS_SOFTWARE": "1"}
    env.pop("QT_QUICK_BACKEND", None)
    res = subprocess.run([xvfb, "-a", "-s", "-screen 0 1024x768x24", sys.executable, str(PROBE)],
                         capture_output=True, text=True, timeout=240, env=env)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert res.returncode == 0 and lines, f"probe failed ({res.returncode}):\n{res.stderr[-3000:]}"
    out = json.loads(lines[-1])
    if not out["opengl"]:
        pytest.skip(f"no OpenGL under Xvfb here ({out['api']})")
    return out


def test_every_point_of_a_72k_lattice_is_drawn(probe):
    """More than 65,536 one-pixel points: all drawn (uint32 indices), nothing else lit."""
    assert probe["lod_mode_full"] == "points"
    assert probe["lattice_hits"] == probe["lattice_points"] == 72_000
    assert probe["lattice_lit_total"] == 72_000


def test_points_are_round_blobs(probe):
    assert probe["blob_centres_lit"] == 100 and probe["blob_gaps_lit"] == 0
    assert probe["blob_corner_lit"] == 0                       # a disc, not a square
    assert 100 * 50 <= probe["blob_lit_total"] <= 100 * 81     # ~π·4.5² px per point


def test_density_texture_when_over_budget(probe):
    assert probe["lod_mode"] == "density" and 0 < probe["lod_drawn"] <= 5000
    assert probe["density_centre_lit"] and probe["density_lit_total"] > 10_000
