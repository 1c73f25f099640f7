"""Cold start of the packaged app to a drawn map, against the same app run from the venv.

Each run is a fresh process: ``classkit gui PROJECT --screenshot F`` (offscreen), which quits
once the Explorer's map is loaded and a frame was drawn. Timed from outside (process start
to exit, so the bundle's bootloader counts) and from inside (``ready_s``: map loaded).
For the bundle, "cold" is a fresh HOME (numba compiles the map kernels), "warm" reuses it;
the venv keeps its compiled kernels next to its sources.
The project is the synthetic one of benchmarks/app_start.py (``--n`` images with a map).

    python benchmarks/bundle_start.py --n 100000 --runs 2      # after `make dist`
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from app_start import make_project  # noqa: E402


def _one(cmd: list[str], project: Path, home: Path) -> dict:
    shot = home / "shot.png"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}
    t0 = time.perf_counter()
    res = subprocess.run([*cmd, "gui", str(project), "--screenshot", str(shot)], env=env,
                         capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        return {"error": (res.stderr or res.stdout)[-400:]}
    inner = json.loads(lines[-1])
    return {"wall_s": round(wall, 2), "ready_s": inner.get("ready_s"), "map_status": inner.get("map_status")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--bundle", type=Path, default=None,
                    help="unpacked bundle folder (default: the newest in dist/)")
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache" / "classkit-bench" / "app_start")
    args = ap.parse_args()
    built = [p for p in HERE.parent.glob("dist/classkit-*-linux-*") if p.is_dir()]
    bundle = args.bundle or max(built, key=os.path.getmtime, default=None)
    if bundle is None or not (Path(bundle) / "classkit").is_file():
        sys.exit("bundle_start: no unpacked bundle in dist/ (run make dist)")
    project = make_project(args.dir / f"n{args.n}", args.n)
    venv_cli = shutil.which("classkit", path=str(Path(sys.executable).parent)) or "classkit"
    for name, cmd in (("bundle", [str(Path(bundle) / "classkit")]), ("venv", [venv_cli])):
        with tempfile.TemporaryDirectory(prefix="classkit-bench-home-") as tmp:
            home = Path(tmp)
            for run in range(args.runs + 1):
                rec = _one(cmd, project, home)
                # The venv caches kernels next to its sources (__pycache__), whatever HOME is.
                cache = "in-tree" if name == "venv" else ("cold" if run == 0 else "warm")
                print(json.dumps({"bench": "bundle_start", "app": name, "n": args.n,
                                  "cache": cache, "run": run, **rec,
                                  "load1": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
