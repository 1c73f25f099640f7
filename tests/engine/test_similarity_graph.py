"""The all-points kNN graph: exact equals brute force, HNSW graph recall, persistence."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.jobs import CancelToken
from classkit.engine.similarity import build_index
from classkit.engine.similarity.graph import KnnGraph, knn_graph, numpy_knn_graph


def blobs(n: int, d: int = 48, centres: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    X = c[rng.integers(0, centres, n)] / np.sqrt(d) + rng.standard_normal((n, d)) * 0.1
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32)


def brute_force(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    rows = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(S, rows, axis=1)


def test_exact_graph_equals_brute_force() -> None:
    X = blobs(700)
    g = knn_graph(X, k=15, batch=128)
    assert g.params["method"] == "exact" and g.rows.shape == (700, 15)
    assert g.rows.dtype == np.int32 and g.sims.dtype == np.float32
    rows, sims = brute_force(X, 15)
    np.testing.assert_allclose(g.sims, sims, atol=1e-5)
    assert np.mean(g.rows == rows) > 0.999  # only float-rounding ties may swap
    nrows, nsims = numpy_knn_graph(X, 15, batch=100)
    np.testing.assert_allclose(nsims, sims, atol=1e-5)
    assert not np.any(g.rows == np.arange(700)[:, None])


def test_exact_graph_with_duplicates_excludes_self() -> None:
    X = blobs(300)
    X[50:60] = X[50]
    g = knn_graph(X, k=12)
    assert not np.any(g.rows == np.arange(300)[:, None])
    assert set(g.rows[55, :9]) == set(range(50, 60)) - {55}


@pytest.mark.parametrize("use_index", [False, True])
def test_hnsw_graph_has_high_recall(use_index: bool) -> None:
    X = blobs(2500, d=32)
    exact = knn_graph(X, k=20)
    index = build_index(X, backend="hnswlib", M=16, ef_search=16) if use_index else None
    approx = knn_graph(X, k=20, index=index, exact_below=0)
    assert approx.params["method"] == "hnswlib"
    assert not np.any(approx.rows == np.arange(2500)[:, None])
    hits = np.mean([len(np.intersect1d(a, e)) / 20 for a, e in zip(approx.rows, exact.rows, strict=True)])
    assert hits >= 0.95
    if index is not None:
        assert index.ef_search == 16  # restored after the graph's wider search


def test_graph_round_trip(tmp_path: Path) -> None:
    X = blobs(400)
    ids = np.arange(400, dtype=np.int64) + 1000
    g = knn_graph(X, k=10, ids=ids)
    g.save(tmp_path / "g")
    for mmap in (False, True):
        h = KnnGraph.load(tmp_path / "g", mmap=mmap)
        np.testing.assert_array_equal(h.rows, g.rows)
        np.testing.assert_array_equal(h.sims, g.sims)
        np.testing.assert_array_equal(h.ids, ids)
        assert h.params == g.params
    np.testing.assert_allclose(g.distances(), 1 - g.sims, atol=1e-7)
    with pytest.raises(ClassKitError):
        KnnGraph.load(tmp_path / "nothing")


def test_graph_cancels_between_chunks() -> None:
    X = blobs(1000)
    token = CancelToken()
    calls: list[int] = []

    def progress(done: int, total: int, msg: str = "") -> None:
        calls.append(done)
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        knn_graph(X, k=10, batch=100, progress=progress, cancel=token)
    assert calls == [0, 100]


def test_graph_rejects_mismatched_index() -> None:
    X = blobs(300)
    index = build_index(X[:200], backend="hnswlib")
    with pytest.raises(ClassKitError, match="not built on X"):
        knn_graph(X, k=5, index=index)
