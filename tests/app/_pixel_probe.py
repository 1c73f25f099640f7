"""Render known points with the real scenegraph (run under Xvfb: Mesa llvmpipe OpenGL) and
print what the grabbed frame shows, as one JSON object. Used by test_map_pixels.py."""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("QSG_RENDER_LOOP", "basic")

from PySide6.QtCore import QCoreApplication  # noqa: E402
from PySide6.QtGui import QColor, QGuiApplication, QImage  # noqa: E402
from PySide6.QtQuick import QQuickView, QSGRendererInterface  # noqa: E402

from classkit.app.map import pin_none  # noqa: E402
from classkit.app.map.explorer_model import ExplorerModel  # noqa: E402
from classkit.app.map.loader import MapData  # noqa: E402
from classkit.app.map.scatter_item import ScatterItem  # noqa: E402

W, H = 800, 600


def frame(app: QGuiApplication, view: QQuickView, item: ScatterItem) -> np.ndarray:
    for _ in range(100):
        app.processEvents()
        if not item.busy:
            break
        QCoreApplication.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()
    img = view.grabWindow().convertToFormat(QImage.Format.Format_RGBA8888)
    rows = np.array(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return rows[:, :img.width()]


def show(model: ExplorerModel, item: ScatterItem, pixels: np.ndarray) -> None:
    xy = np.array([[item.mapToData(x + 0.5, y + 0.5).x(), item.mapToData(x + 0.5, y + 0.5).y()]
                   for x, y in pixels], np.float32)
    n = len(xy)
    model.setData(MapData(None, np.arange(n, dtype=np.int64), xy, np.zeros(n, np.int64), ["a"]))


def main() -> None:
    pin_none()
    app = QGuiApplication(sys.argv)
    view = QQuickView()
    view.setColor(QColor("black"))
    view.resize(W, H)
    item = ScatterItem()
    item.setParentItem(view.contentItem())
    item.setWidth(W)
    item.setHeight(H)
    model = ExplorerModel()
    item.model = model
    view.show()
    out: dict = {"api": str(view.rendererInterface().graphicsApi()),
                 "opengl": view.rendererInterface().graphicsApi() == QSGRendererInterface.GraphicsApi.OpenGL}
    # 1) 72,000 one-pixel points (more than 65,536: the uint32 index path) on a 2-px lattice
    item.pointSize, item.pointBudget = 1.0, 1_000_000
    gx, gy = np.meshgrid(np.arange(300) * 2 + 60, np.arange(240) * 2 + 50)
    pixels = np.c_[gx.ravel(), gy.ravel()]
    show(model, item, pixels)
    a = frame(app, view, item)
    lit = a[..., :3].max(-1) > 40
    out["lattice_points"] = int(len(pixels))
    out["lattice_hits"] = int(lit[pixels[:, 1], pixels[:, 0]].sum())
    out["lattice_lit_total"] = int(lit.sum())
    out["lod_mode_full"] = item.lodMode
    # 2) 100 round 9-px points on a 10x10 grid: 100 separate blobs, dark gaps between
    item.pointSize = 9.0
    gx, gy = np.meshgrid(np.arange(10) * 50 + 150, np.arange(10) * 50 + 60)
    centres = np.c_[gx.ravel(), gy.ravel()]
    show(model, item, centres)
    a = frame(app, view, item)
    lit = a[..., :3].max(-1) > 40
    out["blob_centres_lit"] = int(lit[centres[:, 1], centres[:, 0]].sum())
    out["blob_gaps_lit"] = int(lit[centres[:, 1], centres[:, 0] + 25].sum())
    out["blob_lit_total"] = int(lit.sum())
    out["blob_corner_lit"] = int(lit[centres[:, 1] - 4, centres[:, 0] - 4].sum())  # outside the disc
    # 3) level of detail: 200k points, budget 5k -> density texture covering the cloud
    rng = np.random.default_rng(0)
    n = 200_000
    xy = np.clip(rng.normal(0.5, 0.08, (n, 2)), 0, 1).astype(np.float32)
    item.pointSize, item.pointBudget = 3.0, 5000
    model.setData(MapData(None, np.arange(n, dtype=np.int64), xy, rng.integers(0, 3, n), ["a", "b", "c"]))
    a = frame(app, view, item)
    lit = a[..., :3].max(-1) > 40
    c = item.mapFromData(0.5, 0.5)
    out["lod_mode"] = item.lodMode
    out["lod_drawn"] = item.drawnPoints
    out["density_centre_lit"] = bool(lit[int(c.y()) - 3:int(c.y()) + 3, int(c.x()) - 3:int(c.x()) + 3].all())
    out["density_lit_total"] = int(lit.sum())
    print(json.dumps(out))
    view.close()


if __name__ == "__main__":
    main()
