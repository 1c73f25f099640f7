"""Level of detail for the map: what to draw for a view so a frame stays cheap.

Software OpenGL costs ~0.5 µs per point per frame, so a view never draws more than a cap:
- ``density_image``: points in view binned into a grid, coloured by the dominant category
  (streaming majority vote per bin) or the mean value, alpha from the log count;
- ``cull``: the points in view, visited in a fixed shuffled order so a capped subset is
  stable while panning; ``sparse_points``: those in bins holding few points;
- ``subsample``: the first visible points of the fixed order (drawn while interacting).
``plan_view`` combines them; ``pack_vertices`` writes the 12-byte ColoredPoint2D layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

VERTEX_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("rgba", "u1", (4,))])  # ColoredPoint2D


@dataclass(frozen=True)
class LodParams:
    """Budgets: ``point_cap`` points per idle frame, ``interact_cap`` while dragging."""

    point_cap: int = 20_000     # ~0.5-1 µs per point per frame on llvmpipe: ~20 ms
    interact_cap: int = 12_000
    sparse_max: int = 2      # bins with at most this many points show them as points
    bin_px: int = 2          # density bin size in screen pixels


@dataclass
class ViewPlan:
    """What one view draws: points (indices) and optionally a density image over ``rect``."""

    indices: np.ndarray               # int64 point rows to draw as points
    image: np.ndarray | None = None   # (h, w, 4) uint8 premultiplied RGBA, row 0 = top (y0)
    rect: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in data coords
    in_view: int = 0                  # visible points inside the view


def shuffled_order(n: int, seed: int = 0) -> np.ndarray:
    """A fixed permutation of ``range(n)`` (int64): the order points are taken in."""
    return np.random.default_rng(seed).permutation(n).astype(np.int64)


def front_first(order: np.ndarray, front: np.ndarray) -> np.ndarray:
    """``order`` with the rows where ``front`` is true moved ahead (each part keeps its
    shuffled order): they survive every cap and subsample, and, since points are drawn back
    to front (``MapLayer.vertices``), they are painted over the others."""
    return np.concatenate([order[front[order]], order[~front[order]]])


@numba.njit(cache=True, nogil=True)
def _cull(coords, order, visible, x0, y0, x1, y1, cap):  # pragma: no cover - numba
    out = np.empty(min(cap, order.size), np.int64)
    m = 0
    total = 0
    for j in range(order.size):
        i = order[j]
        if not visible[i]:
            continue
        x, y = coords[i, 0], coords[i, 1]
        if x0 <= x <= x1 and y0 <= y <= y1:
            total += 1
            if m < out.size:
                out[m] = i
                m += 1
    return out[:m], total


def cull(coords: np.ndarray, order: np.ndarray, visible: np.ndarray,
         view: tuple[float, float, float, float], cap: int) -> tuple[np.ndarray, int]:
    """(up to ``cap`` visible points in ``view`` in the fixed order, how many are in view)."""
    x0, y0, x1, y1 = view
    return _cull(coords, order, visible, x0, y0, x1, y1, max(int(cap), 0))


def subsample(order: np.ndarray, visible: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` visible points of the fixed order (stable across frames)."""
    taken = order[visible[order]]
    return taken[:k]


@numba.njit(cache=True, nogil=True)
def _bin(coords, visible, cats, values, x0, y0, sx, sy, w, h):  # pragma: no cover - numba
    counts = np.zeros((h, w), np.int32)
    cand = np.full((h, w), -1, np.int32)
    votes = np.zeros((h, w), np.int32)
    sums = np.zeros((h, w), np.float32)
    use_values = values.size > 0
    for i in range(coords.shape[0]):
        if not visible[i]:
            continue
        bx = int((coords[i, 0] - x0) * sx)
        by = int((coords[i, 1] - y0) * sy)
        if bx < 0 or by < 0 or bx >= w or by >= h:
            continue
        counts[by, bx] += 1
        if use_values:
            sums[by, bx] += values[i]
        else:  # Boyer-Moore majority vote: the dominant category when one exists
            c = cats[i]
            if votes[by, bx] == 0:
                cand[by, bx] = c
                votes[by, bx] = 1
            elif cand[by, bx] == c:
                votes[by, bx] += 1
            else:
                votes[by, bx] -= 1
    return counts, cand, sums


