"""Pick an HNSW index's ``ef_search`` on the real data: the smallest value whose sampled
recall@k meets a target within a single-query latency budget.

Why: recall at a given ef depends heavily on the data. On the benchmark's clustered data
(1M x 384, M=32) ef=128 gives recall@10 0.989 at 1.05 ms p95, while on a near-isotropic
"hard" distribution the same index needs ef > 512 and still stays below 0.9. Measuring on
a few hundred indexed rows against exact search costs seconds, even at 1M rows.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..jobs import CancelToken, ProgressFn, no_progress
from ._util import faiss_threads, float32_chunks, import_faiss, resolve_threads
from .knn import KnnIndex

EF_LADDER = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def exact_neighbors_of_rows(X: np.ndarray, rows: np.ndarray, k: int, threads: int | None = None,
                            chunk: int = 65536) -> np.ndarray:
    """Exact top-k other rows for a few query rows, streaming ``X`` once in chunks."""
    faiss = import_faiss()
    q = np.ascontiguousarray(X[rows], dtype=np.float32)
    best_s = np.full((len(rows), k + 1), -np.inf, np.float32)
    best_r = np.full((len(rows), k + 1), -1, np.int64)
    with faiss_threads(resolve_threads(threads)):
        for lo, _hi, block in float32_chunks(X, chunk):
            s, r = faiss.knn(q, block, min(k + 1, block.shape[0]), metric=faiss.METRIC_INNER_PRODUCT)
            cat_s = np.concatenate([best_s, s], axis=1)
            cat_r = np.concatenate([best_r, r + lo], axis=1)
            top = np.argsort(-cat_s, axis=1, kind="stable")[:, :k + 1]
            best_s = np.take_along_axis(cat_s, top, axis=1)
            best_r = np.take_along_axis(cat_r, top, axis=1)
    out = np.empty((len(rows), k), np.int64)
    for i, (row, cand) in enumerate(zip(rows, best_r, strict=True)):
        out[i] = cand[cand != row][:k]
    return out


def calibrate_ef(index: KnnIndex, X: np.ndarray, target_recall: float = 0.97, k: int = 10,
                 n_queries: int = 300, max_p95_ms: float = 5.0, ladder: tuple[int, ...] = EF_LADDER,
                 random_state: int = 0, threads: int | None = None,
                 progress: ProgressFn = no_progress,
                 cancel: CancelToken | None = None) -> dict[str, Any]:
    """Raise ``index``'s ef_search (never lower it) along ``ladder`` to the first value whose
    recall@k (neighbours of ``n_queries`` random indexed rows vs exact) reaches
    ``target_recall``, unless its single-query p95 exceeds ``max_p95_ms``: then the last
    value within the budget is kept and ``met`` is False. Returns the measurements (also
    stored in ``index.params["calibration"]``, so saving keeps them)."""
    cancel = cancel or CancelToken()
    if index.backend == "faiss-flat":
        return {"ef_search": 0, "recall": 1.0, "reason": "exact index"}
    k = min(k, index.n - 1)
    if k < 1:
        return {"ef_search": index.ef_search, "recall": 1.0, "reason": "too few rows"}
    rng = np.random.default_rng(random_state)
    rows = rng.choice(index.n, min(n_queries, index.n - 1), replace=False)
    truth = exact_neighbors_of_rows(X, rows, k, threads)
    queries = index.vectors(rows)
    tried: list[dict[str, float]] = []
    chosen: dict[str, float] | None = None
    start = max(index.ef_search, k)  # the configured value is a floor: only ever raised
    candidates = [start] + [ef for ef in ladder if ef > start]
    for step, ef in enumerate(candidates):
        cancel.raise_if_cancelled()
        progress(step, len(candidates), f"calibrating ef_search={ef}")
        index.set_ef_search(ef)
        lat = np.empty(len(rows))
        found = np.empty((len(rows), k), np.int64)
        for i in range(len(rows)):
            t0 = time.perf_counter()
            r, _ = index.search(queries[i:i + 1], k, exclude_self_rows=rows[i:i + 1])
            lat[i] = (time.perf_counter() - t0) * 1e3
            found[i] = r[0]
        rec = float(np.mean([len(np.intersect1d(f, t)) / k for f, t in zip(found, truth, strict=True)]))
        res = {"ef_search": ef, "recall": round(rec, 4), "p50_ms": round(float(np.percentile(lat, 50)), 3),
               "p95_ms": round(float(np.percentile(lat, 95)), 3)}
        tried.append(res)
        if res["p95_ms"] > max_p95_ms and chosen is not None:
            break  # over budget: keep the previous value
        chosen = res
        if rec >= target_recall:
            break
    assert chosen is not None
    index.set_ef_search(int(chosen["ef_search"]))
    report = {**chosen, "target_recall": target_recall, "met": chosen["recall"] >= target_recall,
              "k": k, "n_queries": len(rows), "max_p95_ms": max_p95_ms, "tried": tried}
    index.params["calibration"] = report
    progress(len(candidates), len(candidates), "calibrated")
    return report
