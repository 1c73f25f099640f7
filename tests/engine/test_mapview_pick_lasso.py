"""Picking (spatial grid) and lasso/rectangle selection on the map (pure numpy/numba)."""
from __future__ import annotations

import numpy as np

from classkit.engine.mapview.lasso import lasso_select, rect_select
from classkit.engine.mapview.pick import PointGrid


def _inside_exact(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Crossing-number test, vectorised over points (reference)."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    inside = np.zeros(len(xy), bool)
    for (xi, yi), (xj, yj) in zip(poly, np.roll(poly, 1, axis=0), strict=True):
        cross = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi + 1e-300) + xi)
        inside ^= cross
    return inside


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.random((5000, 2)).astype(np.float32)
    grid = PointGrid(xy)
    for q in rng.random((200, 2)):
        r = 0.02
        d = np.hypot(*(xy - q).T)
        want = int(np.argmin(d)) if d.min() <= r else -1
        assert grid.nearest(q[0], q[1], r) == want


def test_nearest_radius_visibility_and_empty():
    xy = np.array([[0.5, 0.5], [0.52, 0.5]], np.float32)
    grid = PointGrid(xy)
    assert grid.nearest(0.505, 0.5, 0.01) == 0
    assert grid.nearest(0.505, 0.5, 0.01, visible=np.array([False, True])) == -1
    assert grid.nearest(0.515, 0.5, 0.01, visible=np.array([False, True])) == 1
    assert grid.nearest(0.9, 0.9, 0.05) == -1
    assert PointGrid(np.zeros((0, 2), np.float32)).nearest(0, 0, 1) == -1


def test_lasso_matches_exact_point_in_polygon():
    rng = np.random.default_rng(1)
    xy = rng.random((20_000, 2)).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    star = np.c_[0.5 + (0.2 + 0.15 * (np.arange(40) % 2)) * np.cos(t),
                 0.5 + (0.2 + 0.15 * (np.arange(40) % 2)) * np.sin(t)]
    got = lasso_select(xy, star, resolution=64)
    assert np.array_equal(got, np.flatnonzero(_inside_exact(xy, star)))


def test_lasso_square_visibility_and_degenerate():
    xy = np.array([[0.5, 0.5], [0.1, 0.1], [0.55, 0.45], [0.9, 0.5]], np.float32)
    sq = np.array([[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]])
    assert list(lasso_select(xy, sq)) == [0, 2]
    assert list(lasso_select(xy, sq, visible=np.array([True, True, False, True]))) == [0]
    assert lasso_select(xy, sq[:2]).size == 0
    assert list(rect_select(xy, (0.6, 0.6, 0.4, 0.4))) == [0, 2]
