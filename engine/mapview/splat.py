"""Rasterise round points into an RGBA image with numpy/numba: the map's fallback when Qt
Quick runs its software backend (no OpenGL), which draws nothing for custom geometry."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _splat(img, px, py, rgba, radius, ring):  # pragma: no cover - numba
    h, w = img.shape[0], img.shape[1]
    r = int(np.ceil(radius))
    r2 = radius * radius
    inner2 = (radius * (1.0 - ring)) ** 2 if ring > 0 else r2 + 1.0
    for i in range(px.shape[0]):
        cx, cy = int(np.floor(px[i])), int(np.floor(py[i]))
        if cx < -r or cy < -r or cx >= w + r or cy >= h + r:
            continue
        a = rgba[i, 3] / 255.0
        for dy in range(-r, r + 1):
            y = cy + dy
            if y < 0 or y >= h:
                continue
            for dx in range(-r, r + 1):
                x = cx + dx
                if x < 0 or x >= w:
                    continue
                d2 = (x + 0.5 - px[i]) ** 2 + (y + 0.5 - py[i]) ** 2
                if d2 > r2 and not (dx == 0 and dy == 0):
                    continue
                if d2 > inner2:
                    img[y, x, 0] = 255
                    img[y, x, 1] = 255
                    img[y, x, 2] = 255
                    img[y, x, 3] = 255
                else:
                    img[y, x, 0] = np.uint8(rgba[i, 0] * a)
                    img[y, x, 1] = np.uint8(rgba[i, 1] * a)
                    img[y, x, 2] = np.uint8(rgba[i, 2] * a)
                    img[y, x, 3] = rgba[i, 3]


def splat(img: np.ndarray, px: np.ndarray, py: np.ndarray, rgba: np.ndarray, diameter: float,
          ring: float = 0.0) -> np.ndarray:
    """Draw discs of ``diameter`` pixels centred at (px, py) into ``img`` ((h, w, 4) uint8,
    premultiplied), in order; ``ring`` > 0 paints that outer fraction of the radius white."""
    _splat(img, np.asarray(px, np.float32), np.asarray(py, np.float32), np.asarray(rgba, np.uint8),
           max(float(diameter) / 2, 0.5), float(ring))
    return img
