"""kNN indexes: exact vs HNSW recall, self exclusion with duplicates, persistence, inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.jobs import CancelToken
from classkit.engine.similarity import KnnIndex, build_index, choose_backend
from classkit.engine.similarity.calibrate import calibrate_ef, exact_neighbors_of_rows
from classkit.engine.similarity.knn import EXACT_MAX_BYTES

BACKENDS = ["faiss-flat", "faiss-hnsw", "hnswlib"]


def blobs(n: int = 3000, d: int = 64, centres: int = 20, noise: float = 0.35,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows drawn around ``centres`` random directions, and each row's blob."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    blob = rng.integers(0, centres, n)
    X = c[blob] + noise * rng.standard_normal((n, d)) / np.sqrt(d) * 3
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), blob


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, _ = blobs(3200)
    return X[:3000], X[3000:]  # corpus, held-out queries


@pytest.mark.parametrize("backend", ["faiss-hnsw", "hnswlib"])
def test_hnsw_agrees_with_exact(data: tuple[np.ndarray, np.ndarray], backend: str) -> None:
    X, Q = data
    exact = build_index(X, backend="faiss-flat")
    approx = build_index(X, backend=backend, M=16, ef_construction=100, ef_search=64)
    truth, tsims = exact.search(Q, 10)
    found, fsims = approx.search(Q, 10)
    assert recall(found, truth) >= 0.95
    assert np.all(np.diff(fsims, axis=1) <= 1e-6)  # most similar first
    # similarities are true cosines of the returned rows
    np.testing.assert_allclose(fsims, np.einsum("qd,qkd->qk", Q, X[found]), atol=1e-5)
    rows = np.arange(0, 3000, 37)
    t_rows, _ = exact.neighbors_of_rows(rows, 10)
    a_rows, _ = approx.neighbors_of_rows(rows, 10)
    assert recall(a_rows, t_rows) >= 0.95


@pytest.mark.parametrize("backend", BACKENDS)
def test_neighbors_never_include_self_even_with_duplicates(backend: str) -> None:
    X, _ = blobs(600, seed=1)
    X[10:13] = X[10]  # three identical rows
    X[100:120] = X[100]  # twenty identical rows: more ties than k + 1
    index = build_index(X, backend=backend)
    rows = np.array([10, 11, 12, 100, 105, 119, 300])
    nb, sims = index.neighbors_of_rows(rows, 5)
    assert nb.shape == (7, 5) and sims.shape == (7, 5)
    assert not np.any(nb == rows[:, None])
    assert set(nb[0, :2]) == {11, 12} and set(nb[1, :2]) == {10, 12}
    np.testing.assert_allclose(sims[:6, :2], 1.0, atol=1e-5)
    assert np.all((nb[3:6] >= 100) & (nb[3:6] < 120))  # the duplicates, self excluded
    assert len(np.unique(nb, axis=None)) > 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_round_trip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray], backend: str) -> None:
    X, Q = data
    ids = np.arange(5000, 5000 + X.shape[0], dtype=np.int64)[::-1].copy()
    index = build_index(X, ids=ids, backend=backend)
    index.save(tmp_path / "idx")
    loaded = KnnIndex.load(tmp_path / "idx")
    assert loaded.backend == backend and loaded.n == X.shape[0] and loaded.dim == X.shape[1]
    np.testing.assert_array_equal(loaded.ids_, ids)
    r1, s1 = index.search(Q, 10)
    r2, s2 = loaded.search(Q, 10)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(s1, s2)
    np.save(tmp_path / "idx" / "ids.npy", ids[::-1])  # a misaligned copy is refused
    with pytest.raises(ClassKitError, match="do not match"):
        KnnIndex.load(tmp_path / "idx")
    with pytest.raises(ClassKitError, match="no index"):
        KnnIndex.load(tmp_path / "missing")


def test_neighbors_of_ids_speak_ids(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    ids = np.arange(X.shape[0], dtype=np.int64) * 10 + 7
    index = build_index(X, ids=ids, backend="faiss-flat")
    nb_ids, sims = index.neighbors_of_ids(np.array([7, 217]), 4)
    nb_rows, sims2 = index.neighbors_of_rows(np.array([0, 21]), 4)
    np.testing.assert_array_equal(nb_ids, ids[nb_rows])
    np.testing.assert_array_equal(sims, sims2)
    with pytest.raises(ClassKitError, match="not in this index"):
        index.neighbors_of_ids(np.array([8]), 4)


def test_auto_backend_rule() -> None:
    small = EXACT_MAX_BYTES // (4 * 384)
    assert choose_backend(small, 384) == "faiss-flat"
    assert choose_backend(small + 1, 384) == "hnswlib"
    X, _ = blobs(500)
    assert build_index(X).backend == "faiss-flat"


def test_float16_memmap_input(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, Q = data
    path = tmp_path / "emb.npy"
    np.save(path, X.astype(np.float16))
    X16 = np.load(path, mmap_mode="r")
    index = build_index(X16, backend="faiss-flat")
    ref = build_index(X.astype(np.float16).astype(np.float32), backend="faiss-flat")
    np.testing.assert_array_equal(index.search(Q, 5)[0], ref.search(Q, 5)[0])


def test_k_is_clamped_and_inputs_are_checked() -> None:
    X, _ = blobs(8)
    index = build_index(X, backend="hnswlib")
    nb, sims = index.neighbors_of_rows(np.arange(8), 50)
    assert nb.shape == (8, 7) and not np.any(nb == np.arange(8)[:, None])
    with pytest.raises(ClassKitError, match="L2-normalised"):
        build_index(X * 2)
    with pytest.raises(ClassKitError, match="unknown backend"):
        build_index(X, backend="annoy")
    with pytest.raises(ClassKitError, match="unique"):
        build_index(X, ids=np.zeros(8, np.int64))
    with pytest.raises(ClassKitError, match="dimension"):
        index.search(np.ones((1, 3), np.float32), 2)


def test_build_reports_progress_and_cancels() -> None:
    X, _ = blobs(2000)
    seen: list[tuple[int, int]] = []
    build_index(X, backend="hnswlib", progress=lambda d, t, m="": seen.append((d, t)))
    assert seen[0] == (0, 2000) and seen[-1] == (2000, 2000)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_index(X, backend="hnswlib", cancel=token)


def test_exact_neighbors_streamed_in_chunks_match_flat_index(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    rows = np.array([0, 5, 999, 2999, 1234])
    flat = build_index(X, backend="faiss-flat")
    np.testing.assert_array_equal(exact_neighbors_of_rows(X, rows, 10, chunk=700),
                                  flat.neighbors_of_rows(rows, 10)[0])


def test_calibrate_ef_reaches_target_and_is_saved(tmp_path: Path,
                                                  data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    index = build_index(X, backend="hnswlib", M=4, ef_construction=20, ef_search=10, calibrate=False)
    rep = calibrate_ef(index, X, target_recall=0.97, n_queries=200)
    assert rep["met"] and rep["recall"] >= 0.97 and index.ef_search == rep["ef_search"]
    assert rep["tried"][0]["ef_search"] == 10 and rep["tried"][-1] == {
        key: rep[key] for key in ("ef_search", "recall", "p50_ms", "p95_ms")}
    rows = np.arange(0, 3000, 11)  # independent check on other rows
    truth = build_index(X, backend="faiss-flat").neighbors_of_rows(rows, 10)[0]
    assert recall(index.neighbors_of_rows(rows, 10)[0], truth) >= 0.95
    index.save(tmp_path / "idx")
    loaded = KnnIndex.load(tmp_path / "idx")
    assert loaded.ef_search == rep["ef_search"] and loaded.params["calibration"]["met"]
    # the configured value is a floor; an impossible latency budget keeps it
    index.set_ef_search(12)
    rep2 = calibrate_ef(index, X, target_recall=1.01, max_p95_ms=0.0, n_queries=50)
    assert rep2["ef_search"] == 12 and not rep2["met"] and len(rep2["tried"]) == 2
    auto = build_index(X, backend="faiss-hnsw", calibrate=True)
    assert auto.params["calibration"]["met"]
