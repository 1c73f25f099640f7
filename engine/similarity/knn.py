"""Nearest-neighbour indexes over L2-normalised embeddings (cosine = inner product).

Backends: ``faiss-flat`` (exact IndexFlatIP), ``faiss-hnsw`` (IndexHNSWFlat, inner product)
and ``hnswlib`` (space "ip"). ``auto`` is exact while one query reads at most
``EXACT_MAX_BYTES`` of vectors, hnswlib above (see the constants for the measurements).
Rows are positions in the input matrix; ``ids_`` maps rows to image ids.

Threads: builds and batched searches use ``threads`` (default: all cores); searches of
fewer than ``SINGLE_THREAD_BELOW`` queries run on one thread, because waking an OpenMP
team costs more than the query (DESIGN.md section 8, the OpenMP pitfall).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..fsutil import write_json_atomic
from ..jobs import CancelToken, ProgressFn, no_progress
from ._util import (atomic_file, check_ids, check_matrix, faiss_threads, float32_chunks,
                    ids_checksum, import_faiss, load_npy, resolve_threads, save_npy)

BACKENDS = ("faiss-flat", "faiss-hnsw", "hnswlib")
# auto: exact while N * D * 4 bytes <= this (N <= 43k at D=384, 13k at D=1280). Measured
# (benchmarks/similarity.py, 2 cores): an exact single query streams the matrix at ~18 GB/s
# on one thread: 58.6 MB (40k x 384) p50 3.1 / p95 3.3 ms, 146 MB (100k x 384) p95 9.7 ms,
# 1.5 GB (1M x 384) p95 67-75 ms. So 64 MiB keeps exact queries under ~4 ms p95, with
# recall 1 and no build; above it an hnswlib build (~29 s per 100k x 384) pays off.
EXACT_MAX_BYTES = 64 * 2**20
# HNSW defaults. 1M x 384 clustered, M=32/efC=100: build 317 s; ef 64: recall@10 0.965,
# ef 128: 0.989 at p50 0.63 / p95 1.05 ms (single thread); M=16 needed ef 256 for 0.985 and
# built only 15% faster. efC=200 roughly doubled build time for no recall gain on this data.
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 100
DEFAULT_EF_SEARCH = 128
SINGLE_THREAD_BELOW = 32
ADD_CHUNK = 16384
META_FILE = "index.json"
IDS_FILE = "ids.npy"
FORMAT_VERSION = 1


def choose_backend(n: int, dim: int) -> str:
    """The ``auto`` rule: exact for small corpora, hnswlib above ``EXACT_MAX_BYTES``."""
    return "faiss-flat" if n * dim * 4 <= EXACT_MAX_BYTES else "hnswlib"


class KnnIndex:
    """A built (or loaded) index plus the ids of its rows. Create with :func:`build_index`."""

    def __init__(self, backend: str, index: Any, ids: np.ndarray, dim: int,
                 params: dict[str, Any], threads: int | None = None) -> None:
        self.backend = backend
        self.index_ = index
        self.ids_ = ids
        self.dim = dim
        self.params = dict(params)
        self.threads = threads
        self._row_of_id: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n(self) -> int:
        return int(self.ids_.shape[0])

    @property
    def ef_search(self) -> int:
        return int(self.params.get("ef_search", 0))

    def set_ef_search(self, ef: int) -> None:
        """Change the HNSW search breadth (recall/latency trade-off); no-op when exact."""
        self.params["ef_search"] = int(ef)
        if self.backend == "hnswlib":
            self.index_.set_ef(int(ef))
        elif self.backend == "faiss-hnsw":
            self.index_.hnsw.efSearch = int(ef)

    # -- queries -------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int, exclude_self_rows: np.ndarray | None = None,
               threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and cosine similarities (descending) for each query vector.

        ``exclude_self_rows[i]`` (or -1) is a row to drop from query i's results, e.g. the
        query's own row; then k+1 are fetched and the self row (or, if an exact duplicate
        pushed it out, the last one) is dropped. ``k`` is clamped to what the index holds;
        missing results are row -1 with similarity -inf.
        """
        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ClassKitError(f"query dimension {q.shape[1]} != index dimension {self.dim}")
        excl = None if exclude_self_rows is None else np.asarray(exclude_self_rows, np.int64)
        k_out = max(0, min(int(k), self.n - (excl is not None)))
        k_ask = min(k_out + (excl is not None), self.n)
        if q.shape[0] == 0 or k_out == 0:
            return (np.empty((q.shape[0], k_out), np.int64), np.empty((q.shape[0], k_out), np.float32))
        nthreads = 1 if q.shape[0] < SINGLE_THREAD_BELOW else resolve_threads(threads or self.threads)
        rows, sims = self._raw_search(q, k_ask, nthreads)
        if excl is None:
            return rows, sims
        return _drop_self(rows, sims, excl, k_out)

    def _raw_search(self, q: np.ndarray, k: int, nthreads: int) -> tuple[np.ndarray, np.ndarray]:
        if self.backend == "hnswlib":
            if self.index_.ef < k:
                self.index_.set_ef(k)
            try:
                labels, dist = self.index_.knn_query(q, k=k, num_threads=nthreads)
            except RuntimeError:  # fewer than k found (tiny or degenerate graphs): widen once
                self.index_.set_ef(max(4 * k, self.ef_search, 256))
                try:
                    labels, dist = self.index_.knn_query(q, k=k, num_threads=nthreads)
                except RuntimeError as exc:
                    raise ClassKitError(f"hnswlib could not return {k} neighbours: {exc}") from exc
                finally:
                    self.index_.set_ef(max(self.ef_search, k))
            return labels.astype(np.int64, copy=False), (1.0 - dist).astype(np.float32, copy=False)
        if self.backend == "faiss-hnsw" and self.index_.hnsw.efSearch < k:
            self.index_.hnsw.efSearch = k
        with faiss_threads(nthreads):
            sims, rows = self.index_.search(q, k)
        sims[rows < 0] = -np.inf
        return rows, sims

    def neighbors_of_rows(self, rows: np.ndarray, k: int,
                          threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` neighbours of indexed rows, never the row itself."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        return self.search(self.vectors(rows), k, exclude_self_rows=rows, threads=threads)

    def neighbors_of_ids(self, ids: np.ndarray, k: int,
                         threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`neighbors_of_rows` but in and out in image ids (-1 = no result)."""
        rows, sims = self.neighbors_of_rows(self.rows_of_ids(ids), k, threads)
        out = np.where(rows >= 0, self.ids_[np.maximum(rows, 0)], -1)
        return out, sims

    def rows_of_ids(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the given image ids; raises if an id is not in the index."""
        if self._row_of_id is None:
            order = np.argsort(self.ids_, kind="stable")
            self._row_of_id = (self.ids_[order], order)
        sorted_ids, order = self._row_of_id
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        if not np.array_equal(sorted_ids[pos], ids):
            raise ClassKitError("some ids are not in this index")
        return order[pos]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (float32), read back from the index."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            raise ClassKitError(f"rows out of range [0, {self.n})")
        if self.backend == "hnswlib":
            return np.asarray(self.index_.get_items(rows, return_type="numpy"), dtype=np.float32)
        return self.index_.reconstruct_batch(rows)

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the index, the ids and ``index.json`` (written last: it marks completeness)."""
        folder = Path(folder)
        name = _index_file(self.backend)
        with atomic_file(folder / name) as tmp:
            if self.backend == "hnswlib":
                self.index_.save_index(str(tmp))
            else:
                import_faiss().write_index(self.index_, str(tmp))
        save_npy(folder / IDS_FILE, self.ids_)
        meta = {"format": FORMAT_VERSION, "backend": self.backend, "n": self.n, "dim": self.dim,
                "metric": "ip", "params": self.params, "ids_checksum": ids_checksum(self.ids_),
                "index_file": name}
        write_json_atomic(folder / META_FILE, meta)

    @classmethod
    def load(cls, folder: Path, threads: int | None = None) -> KnnIndex:
        """Read an index written by :meth:`save`; checks size and the ids checksum."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text("utf-8"))
        except FileNotFoundError:
            raise ClassKitError(f"no index in {folder} (missing {META_FILE})") from None
        if meta.get("format") != FORMAT_VERSION or meta.get("backend") not in BACKENDS:
            raise ClassKitError(f"unsupported index format in {folder}: {meta.get('format')}")
        ids = load_npy(folder / IDS_FILE)
        if ids.shape != (meta["n"],) or ids_checksum(ids) != meta["ids_checksum"]:
            raise ClassKitError(f"index ids in {folder} do not match index.json (corrupt copy?)")
        path = str(folder / meta["index_file"])
        dim = int(meta["dim"])
        if meta["backend"] == "hnswlib":
            import hnswlib

            index = hnswlib.Index(space="ip", dim=dim)
            index.load_index(path)
            index.set_ef(int(meta["params"]["ef_search"]))
            size = index.get_current_count()
        else:
            index = import_faiss().read_index(path)
            if meta["backend"] == "faiss-hnsw":
                index.hnsw.efSearch = int(meta["params"]["ef_search"])
            size = index.ntotal
        if size != meta["n"]:
            raise ClassKitError(f"index in {folder} holds {size} rows, index.json says {meta['n']}")
        return cls(meta["backend"], index, ids, dim, meta["params"], threads)


def _index_file(backend: str) -> str:
    return "index.hnsw" if backend == "hnswlib" else "index.faiss"


def _drop_self(rows: np.ndarray, sims: np.ndarray, excl: np.ndarray,
               k_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove ``excl[i]`` from row i's results (or its last result if absent)."""
    n, k = rows.shape
    is_self = rows == excl[:, None]
    # Keep the first k_out columns that are not self: rank non-self columns and pick them.
    drop_last = ~is_self.any(axis=1)
    is_self[drop_last, k - 1] = True
    keep = ~is_self
    # When self appears twice (corrupt index), keep only the first k_out non-self columns.
    keep &= np.cumsum(keep, axis=1) <= k_out
    if np.all(keep.sum(axis=1) == k_out):
        return rows[keep].reshape(n, k_out), sims[keep].reshape(n, k_out)
    out_r = np.full((n, k_out), -1, np.int64)
    out_s = np.full((n, k_out), -np.inf, np.float32)
    for i in range(n):
        r = rows[i][keep[i]]
        out_r[i, :r.size], out_s[i, :r.size] = r, sims[i][keep[i]]
    return out_r, out_s


def build_index(X: np.ndarray, ids: np.ndarray | None = None, backend: str = "auto",
                metric: str = "ip", M: int = DEFAULT_M,
                ef_construction: int = DEFAULT_EF_CONSTRUCTION,
                ef_search: int = DEFAULT_EF_SEARCH, calibrate: bool = True,
                threads: int | None = None, random_state: int = 0,
                progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> KnnIndex:
    """Build a kNN index over the L2-normalised rows of ``X`` (float16/32, memmap ok).

    Vectors are added in chunks (float16 converted chunk by chunk), with progress and a
    cancel check between chunks. hnswlib builds are multi-threaded and therefore not
    bit-reproducible; ``random_state`` seeds the level assignment.
    """
    cancel = cancel or CancelToken()
    if metric != "ip":
        raise ClassKitError(f"only metric='ip' (cosine on L2-normalised rows) is supported, got {metric!r}")
    check_matrix(X)
    n, dim = X.shape
    ids = check_ids(ids, n)
    if backend == "auto":
        backend = choose_backend(n, dim)
    if backend not in BACKENDS:
        raise ClassKitError(f"unknown backend {backend!r}; choose auto or one of {BACKENDS}")
    nthreads = resolve_threads(threads)
    params: dict[str, Any] = {"random_state": int(random_state)}
    if backend != "faiss-flat":
        params.update(M=int(M), ef_construction=int(ef_construction), ef_search=int(ef_search))
    t0 = time.perf_counter()
    if backend == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, M=M, ef_construction=ef_construction,
                         random_seed=int(random_state))
        index.set_num_threads(nthreads)
        add = lambda lo, hi, b: index.add_items(b, np.arange(lo, hi), num_threads=nthreads)  # noqa: E731
    else:
        faiss = import_faiss()
        if backend == "faiss-flat":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        add = lambda lo, hi, b: index.add(b)  # noqa: E731
    progress(0, n, f"building {backend} index")
    with faiss_threads(nthreads):
        for lo, hi, block in float32_chunks(X, ADD_CHUNK):
            cancel.raise_if_cancelled()
            add(lo, hi, block)
            progress(hi, n, f"building {backend} index")
    if backend == "hnswlib":
        index.set_ef(ef_search)
    params["build_seconds"] = round(time.perf_counter() - t0, 3)
    result = KnnIndex(backend, index, ids, dim, params, threads)
    if calibrate and backend != "faiss-flat":
        from .calibrate import calibrate_ef

        calibrate_ef(result, X, random_state=random_state, threads=threads, cancel=cancel)
    return result
