"""The 2-D map: UMAP coordinates for navigation only (never for selection or metrics).

Up to ``fit_sample`` rows, umap-learn is fitted on all rows, fed the shared kNN graph
(cosine distance = 1 - similarity), so no second kNN search runs. Larger corpora are
fitted on a seeded random sample (umap-learn on the sample's own graph) and every other
row is then placed at the similarity-weighted mean of its already-placed neighbours in
the shared graph, in rounds, until all rows are placed (rows whose neighbours are all
unplaced wait a round). Placement is O(N k) numpy per round: seconds at 1M.

Measured (benchmarks/similarity.py, 2 cores, seeded = single-threaded SGD), 100k x 384:
umap-learn defaults (its own kNN, spectral init) 100 s; fed the shared graph: spectral init
44 s, random 34 s, pca 34 s (pca: best blob separation, so the default); unseeded parallel
20 s. 1M x 384 fed the graph (pca init): 978 s; the 1M strategy here (fit 100k, place
900k): 76 s, with 98.2% of each point's ten nearest 2-D neighbours from its own blob vs
98.8% for the full fit. ``refine_epochs=50`` (a short all-rows UMAP run from the placed
layout) raised that from 98.2% to 99.9% at 100k (10k sample) but took 18 s instead of 8 s;
at 1M it would add roughly a quarter of a full fit (~4 min): available, off by default.

Seeded: the same inputs and ``random_state`` give the same coordinates. umap-learn
forces single-threaded SGD when seeded; pass ``random_state=None`` for a faster,
non-reproducible parallel fit. Progress and cancel act per optimisation epoch (through
umap-learn's tqdm hook) and per placement round.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn, no_progress
from ._util import check_matrix, resolve_threads
from .graph import KnnGraph

# Fit on all rows up to this many (~35 s); above, fit a sample of this size, place the rest.
FIT_SAMPLE = 100_000
# Epochs of the all-rows refinement after placement (0 = none).
REFINE_EPOCHS = 0
MAX_ROUNDS = 50


def compute_map(X: np.ndarray, graph: KnnGraph | None = None, n_neighbors: int = 15,
                min_dist: float = 0.1, random_state: int | None = 0, init: str = "pca",
                fit_sample: int = FIT_SAMPLE, n_epochs: int | None = None,
                refine_epochs: int = REFINE_EPOCHS, threads: int | None = None,
                progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> np.ndarray:
    """UMAP coordinates (N, 2) float32 of the L2-normalised rows of ``X``.

    ``X`` may be float16 (a project's stored rows, memory-mapped): only the rows fitted are
    widened to float32, so a 1M-row map copies its 100k-row sample, not every row.

    ``graph`` is the shared all-points kNN graph (needs ``k >= n_neighbors - 1``); without
    it umap-learn searches neighbours itself (slower, and only allowed up to
    ``fit_sample`` rows). ``init``: "pca" (default: as fast as "random", deterministic,
    keeps more global structure), "random", or "spectral" (umap-learn's default: slower,
    and pathologically slow on some HNSW graphs, DESIGN.md section 8).
    """
    cancel = cancel or CancelToken()
    check_matrix(X)
    n = X.shape[0]
    if n < 3:
        raise ClassKitError("a map needs at least 3 rows")
    n_neighbors = int(min(n_neighbors, n - 1))
    if graph is not None and (graph.n != n or graph.k < n_neighbors - 1):
        raise ClassKitError(f"graph ({graph.n} rows, k={graph.k}) does not fit X ({n} rows) "
                            f"and n_neighbors={n_neighbors}")
    if n <= fit_sample:
        knn = None if graph is None else _umap_knn(graph.rows, graph.sims, n_neighbors)
        return _fit(X, knn, n_neighbors, min_dist, random_state, init, n_epochs, threads,
                    progress, cancel, 0, 1)
    if graph is None:
        raise ClassKitError(f"maps of more than {fit_sample} rows need the shared kNN graph")
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, fit_sample, replace=False))
    Xs = np.ascontiguousarray(X[sample], dtype=np.float32)
    parts = 2 if refine_epochs > 0 else 1
    coords_s = _fit(Xs, None, n_neighbors, min_dist, random_state, init, n_epochs, threads,
                    progress, cancel, 0, parts)
    del Xs
    coords = np.full((n, 2), np.nan, np.float32)
    coords[sample] = coords_s
    place_from_graph(coords, graph, cancel=cancel)
    if refine_epochs > 0:  # a short UMAP run of all rows on the shared graph, from there
        knn = _umap_knn(graph.rows, graph.sims, n_neighbors)
        coords = _fit(X, knn, n_neighbors, min_dist, random_state, coords, refine_epochs,
                      threads, progress, cancel, 1, parts)
    return coords


def place_from_graph(coords: np.ndarray, graph: KnnGraph, max_rounds: int = MAX_ROUNDS,
                     progress: ProgressFn = no_progress,
                     cancel: CancelToken | None = None) -> np.ndarray:
    """Fill NaN rows of ``coords`` (in place) with the similarity-weighted mean of their
    placed graph neighbours, round by round; rows never reached get the mean of all."""
    cancel = cancel or CancelToken()
    rows = np.asarray(graph.rows, np.int64)
    w = np.maximum(np.asarray(graph.sims, np.float32), 1e-3)
    placed = ~np.isnan(coords[:, 0])
    total = coords.shape[0]
    for _ in range(max_rounds):
        todo = np.flatnonzero(~placed)
        progress(total - todo.size, total, "placing rows on the map")
        if todo.size == 0:
            return coords
        cancel.raise_if_cancelled()
        nb = rows[todo]
        ok = placed[nb] & (nb >= 0)
        ww = np.where(ok, w[todo], 0.0)
        wsum = ww.sum(axis=1)
        ready = wsum > 0
        if not ready.any():
            break
        pts = coords[np.maximum(nb, 0)]  # (m, k, 2); unplaced entries are NaN, weight 0
        pts = np.nan_to_num(pts)
        xy = (ww[:, :, None] * pts).sum(axis=1) / np.where(ready, wsum, 1.0)[:, None]
        coords[todo[ready]] = xy[ready]
        placed[todo[ready]] = True  # rows placed this round count from the next one
    rest = ~placed
    if rest.any():  # isolated from every fitted row: park them at the centre
        coords[rest] = np.nanmean(coords[placed], axis=0) if placed.any() else 0.0
    progress(total, total, "placing rows on the map")
    return coords


def normalise_coords(coords: np.ndarray, lo: float = 0.5, hi: float = 99.5,
                     margin: float = 0.02) -> np.ndarray:
    """Map coordinates into [0, 1]^2 for display: the ``lo``-``hi`` percentile box of the
    points, scaled uniformly (aspect kept) and centred, with ``margin`` on each side;
    the few outliers beyond it are clipped to the border."""
    c = np.asarray(coords, np.float64)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ClassKitError(f"coords must have shape (N, 2), got {c.shape}")
    if c.shape[0] == 0:
        return np.empty((0, 2), np.float32)
    lo_xy = np.nanpercentile(c, lo, axis=0)
    hi_xy = np.nanpercentile(c, hi, axis=0)
    span = float(np.max(hi_xy - lo_xy))
    scale = (1.0 - 2 * margin) / span if span > 0 else 1.0
    centre = (lo_xy + hi_xy) / 2
    out = (c - centre) * scale + 0.5
    return np.clip(np.nan_to_num(out, nan=0.5), 0.0, 1.0).astype(np.float32)


def _umap_knn(rows: np.ndarray, sims: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """umap-learn's kNN convention: self first at distance 0, then n_neighbors - 1 others."""
    n = rows.shape[0]
    m = n_neighbors - 1
    idx = np.empty((n, n_neighbors), np.int32 if n < 2**31 else np.int64)
    dist = np.empty((n, n_neighbors), np.float32)
    idx[:, 0] = np.arange(n)
    dist[:, 0] = 0.0
    idx[:, 1:] = rows[:, :m]
    dist[:, 1:] = np.maximum(1.0 - np.asarray(sims[:, :m], np.float32), 0.0)
    return idx, dist


class _EpochHook:
    """A file for umap-learn's tqdm bar: reports epochs as progress, raises on cancel."""

    _num = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: ProgressFn, cancel: CancelToken, part: int, parts: int) -> None:
        self.progress, self.cancel, self.part, self.parts = progress, cancel, part, parts
        self.raised = False

    def write(self, text: str) -> None:
        found = self._num.findall(text)
        if found:
            done, total = map(int, found[-1])
            scale = 1000
            self.progress(self.part * scale + done * scale // max(total, 1),
                          self.parts * scale, "map: optimising layout")
        if self.cancel.cancelled and not self.raised:
            self.raised = True
            self.cancel.raise_if_cancelled()

    def flush(self) -> None:
        pass


