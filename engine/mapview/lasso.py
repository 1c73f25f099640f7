"""Points inside a polygon (lasso) or rectangle, fast at a million points.

The polygon is rasterised (even-odd rule at cell centres) on a grid over its bounding box;
cells its edges cross are flagged, and only points falling in those cells get the exact
crossing-number test. Every other point is decided by one raster lookup.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _inside(px, py, poly):  # pragma: no cover - numba
    m = poly.shape[0]
    c = False
    j = m - 1
    for i in range(m):
        xi, yi, xj, yj = poly[i, 0], poly[i, 1], poly[j, 0], poly[j, 1]
        if (yi > py) != (yj > py) and px < (xj - xi) * (py - yi) / (yj - yi) + xi:
            c = not c
        j = i
    return c


@numba.njit(cache=True, nogil=True)
def _raster(poly, x0, y0, cw, ch, res):  # pragma: no cover - numba
    grid = np.zeros((res, res), np.uint8)  # 0 out, 1 in, 2 edge
    m = poly.shape[0]
    xs = np.empty(m, np.float64)
    for r in range(res):  # scanline fill at cell centres (even-odd)
        yc = y0 + (r + 0.5) * ch
        k = 0
        j = m - 1
        for i in range(m):
            yi, yj = poly[i, 1], poly[j, 1]
            if (yi > yc) != (yj > yc):
                xs[k] = poly[i, 0] + (yc - yi) * (poly[j, 0] - poly[i, 0]) / (yj - yi)
                k += 1
            j = i
        s = np.sort(xs[:k])
        for p in range(0, k - 1, 2):
            c0 = max(int(np.ceil((s[p] - x0) / cw - 0.5)), 0)
            c1 = min(int(np.floor((s[p + 1] - x0) / cw - 0.5)), res - 1)
            for c in range(c0, c1 + 1):
                grid[r, c] = 1
    j = m - 1
    for i in range(m):  # flag cells along each edge (sampled at quarter-cell steps)
        ax, ay, bx, by = poly[j, 0], poly[j, 1], poly[i, 0], poly[i, 1]
        steps = int(max(abs(bx - ax) / cw, abs(by - ay) / ch) * 4) + 1
        for t in range(steps + 1):
            f = t / steps
            c = min(max(int((ax + (bx - ax) * f - x0) / cw), 0), res - 1)
            r = min(max(int((ay + (by - ay) * f - y0) / ch), 0), res - 1)
            for dr in range(-1, 2):
                for dc in range(-1, 2):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < res and 0 <= cc < res:
                        grid[rr, cc] = 2
        j = i
    return grid


@numba.njit(cache=True, nogil=True)
def _select(coords, visible, poly, grid, x0, y0, cw, ch, res):  # pragma: no cover - numba
    out = np.empty(coords.shape[0], np.int64)
    m = 0
    x1, y1 = x0 + cw * res, y0 + ch * res
    for i in range(coords.shape[0]):
        if not visible[i]:
            continue
        x, y = coords[i, 0], coords[i, 1]
        if x < x0 or y < y0 or x >= x1 or y >= y1:
            continue
        v = grid[int((y - y0) / ch), int((x - x0) / cw)]
        if v == 1 or (v == 2 and _inside(x, y, poly)):
            out[m] = i
            m += 1
    return out[:m]


def lasso_select(coords: np.ndarray, polygon: np.ndarray, visible: np.ndarray | None = None,
                 resolution: int = 512) -> np.ndarray:
    """Sorted rows of the visible points inside ``polygon`` ((m, 2), closed implicitly)."""
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    n = coords.shape[0]
    if poly.shape[0] < 3 or n == 0:
        return np.zeros(0, np.int64)
    vis = np.ones(n, bool) if visible is None else visible
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    cw, ch = max((x1 - x0) / resolution, 1e-12), max((y1 - y0) / resolution, 1e-12)
    grid = _raster(poly, x0, y0, cw, ch, resolution)
    return _select(coords, vis, poly, grid, x0, y0, cw, ch, resolution)


def rect_select(coords: np.ndarray, rect: tuple[float, float, float, float],
                visible: np.ndarray | None = None) -> np.ndarray:
    """Sorted rows of the visible points inside the rectangle (x0, y0, x1, y1), any corner order."""
    ax, ay, bx, by = rect
    x0, x1, y0, y1 = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
    m = (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    if visible is not None:
        m &= visible
    return np.flatnonzero(m).astype(np.int64)
