"""Label workbench latency: key press -> next image painted, with training in the background.

Runs under Xvfb (re-executes itself through ``xvfb-run`` when no display is set) with the
real LabelView.qml and LabelModel on a generated project (1024x768 JPEGs, squeezenet
embeddings). Labels ``--labels`` images by sending key events; for each, the latency is key
press -> the QQuickWindow's first frameSwapped after the new image is Ready. From label
``--train-at`` on, ``train_round`` runs in the background job runner (restarted whenever it
finishes). An always-running animation makes every frame count, so a gap between two
frames over 100 ms is a stall. Prints JSON lines. Target: p95 < 50 ms, no stalls > 100 ms.
Usage: python benchmarks/label_latency.py [--images 600] [--labels 500] [--train-at 250]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _display import ensure_display  # noqa: E402

W, H = 1280, 800
QML = b"""import QtQuick
import QtQuick.Window
import ClassKit
import ClassKit.Backend
Window { width: %d; height: %d; visible: true
  property Item view: v; property QtObject lm: v.model; property QtObject proj: proj
  JobRunner { id: jobRunner }
  QtObject { id: proj; property string path: ""; property bool isOpen: path !== ""
    property var runner: jobRunner; function refresh() {} }
  LabelView { id: v; anchors.fill: parent; project: proj }
  Rectangle { width: 12; height: 12; color: "red"; x: 2; y: 2
    RotationAnimation on rotation { from: 0; to: 360; duration: 1000; loops: Animation.Infinite } }
}""" % (W, H)


def emit(**row: object) -> None:
    print(json.dumps(row), flush=True)


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 2) if xs else float("nan")


def make_project(root: Path, n: int) -> Path:
    """``n`` 1024x768 JPEGs in 3 folders, ingested, embedded; 10 labels per class; a batch."""
    from PIL import Image

    from classkit.engine.embed.job import embed_project
    from classkit.engine.embed.spec import resolve_model
    from classkit.engine.ingest.pipeline import ingest
    from classkit.engine.labels.events import add_labels
    from classkit.engine.project import Project

    rng = np.random.default_rng(0)
    classes = ["red", "green", "blue"]
    t0 = time.perf_counter()
    small = rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8)
    for i in range(n):
        c = i % 3
        small[i, ..., c] = np.maximum(small[i, ..., c], 180)
        img = Image.fromarray(small[i]).resize((1024, 768), Image.Resampling.BILINEAR)
        path = root / "data" / classes[c] / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=85)
    with Project.create(root / "p", classes=classes) as p:
        ingest(p, [root / "data"])
        embed_project(p, resolve_model("squeezenet1.1"))
        truth = {int(i): Path(s).parent.name for i, s in p.db.execute("SELECT id, path FROM images")}
        for name in classes:
            add_labels(p, sorted(i for i, c in truth.items() if c == name)[:10], name)
    emit(stage="setup", images=n, seconds=round(time.perf_counter() - t0, 1))
    return root / "p"


def run(path: Path, labels: int, train_at: int, think_ms: int) -> None:
    from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEvent, Qt
    from PySide6.QtGui import QGuiApplication, QKeyEvent
    from PySide6.QtQml import QQmlComponent, QQmlEngine

    from classkit.app import main
    from classkit.app.map import pin_none, register_image_providers

    pin_none()
    app = QGuiApplication.instance() or QGuiApplication([])
    engine = QQmlEngine()
    engine.addImportPath(str(main.qml_dir()))
    main._register_label(engine)
    register_image_providers(engine)
    comp = QQmlComponent(engine)
    comp.setData(QML, "")
    win = comp.create()
    if win is None:
        sys.exit(comp.errorString())
    view, lm = win.property("view"), win.property("lm")
    clock = QElapsedTimer()
    clock.start()
    now = lambda: clock.nsecsElapsed() / 1e6  # noqa: E731
    state = {"shown": None, "paint": None, "frames": [], "commits": []}
    view.imageShown.connect(lambda i: state.__setitem__("shown", (i, now())))

    def frame() -> None:
        t = now()
        state["frames"].append(t)
        if state["shown"] is not None and state["paint"] is None:
            state["paint"] = t
    win.frameSwapped.connect(frame)
    lm.committed.connect(lambda out: state["commits"].append((out.get("since_key_ms"), out.get("commit_ms"))))
    win.property("proj").setProperty("path", str(path))
    lm.loadQueue("filter", {"status": "unlabeled"})

    def pump(ms: float, until=lambda: False) -> bool:  # noqa: ANN001
        end = now() + ms
        while now() < end:
            app.processEvents(QEventLoop_all, 5)
            if until():
                return True
        return until()
    from PySide6.QtCore import QEventLoop
    QEventLoop_all = QEventLoop.ProcessEventsFlag.AllEvents  # noqa: N806
    if not pump(60_000, lambda: lm.property("total") >= labels and state["paint"] is not None):
        sys.exit("the queue did not load")
    keys = [c["key"] for c in lm.property("classes")]
    win.requestActivate()
    view.forceActiveFocus()
    misses = 0
    rows, trains, stalls_at, train_t0 = [], 0, [], None
    label_t0 = now()
    for n in range(labels):
        training = n >= train_at
        if training and not lm.property("busy"):
            lm.trainNow()
            trains += 1
            if train_t0 is None:
                train_t0 = now()
        pump(think_ms)
        state["shown"], state["paint"] = None, None
        want = lm.property("upcoming")[0]["id"] if lm.property("upcoming") else None
        f0 = len(state["frames"])
        t_key = now()
        k = keys[n % len(keys)]
        QCoreApplication.sendEvent(win, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_1 + int(k) - 1,
                                                  Qt.KeyboardModifier.NoModifier, k, False))
        ok = pump(2_000, lambda: state["paint"] is not None and state["shown"] is not None)  # noqa: B023
        fr = state["frames"][f0:]
        gaps = [b - a for a, b in zip(fr, fr[1:], strict=False)]
        if gaps and max(gaps) > 100:
            stalls_at.append((n, round(max(gaps), 1)))
        if ok and state["shown"][0] == want:
            rows.append((training, state["paint"] - t_key, bool(lm.property("busy"))))
            misses = 0
        else:
            misses += 1
            if misses >= 5:
                sys.exit(f"no image painted after 5 key presses (label {n}): keys are not reaching the view")
    pump(2_000, lambda: not lm.property("busy"))
    frames = np.diff(state["frames"])
    for phase in (False, True):
        lat = [r[1] for r in rows if r[0] == phase]
        emit(metric="key_to_painted_ms", phase="training" if phase else "idle", n=len(lat),
             p50=pct(lat, 50), p95=pct(lat, 95), max=round(max(lat), 2) if lat else None,
             while_busy=sum(r[2] for r in rows if r[0] == phase))
    allr = [r[1] for r in rows]
    emit(metric="key_to_painted_ms", phase="all", n=len(allr), p50=pct(allr, 50), p95=pct(allr, 95),
         target_p95=50, ok=pct(allr, 95) < 50)
    since = [c[0] for c in state["commits"] if c[0] is not None]
    emit(metric="key_to_committed_ms", n=len(since), p50=pct(since, 50), p95=pct(since, 95),
         max=round(max(since), 2) if since else None, target_max=250,
         commit_p50=pct([c[1] for c in state["commits"]], 50))
    emit(metric="frame_gap_ms", frames=int(len(frames) + 1), p50=pct(list(frames), 50),
         p99=pct(list(frames), 99), max=round(float(frames.max()), 1) if len(frames) else None,
         stalls_over_100ms=int((frames > 100).sum()), stalls_during_labels=stalls_at[:10],
         stall_times_s=[round((state["frames"][i] - label_t0) / 1000, 2)
                        for i in np.flatnonzero(frames > 100)],
         first_train_s=None if train_t0 is None else round((train_t0 - label_t0) / 1000, 2),
         trainings_started=trains)
    lm.close()
    win.close()


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--labels", type=int, default=500)
    ap.add_argument("--train-at", type=int, default=250)
    ap.add_argument("--think-ms", type=int, default=40, help="pause between labels (a fast human)")
    ap.add_argument("--project", type=Path, help="reuse a generated project (copied)")
    args = ap.parse_args()
    ensure_display("benchmarks/label_latency.py", W + 80, H + 80)
    os.environ.setdefault("QSG_RENDER_LOOP", "basic")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "Basic")
    with tempfile.TemporaryDirectory() as tmp:
        path = make_project(Path(tmp), args.images)
        emit(stage="env", platform=os.environ.get("QT_QPA_PLATFORM"), cpus=os.cpu_count(),
             python=sys.version.split()[0])
        run(path, min(args.labels, args.images - 40), args.train_at, args.think_ms)


if __name__ == "__main__":
    main_()
