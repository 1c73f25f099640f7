"""Explorer map: rendering and interaction hot paths, with and without level of detail.

Runs under Xvfb with Mesa's software OpenGL (llvmpipe) — it re-executes itself through
``xvfb-run`` when no display is set — and prints one JSON object per line:
  engine   grid build, pick latency, lasso at 1M, density binning, LOD plan
  render   per N and LOD on/off: first frame from cached coords (np.load -> drawn frame),
           frame time while panning and while zooming, idle full-detail frame
Targets (issue 7): with LOD, frame at 1M < 33 ms on software GL; first frame < 1 s;
pick < 1 ms; lasso < 50 ms.  Usage: python benchmarks/map.py [--sizes 100000,1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _display import ensure_display  # noqa: E402

W, H = 1200, 800


def blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """UMAP-like coords in [0, 1]: 30 gaussian clusters of varied size; labels by cluster."""
    rng = np.random.default_rng(seed)
    k = 30
    centres, scales = rng.random((k, 2)) * 0.8 + 0.1, rng.uniform(0.01, 0.06, k)
    lab = rng.integers(0, k, n)
    xy = np.clip(centres[lab] + rng.normal(0, 1, (n, 2)) * scales[lab, None], 0, 1).astype(np.float32)
    return xy, lab % 10


def emit(**row: object) -> None:
    print(json.dumps({"bench": "map", "python": platform.python_version(), **row}), flush=True)


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def bench_engine(n: int) -> None:
    from classkit.engine.mapview import colors, lod
    from classkit.engine.mapview.lasso import lasso_select
    from classkit.engine.mapview.pick import PointGrid
    xy, lab = blobs(n)
    vis = np.ones(n, bool)
    t = time.perf_counter()
    grid = PointGrid(xy)
    build = time.perf_counter() - t
    rng = np.random.default_rng(1)
    q = xy[rng.integers(0, n, 2000)] + rng.normal(0, 0.002, (2000, 2)).astype(np.float32)
    grid.nearest(0.5, 0.5, 0.005, vis)
    lat = []
    for x, y in q:
        t = time.perf_counter()
        grid.nearest(float(x), float(y), 0.005, vis)
        lat.append(time.perf_counter() - t)
    ang = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    poly = np.c_[0.5 + 0.3 * np.cos(ang) * (1 + 0.2 * np.sin(5 * ang)), 0.5 + 0.3 * np.sin(ang)]
    lasso_select(xy, poly, vis)
    lt = []
    for _ in range(5):
        t = time.perf_counter()
        sel = lasso_select(xy, poly, vis)
        lt.append(time.perf_counter() - t)
    cats = lab.astype(np.int32)
    pal = colors.categorical_palette(10)
    lod.density_image(xy, vis, (0, 0, 1, 1), (W // 2, H // 2), cats, pal)
    bt = []
    for _ in range(5):
        t = time.perf_counter()
        lod.density_image(xy, vis, (0, 0, 1, 1), (W // 2, H // 2), cats, pal)
        bt.append(time.perf_counter() - t)
    order = lod.shuffled_order(n)
    lod.plan_view(xy, order, vis, (0.0, 0.0, 1.0, 1.0), (W, H), cats, pal)
    pt = []
    for _ in range(3):
        t = time.perf_counter()
        lod.plan_view(xy, order, vis, (0.0, 0.0, 1.0, 1.0), (W, H), cats, pal)
        pt.append(time.perf_counter() - t)
    emit(case="engine", n=n, grid_build_ms=ms(build), pick_median_us=round(statistics.median(lat) * 1e6, 2),
         pick_p99_us=round(float(np.percentile(lat, 99)) * 1e6, 2), lasso_ms=ms(min(lt)),
         lasso_selected=int(sel.size), density_bin_ms=ms(min(bt)), lod_plan_ms=ms(min(pt)))


class Harness:
    """A QQuickView with one ScatterItem bound to an ExplorerModel; frames counted."""

    def __init__(self) -> None:
        from PySide6.QtGui import QColor, QGuiApplication
        from PySide6.QtQuick import QQuickView

        from classkit.app.map import pin_none
        from classkit.app.map.explorer_model import ExplorerModel
        from classkit.app.map.scatter_item import ScatterItem
        pin_none()
        self.app = QGuiApplication.instance() or QGuiApplication(sys.argv)
        self.view = QQuickView()
        self.view.setColor(QColor("#1e1f22"))
        self.view.resize(W, H)
        self.item = ScatterItem()
        self.item.setParentItem(self.view.contentItem())
        self.item.setWidth(W)
        self.item.setHeight(H)
        self.model = ExplorerModel()
        self.item.model = self.model
        self.frames = 0
        self.view.frameSwapped.connect(self._tick)
        self.view.show()
        self.wait_frame()

    def _tick(self) -> None:
        self.frames += 1

    def wait_frame(self, timeout: float = 60.0) -> float:
        f, t = self.frames, time.perf_counter()
        while self.frames == f and time.perf_counter() - t < timeout:
            self.app.processEvents()
        return time.perf_counter() - t

    def settle(self) -> None:
        t = time.perf_counter()
        while (self.item.busy or self.item.lodMode == "empty") and time.perf_counter() - t < 60:
            self.app.processEvents()
            time.sleep(0.002)
        self.item.update()
        self.wait_frame()

    def frame_times(self, step, count: int) -> list[float]:
        out = []
        for _ in range(count):
            t = time.perf_counter()
            step()
            self.wait_frame()
            out.append(time.perf_counter() - t)
        return out


def bench_render(h: Harness, n: int, lod_on: bool, folder: Path) -> None:
    from classkit.app.map.loader import MapData
    from classkit.engine.mapview.lod import LodParams
    xy, lab = blobs(n)
    np.save(folder / "display.npy", xy)
    np.save(folder / "ids.npy", np.arange(n, dtype=np.int64))
    h.item.pointBudget = LodParams().point_cap if lod_on else 10**8
    h.item.resetView()
    h.model.openProject("")
    h.settle()
    t0 = time.perf_counter()
    coords, ids = np.load(folder / "display.npy"), np.load(folder / "ids.npy")
    h.model.setData(MapData(None, ids, coords, lab.astype(np.int64) - 1, [f"c{i}" for i in range(9)]))
    while h.item.lodMode == "empty":
        h.app.processEvents()
    h.item.update()
    h.wait_frame()
    first = time.perf_counter() - t0
    mode_first = h.item.lodMode
    h.settle()
    h.model.waitForIdle()  # the pick grid is built in the background
    h.app.processEvents()
    idle_mode, idle_drawn = h.item.lodMode, h.item.drawnPoints
    pick = []
    for x, y in np.random.default_rng(2).random((500, 2)) * [W, H]:
        t = time.perf_counter()
        h.item.pick_row(float(x), float(y))
        pick.append(time.perf_counter() - t)
    count = 20 if (lod_on or n <= 100_000) else 4
    idle = h.frame_times(h.item.update, 5 if count > 4 else 2)
    h.item.interacting = True
    pan = h.frame_times(lambda: h.item.panBy(7, 3), count)
    zoom = h.frame_times(lambda: h.item.zoomAt(1.03, W * 0.4, H * 0.6), count)
    moving_mode, moving_drawn = h.item.lodMode, h.item.drawnPoints
    h.item.interacting = False
    h.settle()
    emit(case="render", n=n, lod=lod_on, first_frame_ms=ms(first), first_frame_mode=mode_first,
         pan_frame_ms_median=ms(statistics.median(pan)), pan_frame_ms_max=ms(max(pan)),
         zoom_frame_ms_median=ms(statistics.median(zoom)), zoom_frame_ms_max=ms(max(zoom)),
         moving_mode=moving_mode, moving_drawn=moving_drawn, idle_frame_ms_median=ms(statistics.median(idle)),
         idle_mode=idle_mode, idle_drawn=idle_drawn, after_zoom_mode=h.item.lodMode,
         item_pick_median_us=round(statistics.median(pick) * 1e6, 2),
         gl=h.view.rendererInterface().graphicsApi().name, window=f"{W}x{H}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--no-lod-max", type=int, default=1_000_000, help="largest N rendered without LOD")
    args = ap.parse_args()
    ensure_display("benchmarks/map.py", W + 80, H + 80)
    os.environ.setdefault("QSG_RENDER_LOOP", "basic")
    sizes = [int(s) for s in args.sizes.split(",")]
    bench_engine(max(sizes))
    h = Harness()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for lod_on in (True, False):
                if lod_on or n <= args.no_lod_max:
                    bench_render(h, n, lod_on, Path(tmp))


if __name__ == "__main__":
    main()
