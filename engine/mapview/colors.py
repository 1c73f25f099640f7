"""Colour modes of the map: per-point categories (or values) with a palette and a legend.

A :class:`Coloring` is computed once per colour mode from aligned per-point arrays; hiding
legend entries and filters only change a visibility mask, never the colours.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import is_color

STATUS, LABEL, PREDICTED, UNCERTAINTY, CLUSTER = "status", "label", "predicted", "uncertainty", "cluster"
MODES = (STATUS, LABEL, PREDICTED, UNCERTAINTY, CLUSTER)

# tab10-like first, then evenly spread hues: distinct for the first ~20 classes.
_BASE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
         "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5"]
GREY = "#8a8f98"
MARK = "#5a5a5a"
_VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]
UNCERTAINTY_BINS = 5


def hex_rgba(color: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """``#rrggbb`` -> (r, g, b, a)."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), alpha


def rgba_hex(rgba: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgba[:3]))


def categorical_palette(k: int) -> np.ndarray:
    """(k, 4) uint8 distinct colours; deterministic."""
    out = np.empty((k, 4), np.uint8)
    for i in range(k):
        if i < len(_BASE):
            out[i] = hex_rgba(_BASE[i])
        else:  # golden-ratio hue walk, fixed saturation/value
            h = (i * 0.618033988749895) % 1.0
            out[i] = _hsv(h, 0.65, 0.9)
    return out


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255), 255


def heat_lut(n: int = 256) -> np.ndarray:
    """(n, 4) uint8 viridis-like ramp for values in [0, 1]."""
    anchors = np.array([hex_rgba(c) for c in _VIRIDIS], np.float64)
    t = np.linspace(0, len(anchors) - 1, n)
    lo = np.minimum(t.astype(int), len(anchors) - 2)
    f = (t - lo)[:, None]
    return np.clip(anchors[lo] * (1 - f) + anchors[lo + 1] * f + 0.5, 0, 255).astype(np.uint8)


@dataclass
class Coloring:
    """Per-point category index (into ``palette``/``legend``) or value in [0, 1]."""

    mode: str
    categories: np.ndarray            # int32 per point (for continuous modes: value bin)
    palette: np.ndarray               # (k, 4) uint8, one per legend entry
    names: list[str]
    values: np.ndarray | None = None  # float32 per point for continuous modes
    lut: np.ndarray | None = None
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.counts = np.bincount(self.categories, minlength=len(self.names)).astype(np.int64)

    @property
    def continuous(self) -> bool:
        return self.values is not None

    def point_rgba(self) -> np.ndarray:
        """(n, 4) uint8 colour of every point."""
        if self.values is not None and self.lut is not None:
            idx = np.clip((self.values * (len(self.lut) - 1)).astype(np.int64), 0, len(self.lut) - 1)
            return self.lut[idx]
        return self.palette[self.categories]

    def legend(self, hidden: set[int] | frozenset[int] = frozenset()) -> list[dict[str, Any]]:
        """One entry per category: key, name, colour (``#rrggbb``), count, hidden."""
        return [{"key": i, "name": n, "color": rgba_hex(self.palette[i]), "count": int(self.counts[i]),
                 "hidden": i in hidden} for i, n in enumerate(self.names)]

    def shown(self, hidden: set[int] | frozenset[int]) -> np.ndarray:
        """Boolean mask of points whose category is not hidden."""
        keep = np.ones(len(self.names), bool)
        for h in hidden:
            if 0 <= h < keep.size:
                keep[h] = False
        return keep[self.categories]


def uncertainty_of(probs: np.ndarray) -> np.ndarray:
    """1 - max probability, float32 in [0, 1] (0 = certain)."""
    return (1.0 - np.asarray(probs, np.float32).max(1)).astype(np.float32)


def class_palette(k: int, class_colors: list[str] | None = None) -> np.ndarray:
    """(k, 4) uint8: each class's own colour (``#rrggbb``, as set with ``classkit classes
    --color``), falling back to the categorical palette where one is missing or malformed."""
    out = categorical_palette(k)
    for i, color in enumerate((class_colors or [])[:k]):
        if is_color(color):
            out[i] = hex_rgba(color)
    return out


def build_coloring(mode: str, labels: np.ndarray, classes: list[str],
                   probs: np.ndarray | None = None, clusters: np.ndarray | None = None,
                   class_colors: list[str] | None = None) -> Coloring:
    """The colouring for ``mode`` from aligned arrays: ``labels`` (class index, -1 unlabeled,
    -2 marked), ``probs`` (n, C) or None, ``clusters`` (cluster id, -1 none) or None.
    Classes are drawn in ``class_colors`` (the project's, same order as ``classes``) when given,
    so the map matches the legend and the label workbench."""
    labels = np.asarray(labels, np.int64)
    n, c = labels.shape[0], len(classes)
    grey, mark = hex_rgba(GREY, 200), hex_rgba(MARK, 200)
    if mode == STATUS:
        cat = np.where(labels >= 0, 1, np.where(labels == -2, 2, 0)).astype(np.int32)
        pal = np.array([grey, hex_rgba("#2ca02c"), hex_rgba("#d62728")], np.uint8)
        return Coloring(mode, cat, pal, ["unlabeled", "labeled", "marked (unsure/junk/skip)"])
    if mode == LABEL:
        cat = np.where(labels >= 0, labels, np.where(labels == -2, c + 1, c)).astype(np.int32)
        pal = np.vstack([class_palette(c, class_colors), np.array([grey, mark], np.uint8)])
        return Coloring(mode, cat, pal, [*classes, "unlabeled", "marked"])
    if mode == PREDICTED:
        if probs is None:
            return Coloring(mode, np.zeros(n, np.int32), np.array([grey], np.uint8), ["no predictions"])
        cat = np.asarray(probs).argmax(1).astype(np.int32)
        return Coloring(mode, cat, class_palette(c, class_colors), list(classes))
    if mode == UNCERTAINTY:
        if probs is None:
            return Coloring(mode, np.zeros(n, np.int32), np.array([grey], np.uint8), ["no predictions"])
        u = uncertainty_of(probs)
        lut = heat_lut()
        bins = np.minimum((u * UNCERTAINTY_BINS).astype(np.int32), UNCERTAINTY_BINS - 1)
        edges = np.linspace(0, 1, UNCERTAINTY_BINS + 1)
        names = [f"uncertainty {edges[i]:.1f}-{edges[i + 1]:.1f}" for i in range(UNCERTAINTY_BINS)]
        pal = lut[((edges[:-1] + edges[1:]) / 2 * 255).astype(int)]
        return Coloring(mode, bins, pal, names, values=u, lut=lut)
    if mode == CLUSTER:
        if clusters is None:
            return Coloring(mode, np.zeros(n, np.int32), np.array([grey], np.uint8), ["no clusters"])
        cl = np.asarray(clusters, np.int64)
        k = int(cl.max()) + 1 if cl.size else 0
        cat = np.where(cl >= 0, cl, k).astype(np.int32)
        pal = np.vstack([categorical_palette(k), np.array([grey], np.uint8)])
        return Coloring(mode, cat, pal, [f"cluster {i}" for i in range(k)] + ["no cluster"])
    raise ValueError(f"unknown colour mode {mode!r} (one of {', '.join(MODES)})")
