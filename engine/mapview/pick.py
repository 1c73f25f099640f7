"""A uniform grid over 2-D points: nearest point within a radius in microseconds.

Built once per map (a counting sort of points by cell, CSR layout); a query visits only
the cells the search circle touches and skips points hidden by the visibility mask.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _build(coords, x0, y0, inv, g):  # pragma: no cover - numba
    n = coords.shape[0]
    cell = np.empty(n, np.int64)
    counts = np.zeros(g * g + 1, np.int64)
    for i in range(n):
        cx = min(max(int((coords[i, 0] - x0) * inv), 0), g - 1)
        cy = min(max(int((coords[i, 1] - y0) * inv), 0), g - 1)
        cell[i] = cy * g + cx
        counts[cell[i] + 1] += 1
    for c in range(g * g):
        counts[c + 1] += counts[c]
    fill = counts[:-1].copy()
    rows = np.empty(n, np.int64)
    for i in range(n):
        rows[fill[cell[i]]] = i
        fill[cell[i]] += 1
    return counts, rows


@numba.njit(cache=True, nogil=True)
def _nearest(coords, start, rows, visible, x0, y0, inv, g, x, y, r):  # pragma: no cover
    best, best_d = -1, r * r
    cx0 = max(int((x - r - x0) * inv), 0)
    cx1 = min(int((x + r - x0) * inv), g - 1)
    cy0 = max(int((y - r - y0) * inv), 0)
    cy1 = min(int((y + r - y0) * inv), g - 1)
    for cy in range(cy0, cy1 + 1):
        for cx in range(cx0, cx1 + 1):
            c = cy * g + cx
            for j in range(start[c], start[c + 1]):
                i = rows[j]
                if not visible[i]:
                    continue
                dx, dy = coords[i, 0] - x, coords[i, 1] - y
                d = dx * dx + dy * dy
                if d <= best_d:
                    if d < best_d or best < 0 or i < best:  # ties: lowest row, deterministic
                        best, best_d = i, d
    return best


class PointGrid:
    """Spatial index on ``coords`` (n, 2) float32; about ``per_cell`` points per cell."""

    def __init__(self, coords: np.ndarray, per_cell: float = 4.0, max_cells: int = 2048) -> None:
        self.coords = np.ascontiguousarray(coords, np.float32)
        n = self.coords.shape[0]
        lo = self.coords.min(0) if n else np.zeros(2, np.float32)
        hi = self.coords.max(0) if n else np.ones(2, np.float32)
        self.x0, self.y0 = float(lo[0]), float(lo[1])
        span = max(float(hi[0] - lo[0]), float(hi[1] - lo[1]), 1e-9)
        self.g = int(min(max(np.sqrt(max(n, 1) / per_cell), 1), max_cells))
        self.inv = self.g / (span * (1 + 1e-6))
        self.start, self.rows = _build(self.coords, self.x0, self.y0, self.inv, self.g)

    def nearest(self, x: float, y: float, radius: float, visible: np.ndarray | None = None) -> int:
        """Row of the visible point nearest to (x, y) within ``radius``, or -1."""
        if self.coords.shape[0] == 0 or radius <= 0:
            return -1
        vis = np.ones(self.coords.shape[0], bool) if visible is None else visible
        return int(_nearest(self.coords, self.start, self.rows, vis, self.x0, self.y0, self.inv,
                            self.g, float(x), float(y), float(radius)))
