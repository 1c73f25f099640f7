"""The all-points kNN graph: each row's k nearest other rows with cosine similarities.

Computed once per embedding version and shared by the map (UMAP), cluster densities,
near-duplicate groups and the rest; nothing here recomputes it implicitly. Small corpora
get the exact graph (blocked brute force with ``faiss.knn``: BLAS plus a heap, ~4x faster
than numpy matmul + argpartition, no copy of a float32 input); large ones query an HNSW
index (the caller's, so it is built once). Self is never among a row's neighbours, even
when exact duplicates tie with it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..fsutil import write_json_atomic
from ..jobs import CancelToken, ProgressFn, no_progress
from ._util import (as_float32, check_ids, check_matrix, faiss_threads, ids_checksum,
                    import_faiss, load_npy, resolve_threads, save_npy)
from .knn import KnnIndex, _drop_self, build_index

# Exact below this many rows (when no index is passed). Measured, k=20, 2 cores: exact costs
# N^2 D, HNSW ~N log N. 100k x 384: numpy matmul + argpartition 253 s, exact faiss.knn 90 s,
# hnswlib build 29 s + graph 19 s (ef 42, recall@20 0.999) or 52 s (ef 128). 1M x 384:
# numpy ~6.5 h, faiss.knn ~1.7 h (both extrapolated from 8192 rows), hnswlib build 317 s +
# graph 175 s (ef 42, recall 0.927) or 296 s (ef 128, recall 0.989). At 30k both ways take
# ~10 s, and exact is exact.
EXACT_BELOW = 30_000
DEFAULT_K = 20
DEFAULT_BATCH = 2048
META_FILE = "graph.json"


@dataclass
class KnnGraph:
    """``rows[i]``: the k nearest other rows of row i, most similar first; ``sims``: their
    cosine similarities (float32). ``ids``: the image id of each row."""

    rows: np.ndarray
    sims: np.ndarray
    ids: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    @property
    def k(self) -> int:
        return int(self.rows.shape[1])

    def distances(self) -> np.ndarray:
        """Cosine distances ``1 - sims`` (clipped at 0 against rounding)."""
        return np.maximum(1.0 - self.sims, 0.0).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write ``rows.npy``, ``sims.npy``, ``ids.npy``, then ``graph.json`` (last)."""
        folder = Path(folder)
        save_npy(folder / "rows.npy", self.rows)
        save_npy(folder / "sims.npy", self.sims)
        save_npy(folder / "ids.npy", self.ids)
        write_json_atomic(folder / META_FILE, {"format": 1, "n": self.n, "k": self.k,
                                               "ids_checksum": ids_checksum(self.ids),
                                               "params": self.params})

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> KnnGraph:
        """Read a graph written by :meth:`save` (optionally memory-mapped, read-only)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text("utf-8"))
        except FileNotFoundError:
            raise ClassKitError(f"no kNN graph in {folder} (missing {META_FILE})") from None
        rows = load_npy(folder / "rows.npy", mmap)
        sims = load_npy(folder / "sims.npy", mmap)
        ids = load_npy(folder / "ids.npy")
        if (rows.shape != (meta["n"], meta["k"]) or sims.shape != rows.shape
                or ids_checksum(ids) != meta["ids_checksum"]):
            raise ClassKitError(f"kNN graph in {folder} does not match graph.json (corrupt copy?)")
        return cls(rows, sims, ids, meta.get("params", {}))


def knn_graph(X: np.ndarray, k: int = DEFAULT_K, ids: np.ndarray | None = None,
              index: KnnIndex | None = None, exact_below: int = EXACT_BELOW,
              batch: int = DEFAULT_BATCH, ef_search: int | None = None,
              threads: int | None = None, progress: ProgressFn = no_progress,
              cancel: CancelToken | None = None) -> KnnGraph:
    """All-points kNN graph of the L2-normalised rows of ``X``, self excluded.

    With ``index`` (built on the same rows), it is queried; otherwise the graph is exact
    when ``N < exact_below`` and else an hnswlib index is built for it (pass the project's
    index instead, so it is built once). ``batch`` rows are searched per chunk; progress
    and the cancel check run between chunks. ``k`` is clamped to ``N - 1``. ``ef_search``
    (HNSW only) defaults to the index's own, but at least ``2 (k + 1)``; the index's setting
    is restored afterwards.
    """
    cancel = cancel or CancelToken()
    check_matrix(X)
    n = X.shape[0]
    ids = check_ids(ids, n) if index is None or ids is not None else index.ids_
    k = min(int(k), n - 1)
    if k < 1:
        raise ClassKitError("a kNN graph needs at least 2 rows")
    nthreads = resolve_threads(threads)
    t0 = time.perf_counter()
    if index is None and n < exact_below:
        method = "exact"
        rows, sims = _exact_graph(X, k, batch, nthreads, progress, cancel)
    else:
        if index is None:
            index = build_index(X, ids=ids, backend="hnswlib", threads=nthreads,
                                progress=progress, cancel=cancel)
        if index.n != n or index.dim != X.shape[1]:
            raise ClassKitError(f"index ({index.n} x {index.dim}) was not built on X {X.shape}")
        method = index.backend
        ef = max(index.ef_search if ef_search is None else int(ef_search), 2 * (k + 1))
        rows, sims = _index_graph(X, k, index, batch, ef, nthreads, progress, cancel)
    dtype = np.int32 if n < 2**31 else np.int64
    params = {"k": k, "method": method, "seconds": round(time.perf_counter() - t0, 3)}
    if index is not None and method != "faiss-flat":
        params["index_params"] = {key: v for key, v in index.params.items() if key != "build_seconds"}
        params["ef_search"] = ef
    return KnnGraph(rows.astype(dtype), sims, ids, params)


def _exact_graph(X: np.ndarray, k: int, batch: int, nthreads: int, progress: ProgressFn,
                 cancel: CancelToken) -> tuple[np.ndarray, np.ndarray]:
    """Blocked brute force: ``faiss.knn`` of each block against all rows, self dropped."""
    faiss = import_faiss()
    base = as_float32(X)  # X itself when float32 (memmap ok); one copy when float16
    n = base.shape[0]
    rows = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    progress(0, n, "exact kNN graph")
    with faiss_threads(nthreads):
        for lo in range(0, n, batch):
            cancel.raise_if_cancelled()
            hi = min(lo + batch, n)
            s, r = faiss.knn(base[lo:hi], base, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
            rows[lo:hi], sims[lo:hi] = _drop_self(r, s, np.arange(lo, hi), k)
            progress(hi, n, "exact kNN graph")
    return rows, sims


def _index_graph(X: np.ndarray, k: int, index: KnnIndex, batch: int, ef: int, nthreads: int,
                 progress: ProgressFn, cancel: CancelToken) -> tuple[np.ndarray, np.ndarray]:
    """Query every row against an index, chunk by chunk (float16 converted per chunk)."""
    n = X.shape[0]
    rows = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    old_ef = index.ef_search
    if index.backend != "faiss-flat":
        index.set_ef_search(ef)
    progress(0, n, f"kNN graph via {index.backend}")
    try:
        for lo in range(0, n, batch):
            cancel.raise_if_cancelled()
            hi = min(lo + batch, n)
            block = np.ascontiguousarray(X[lo:hi], dtype=np.float32)
            rows[lo:hi], sims[lo:hi] = index.search(block, k, exclude_self_rows=np.arange(lo, hi),
                                                    threads=max(nthreads, 1))
            progress(hi, n, f"kNN graph via {index.backend}")
    finally:
        if index.backend != "faiss-flat":
            index.set_ef_search(old_ef)
    return rows, sims


def numpy_knn_graph(X: np.ndarray, k: int, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Reference/baseline: blocked numpy matmul + argpartition, self masked. Slow; tests
    and the benchmark only."""
    Xf = as_float32(X)
    n = Xf.shape[0]
    rows = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        S = Xf[lo:hi] @ Xf.T
        S[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        part = np.argpartition(S, n - k, axis=1)[:, n - k:]
        ps = np.take_along_axis(S, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        rows[lo:hi] = np.take_along_axis(part, order, axis=1)
        sims[lo:hi] = np.take_along_axis(ps, order, axis=1)
    return rows, sims