def _fit(X: np.ndarray, knn: tuple[np.ndarray, np.ndarray] | None, n_neighbors: int,
         min_dist: float, random_state: int | None, init: str | np.ndarray, n_epochs: int | None,
         threads: int | None, progress: ProgressFn, cancel: CancelToken, part: int,
         parts: int) -> np.ndarray:
    """One umap-learn fit (cosine), with the epoch hook; returns float32 (N, 2)."""
    cancel.raise_if_cancelled()
    import umap

    hook = _EpochHook(progress, cancel, part, parts)
    kwargs: dict[str, Any] = {}
    if knn is not None:
        kwargs["precomputed_knn"] = (knn[0], knn[1])
    model = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                      random_state=random_state, init=init, n_epochs=n_epochs,
                      n_jobs=1 if random_state is not None else resolve_threads(threads),
                      low_memory=True, verbose=False,
                      tqdm_kwds={"disable": False, "file": hook, "mininterval": 0,
                                 "miniters": 1, "bar_format": "{n}/{total}"}, **kwargs)
    with warnings.catch_warnings():
        # expected and harmless here: no NNDescent index when fed a graph (we never call
        # transform), and umap-learn's note that a seed forces one thread.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*force_all_finite.*")
        coords = model.fit_transform(np.asarray(X, dtype=np.float32))
    progress((part + 1) * 1000, parts * 1000, "map: layout done")
    return np.asarray(coords, np.float32)
