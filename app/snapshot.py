"""``classkit gui PROJECT --screenshot FILE``: open the app, wait for the map, save a frame.

For reports and headless checks (the packaged bundle's smoke test uses it): the window is
grabbed after the Explorer has finished loading (or failed to) and a frame was drawn after
that, so the picture shows what a user would see. Prints one JSON line with the timings.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtQml import QQmlApplicationEngine

SETTLED = ("ready", "nomap", "error")


def arm(app: QGuiApplication, engine: QQmlApplicationEngine, path: Path, t0: float,
        with_project: bool, timeout_ms: int = 120_000) -> None:
    """Save ``path`` once the map has settled (or, ``with_project`` False, the window is up)
    and been drawn, then quit: exit code 0, or 3 when the picture could not be written.
    Gives up and quits with 4 after ``timeout_ms``."""
    root = engine.rootObjects()[0]
    out: dict = {"screenshot": str(path)}
    state = {"done": False}

    def status() -> str:
        model = root.findChild(QObject, "explorerModel")
        return str(model.property("status")) if model is not None else "unavailable"

    def grab() -> None:
        if state["done"]:
            return
        state["done"] = True
        out["frame_s"] = round(time.perf_counter() - t0, 3)
        image = root.grabWindow()
        ok = not image.isNull() and image.save(str(path))
        out["saved"] = bool(ok)
        out["size"] = [image.width(), image.height()]
        print(json.dumps(out), flush=True)
        app.exit(0 if ok else 3)

    def poll() -> None:
        current = status()
        if current in SETTLED or not with_project:
            out["map_status"] = current
            out["ready_s"] = round(time.perf_counter() - t0, 3)
            root.frameSwapped.connect(lambda: QTimer.singleShot(0, grab))
            root.contentItem().update()
            QTimer.singleShot(3000, grab)  # no frame swap (some platforms): grab anyway
            return
        QTimer.singleShot(20, poll)

    def give_up() -> None:
        if not state["done"]:
            state["done"] = True
            sys.stderr.write(f"classkit: the map did not finish loading (status {status()!r})\n")
            app.exit(4)

    QTimer.singleShot(0, poll)
    QTimer.singleShot(timeout_ms, give_up)
