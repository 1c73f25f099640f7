"""Over-clustering: the default k rule, FAISS k-means, hand-checked cluster stats,
refresh_stats against a slow reference, persistence and cancel."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.jobs import CancelToken
from classkit.engine.similarity.clusters import (Clustering, cluster_stats, default_n_clusters,
                                                 over_cluster, refresh_stats, train_rows)
from classkit.engine.similarity.graph import KnnGraph, knn_graph


def blobs(n: int, centres: int, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    blob = rng.integers(0, centres, n)
    X = c[blob] / np.sqrt(d) + 0.05 * rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), blob


def test_default_k_rule() -> None:
    assert default_n_clusters(1) == 1
    assert default_n_clusters(10) == 5  # never more than N // 2
    assert default_n_clusters(100) == 50
    assert default_n_clusters(5_000) == 50
    assert default_n_clusters(12_345) == 123
    assert default_n_clusters(100_000) == 1000
    assert default_n_clusters(1_000_000) == 2000
    assert default_n_clusters(50_000_000) == 2000


def test_kmeans_training_sample_rule() -> None:
    assert train_rows(20_000, 200) == 20_000            # a small project: every row
    assert train_rows(100_000, 1000) == 100_000
    assert train_rows(1_000_000, 2000) == 131_072       # 1M: 65 per centroid, not 256
    assert train_rows(50_000_000, 4000) == 4000 * 64    # never under 64 per centroid
    assert train_rows(300, 2) == 300


def test_over_cluster_recovers_blobs_and_is_seeded() -> None:
    X, blob = blobs(3000, centres=10)
    assign, centroids = over_cluster(X, random_state=3)
    assert assign.dtype == np.int32 and assign.shape == (3000,)
    assert centroids.shape == (50, 32) and centroids.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-4)
    for c in np.unique(assign):  # over-clusters never mix two blobs
        assert len(np.unique(blob[assign == c])) == 1
    again, _ = over_cluster(X, random_state=3)
    np.testing.assert_array_equal(assign, again)
    # every row sits in its most similar centroid's cluster
    np.testing.assert_array_equal(assign, np.argmax(X @ centroids.T, axis=1))
    with pytest.raises(ClassKitError):
        over_cluster(X, k=5000)


def test_over_cluster_cancels() -> None:
    X, _ = blobs(500, centres=5)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        over_cluster(X, k=10, cancel=token)


def unit(*v: float) -> np.ndarray:
    a = np.array(v, np.float64)
    return a / np.linalg.norm(a)


def test_cluster_stats_hand_checked() -> None:
    X = np.array([unit(1, 0, 0), unit(0.8, 0.6, 0), unit(0.6, 0.8, 0),  # cluster 0
                  unit(0, 0, 1), unit(0, 0.28, 0.96)], np.float32)  # cluster 1
    assign = np.array([0, 0, 0, 1, 1])
    c0 = unit(2.4, 1.4, 0)  # sims: row0 0.864, row1 0.993, row2 0.921
    centroids = np.array([c0, unit(0, 0, 1), unit(1, 0, 0)], np.float32)  # cluster 2 is empty
    graph = KnnGraph(np.array([[1, 2], [2, 0], [1, 0], [4, 0], [3, 1]], np.int32),
                     np.array([[0.9, 0.7], [0.9, 0.8], [0.8, 0.5], [0.96, 0.1], [0.96, 0.2]], np.float32),
                     np.arange(5, dtype=np.int64))
    st = cluster_stats(X, assign, centroids, graph, n_prototypes=3)
    np.testing.assert_array_equal(st.size, [3, 2, 0])
    np.testing.assert_array_equal(st.medoid, [1, 3, -1])
    np.testing.assert_array_equal(st.prototypes, [[1, 2, 0], [3, 4, -1], [-1, -1, -1]])
    # density: mean over members of 1 - mean neighbour similarity
    np.testing.assert_allclose(st.density[:2], [np.mean([0.2, 0.15, 0.35]), np.mean([0.47, 0.42])],
                               atol=1e-6)
    assert math.isnan(st.density[2]) and math.isnan(st.cohesion[2])
    np.testing.assert_allclose(st.cohesion[:2], [np.mean(X[:3] @ c0), np.mean([1.0, 0.96])], atol=1e-6)


def test_refresh_stats_hand_checked() -> None:
    assign = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    labels = np.array([0, 0, 1, -1, 2, -1, -1, -1])
    preds = np.array([0, 1, 1, 1, 0, 2, 2, 1])
    unc = np.array([0.1, 0.2, 0.3, 0.4, 0.5, np.nan, 0.7, 0.8])
    s = refresh_stats(assign, labels, preds, unc, n_clusters=4)
    nan = np.nan
    np.testing.assert_array_equal(s.n_labeled, [3, 1, 0, 0])
    np.testing.assert_allclose(s.coverage, [0.75, 1 / 3, 0, nan])
    np.testing.assert_array_equal(s.majority, [0, 2, -1, -1])
    np.testing.assert_allclose(s.purity, [2 / 3, 1, nan, nan])
    np.testing.assert_allclose(s.disagreement, [1 / 3, 1, nan, nan])
    np.testing.assert_allclose(s.pred_mixing, [0.25, 1 / 3, 0, nan])
    np.testing.assert_allclose(s.mean_uncertainty, [0.25, 0.6, 0.8, nan])
    bare = refresh_stats(assign, np.full(8, -1))
    np.testing.assert_allclose(bare.coverage, [0, 0, 0])
    assert np.isnan(bare.purity).all() and np.isnan(bare.disagreement).all()


def reference_stats(assign: np.ndarray, labels: np.ndarray, preds: np.ndarray,
                    unc: np.ndarray, k: int) -> dict[str, list[float]]:
    """Slow, obvious per-cluster loops: the definitions written out."""
    out: dict[str, list[float]] = {f: [] for f in
                                   ["coverage", "majority", "purity", "disagreement", "pred_mixing", "unc"]}
    for c in range(k):
        m = [i for i in range(len(assign)) if assign[i] == c]
        lab = [i for i in m if labels[i] >= 0]
        counts: dict[int, int] = {}
        for i in lab:
            counts[labels[i]] = counts.get(labels[i], 0) + 1
        best = min(counts, key=lambda v: (-counts[v], v)) if counts else -1
        both = [i for i in lab if preds[i] >= 0]
        pm = [i for i in m if preds[i] >= 0]
        pcounts: dict[int, int] = {}
        for i in pm:
            pcounts[preds[i]] = pcounts.get(preds[i], 0) + 1
        u = [unc[i] for i in m if np.isfinite(unc[i])]
        out["coverage"].append(len(lab) / len(m) if m else math.nan)
        out["majority"].append(best)
        out["purity"].append(counts[best] / len(lab) if lab else math.nan)
        out["disagreement"].append(sum(preds[i] != labels[i] for i in both) / len(both) if both else math.nan)
        out["pred_mixing"].append(1 - max(pcounts.values()) / len(pm) if pm else math.nan)
        out["unc"].append(sum(u) / len(u) if u else math.nan)
    return out


def test_refresh_stats_matches_reference() -> None:
    rng = np.random.default_rng(5)
    n, k = 3000, 60
    assign = rng.integers(0, k - 3, n)  # the last three clusters are empty
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), -1)
    preds = np.where(rng.random(n) < 0.9, rng.integers(0, 4, n), -1)
    unc = np.where(rng.random(n) < 0.95, rng.random(n), np.nan)
    s = refresh_stats(assign, labels, preds, unc, n_clusters=k)
    ref = reference_stats(assign, labels, preds, unc, k)
    np.testing.assert_allclose(s.coverage, ref["coverage"])
    np.testing.assert_array_equal(s.majority, ref["majority"])
    np.testing.assert_allclose(s.purity, ref["purity"])
    np.testing.assert_allclose(s.disagreement, ref["disagreement"])
    np.testing.assert_allclose(s.pred_mixing, ref["pred_mixing"])
    np.testing.assert_allclose(s.mean_uncertainty, ref["unc"])
    with pytest.raises(ClassKitError):
        refresh_stats(assign, labels[:10])


def test_clustering_round_trip(tmp_path: Path) -> None:
    X, _ = blobs(800, centres=6)
    assign, centroids = over_cluster(X, k=12)
    stats = cluster_stats(X, assign, centroids, knn_graph(X, k=10))
    ids = np.arange(800, dtype=np.int64) + 10
    Clustering(ids, assign, centroids, stats, {"k": 12, "random_state": 0}).save(tmp_path / "c")
    back = Clustering.load(tmp_path / "c")
    np.testing.assert_array_equal(back.assign, assign)
    np.testing.assert_array_equal(back.centroids, centroids)
    np.testing.assert_array_equal(back.stats.prototypes, stats.prototypes)
    np.testing.assert_array_equal(back.stats.density, stats.density)
    assert back.params == {"k": 12, "random_state": 0}
    assert stats.size.sum() == 800
