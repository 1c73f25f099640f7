"""Cold start of the desktop app: process start → Explorer map ready and painted.

Builds (once, cached) a synthetic project of ``--n`` images with a map version (image rows
written straight into SQLite; the map needs no pixels), then starts fresh Python processes
that run the real app setup (``classkit.app.main.create_engine`` on the project) and
report, in seconds since the process started: imports done, main window loaded, Explorer
status "ready", and the first frame swapped after that. JSON lines. Target (issue 7):
map shown within 3 s at 100k.

    python benchmarks/app_start.py --n 100000 --runs 3     # offscreen by default
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, json
T0 = float(sys.argv[2])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from classkit.app.main import create_engine
t_imp = time.time() - T0
app = QGuiApplication(sys.argv[:1])
engine = create_engine(sys.argv[1])
t_win = time.time() - T0
root = engine.rootObjects()[0]
out = {"imports_s": round(t_imp, 3), "window_s": round(t_win, 3)}
def poll():
    model = root.findChild(QObject, "explorerModel")
    if model is not None and model.property("status") in ("ready", "error", "nomap"):
        out["status"] = model.property("status")
        out["ready_s"] = round(time.time() - T0, 3)
        def swapped():
            out.setdefault("first_frame_after_ready_s", round(time.time() - T0, 3))
            print(json.dumps(out), flush=True)
            app.quit()
        root.frameSwapped.connect(swapped)
        root.update() if hasattr(root, "update") else None
        root.contentItem().update()
        QTimer.singleShot(5000, lambda: (print(json.dumps(out), flush=True), app.quit()))
        return
    QTimer.singleShot(5, poll)
QTimer.singleShot(0, poll)
QTimer.singleShot(60000, app.quit)
app.exec()
"""


def make_project(root: Path, n: int) -> Path:
    """A project with ``n`` image rows, 10 classes, 5% labeled, and a map version."""
    import numpy as np

    from classkit.engine.fsutil import write_json_atomic
    from classkit.engine.project import Project

    marker = root / "ready.json"
    if marker.is_file():
        return root
    classes = [f"class{i}" for i in range(10)]
    project = Project.create(root, classes=classes)
    rng = np.random.default_rng(0)
    now = time.time()
    with project.transaction() as con:
        con.executemany(
            "INSERT INTO images(id, path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ((i + 1, f"/nonexistent/img_{i:07d}.png", f"h{i}", 1, 1, 64, 64, "PNG", now) for i in range(n)))
        lab = rng.choice(n, n // 20, replace=False)
        con.executemany("INSERT INTO label_events(image_id, label, source, created_at) VALUES (?,?,?,?)",
                        ((int(i) + 1, classes[int(i) % 10], "manual", now) for i in lab))
    ids = np.arange(1, n + 1, dtype=np.int64)
    centres = rng.random((200, 2))
    coords = (centres[rng.integers(0, 200, n)] + rng.normal(0, 0.02, (n, 2))).astype(np.float32)
    version, folder = project.new_version_dir("map")
    np.save(folder / "ids.npy", ids)
    np.save(folder / "coords.npy", coords)
    lo, hi = coords.min(0), coords.max(0)
    np.save(folder / "display.npy", ((coords - lo) / (hi - lo)).astype(np.float32))
    write_json_atomic(folder / "manifest.json", {"embedding_version": "synthetic", "count": n})
    project.register_artifact("map", version, {"embedding_version": "synthetic", "count": n})
    project.close()
    marker.write_text("{}")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path.home() / ".cache" / "classkit-bench" / "app_start")
    args = ap.parse_args()
    root = make_project(args.dir / f"n{args.n}", args.n)
    env = {**os.environ, "QSG_RENDER_LOOP": os.environ.get("QSG_RENDER_LOOP", "basic")}
    for run in range(args.runs):
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", CHILD, str(root), repr(t0)], capture_output=True,
                             text=True, env=env, timeout=120)
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        rec = json.loads(lines[-1]) if lines else {"error": res.stderr[-500:]}
        print(json.dumps({"bench": "app_start", "n": args.n, "run": run,
                          "platform": os.environ.get("QT_QPA_PLATFORM", "offscreen"), **rec,
                          "load1": round(os.getloadavg()[0], 2)}), flush=True)


if __name__ == "__main__":
    main()