def density_image(coords: np.ndarray, visible: np.ndarray, view: tuple[float, float, float, float],
                  size: tuple[int, int], categories: np.ndarray, palette: np.ndarray,
                  values: np.ndarray | None = None, lut: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA (h, w, 4) uint8 premultiplied, counts (h, w) int32) of the points in ``view``.

    Colour per bin: the dominant category's palette colour, or with ``values``/``lut`` the
    mean value through the LUT. Alpha grows with log(count) so dense bins read as dense.
    """
    w, h = max(int(size[0]), 1), max(int(size[1]), 1)
    x0, y0, x1, y1 = view
    sx, sy = w / max(x1 - x0, 1e-12), h / max(y1 - y0, 1e-12)
    vals = np.zeros(0, np.float32) if values is None else np.asarray(values, np.float32)
    counts, cand, sums = _bin(coords, visible, categories, vals, x0, y0, sx, sy, w, h)
    if values is not None and lut is not None:
        mean = sums / np.maximum(counts, 1)
        rgb = lut[np.clip((mean * (len(lut) - 1)).astype(np.int64), 0, len(lut) - 1)]
    else:
        rgb = palette[np.maximum(cand, 0)]
    peak = max(int(counts.max()), 1)
    alpha = np.where(counts > 0, 0.45 + 0.55 * np.log1p(counts) / np.log1p(peak), 0.0)
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = (rgb[..., :3] * alpha[..., None]).astype(np.uint8)
    out[..., 3] = (alpha * 255).astype(np.uint8)
    return out, counts


@numba.njit(cache=True, nogil=True)
def _sparse(coords, order, visible, counts, x0, y0, sx, sy, sparse_max, cap):  # pragma: no cover
    h, w = counts.shape
    out = np.empty(min(cap, order.size), np.int64)
    m = 0
    for j in range(order.size):
        if m >= out.size:
            break
        i = order[j]
        if not visible[i]:
            continue
        bx = int((coords[i, 0] - x0) * sx)
        by = int((coords[i, 1] - y0) * sy)
        if 0 <= bx < w and 0 <= by < h and counts[by, bx] <= sparse_max:
            out[m] = i
            m += 1
    return out[:m]


def plan_view(coords: np.ndarray, order: np.ndarray, visible: np.ndarray,
              view: tuple[float, float, float, float], viewport_px: tuple[int, int],
              categories: np.ndarray, palette: np.ndarray, values: np.ndarray | None = None,
              lut: np.ndarray | None = None, params: LodParams = LodParams()) -> ViewPlan:
    """Full detail for an idle view: all points in view when they fit the cap, else a
    density image with the points of sparse bins (up to the cap) drawn on top."""
    idx, total = cull(coords, order, visible, view, params.point_cap)
    if total <= params.point_cap:
        return ViewPlan(idx, in_view=total)
    w = max(viewport_px[0] // params.bin_px, 1)
    h = max(viewport_px[1] // params.bin_px, 1)
    image, counts = density_image(coords, visible, view, (w, h), categories, palette, values, lut)
    x0, y0, x1, y1 = view
    sparse = _sparse(coords, order, visible, counts, x0, y0, w / max(x1 - x0, 1e-12),
                     h / max(y1 - y0, 1e-12), params.sparse_max, params.point_cap)
    return ViewPlan(sparse, image, view, total)


def pack_vertices(coords: np.ndarray, rgba: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """ColoredPoint2D vertices (x, y float32; r, g, b, a uint8) of the rows ``indices``."""
    out = np.empty(indices.shape[0], VERTEX_DTYPE)
    out["x"] = coords[indices, 0]
    out["y"] = coords[indices, 1]
    out["rgba"] = rgba[indices]
    return out
