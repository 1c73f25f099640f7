"""One immutable snapshot of what the map shows: coordinates, colours, visibility.

The view model builds a new :class:`MapLayer` when the colour mode, hidden classes or
filters change (coordinates, the shuffled order and the pick grid are shared); the
scatter item and its worker thread only read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .colors import Coloring
from .lasso import lasso_select, rect_select
from .lod import LodParams, ViewPlan, pack_vertices, plan_view, subsample
from .pick import PointGrid


@dataclass
class MapLayer:
    """Points in display coordinates [0, 1] with colours and a visibility mask."""

    coords: np.ndarray            # (n, 2) float32
    coloring: Coloring
    visible: np.ndarray           # (n,) bool
    order: np.ndarray             # fixed shuffled permutation (int64)
    grid: PointGrid | None        # None while it is being built: picking finds nothing yet
    rgba: np.ndarray = field(init=False)
    visible_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.rgba = self.coloring.point_rgba()
        self.visible_count = int(self.visible.sum())

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    def pick(self, x: float, y: float, radius: float) -> int:
        """Row of the visible point nearest (x, y) within ``radius`` (data units), or -1."""
        return -1 if self.grid is None else self.grid.nearest(x, y, radius, self.visible)

    def lasso(self, polygon: np.ndarray) -> np.ndarray:
        return lasso_select(self.coords, polygon, self.visible)

    def rect(self, rect: tuple[float, float, float, float]) -> np.ndarray:
        return rect_select(self.coords, rect, self.visible)

    def all_visible(self) -> np.ndarray:
        return self.order[self.visible[self.order]]

    def subsample(self, k: int) -> np.ndarray:
        return subsample(self.order, self.visible, k)

    def plan(self, view: tuple[float, float, float, float], viewport_px: tuple[int, int],
             params: LodParams) -> ViewPlan:
        c = self.coloring
        return plan_view(self.coords, self.order, self.visible, view, viewport_px, c.categories,
                         c.palette, c.values, c.lut, params)

    def vertices(self, rows: np.ndarray) -> np.ndarray:
        """Vertices of ``rows`` in reverse: rows come in ``order`` (most important first) and
        the GPU paints later points over earlier ones, so the first rows end up on top."""
        return pack_vertices(self.coords, self.rgba, np.asarray(rows)[::-1])
