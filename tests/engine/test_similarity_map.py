"""The 2-D map: shape, seeding, structure (same blob closer), the sample + place path,
display normalisation, cancel."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.jobs import CancelToken
from classkit.engine.similarity.graph import KnnGraph, knn_graph
from classkit.engine.similarity.umap_map import compute_map, normalise_coords, place_from_graph


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, KnnGraph]:
    rng = np.random.default_rng(0)
    d, centres, n = 32, 6, 1500
    c = rng.standard_normal((centres, d))
    blob = rng.integers(0, centres, n)
    X = c[blob] / np.sqrt(d) + 0.08 * rng.standard_normal((n, d))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X, blob, knn_graph(X, k=20)


def separation(coords: np.ndarray, blob: np.ndarray) -> float:
    """Mean distance between blobs / mean distance within a blob (> 1: blobs apart)."""
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, len(coords), (2, 20000))
    dist = np.linalg.norm(coords[a] - coords[b], axis=1)
    same = blob[a] == blob[b]
    return float(dist[~same].mean() / dist[same & (a != b)].mean())


def test_map_from_graph_is_seeded_and_keeps_blobs_apart(data: tuple) -> None:
    X, blob, graph = data
    seen: list[int] = []
    coords = compute_map(X, graph, random_state=7, n_epochs=100,
                         progress=lambda d, t, m="": seen.append(d))
    assert coords.shape == (1500, 2) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    assert seen and seen[-1] == 1000 and seen == sorted(seen)
    again = compute_map(X, graph, random_state=7, n_epochs=100)
    np.testing.assert_array_equal(coords, again)
    assert separation(coords, blob) > 3


def test_sample_fit_and_placement(data: tuple) -> None:
    X, blob, graph = data
    coords = compute_map(X, graph, random_state=0, fit_sample=600, n_epochs=100)
    assert coords.shape == (1500, 2) and np.isfinite(coords).all()
    assert separation(coords, blob) > 3
    with pytest.raises(ClassKitError, match="shared kNN graph"):
        compute_map(X, None, fit_sample=600)


def test_float16_rows_map_as_their_float32_widening(data: tuple) -> None:
    # a project's stored rows are float16 (memory-mapped); the map widens only what it fits
    X, _blob, graph = data
    half = X.astype(np.float16)
    wide = half.astype(np.float32)
    for fit_sample in (600, 100_000):  # sample + place, and the fit of all rows
        np.testing.assert_array_equal(
            compute_map(half, graph, random_state=3, fit_sample=fit_sample, n_epochs=50),
            compute_map(wide, graph, random_state=3, fit_sample=fit_sample, n_epochs=50))


def test_place_from_graph_rounds() -> None:
    # 0 and 1 placed; 2 links to 0 and 1; 3 links only to 2 (placed one round later);
    # 4 links to nobody placed, ever (parked at the mean).
    rows = np.array([[1, 2], [0, 2], [0, 1], [2, 4], [4, 3]])
    sims = np.array([[0.9, 0.5], [0.9, 0.5], [1.0, 0.5], [0.8, 0.1], [0.1, 0.1]], np.float32)
    g = KnnGraph(rows, sims, np.arange(5, dtype=np.int64))
    coords = np.full((5, 2), np.nan, np.float32)
    coords[0], coords[1] = (0.0, 0.0), (3.0, 0.0)
    place_from_graph(coords, g)
    np.testing.assert_allclose(coords[2], [1.0, 0.0])  # (1.0 * 0 + 0.5 * 3) / 1.5
    np.testing.assert_allclose(coords[3], coords[2])
    assert np.isfinite(coords[4]).all()


def test_normalise_coords_keeps_aspect_and_clips_outliers() -> None:
    rng = np.random.default_rng(0)
    c = np.column_stack([rng.uniform(-100, 100, 5000), rng.uniform(0, 50, 5000)])
    c[0] = (1e6, -1e6)  # an outlier
    out = normalise_coords(c)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    inner = out[1:]
    span = inner.max(axis=0) - inner.min(axis=0)
    assert abs(span[0] / span[1] - 4.0) < 0.1  # 200 : 50 kept
    assert span[0] > 0.9  # fills the long side
    np.testing.assert_allclose(out[0], [1.0, 0.0])
    assert normalise_coords(np.zeros((3, 2))).tolist() == [[0.5, 0.5]] * 3


def test_map_checks_graph_and_cancels(data: tuple) -> None:
    X, _, graph = data
    small = KnnGraph(graph.rows[:, :5], graph.sims[:, :5], graph.ids)
    with pytest.raises(ClassKitError, match="n_neighbors"):
        compute_map(X, small, n_neighbors=15)
    token = CancelToken()

    def progress(done: int, total: int, msg: str = "") -> None:
        if done > 100:
            token.cancel()

    with pytest.raises(Cancelled):
        compute_map(X, graph, n_epochs=200, progress=progress, cancel=token)
