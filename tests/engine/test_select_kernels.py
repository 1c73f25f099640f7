"""Selection kernels: numba results match the numpy baselines; k-center quality and contract."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.errors import Cancelled
from classkit.engine.jobs import CancelToken
from classkit.engine.select.kernels import (bandwidth_fraction, entropy_margin, entropy_margin_numpy,
                                            kcenter_greedy, kcenter_numpy)


def blobs(n: int, d: int, k: int, spread: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(np.float32)
    lab = rng.integers(0, k, n)
    X = centres[lab] / np.sqrt(d) * 3 + spread * rng.standard_normal((n, d)).astype(np.float32) / np.sqrt(d)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), lab


def covering_radius(X: np.ndarray, centres: np.ndarray, rows: np.ndarray | None = None) -> float:
    rows = np.arange(len(X)) if rows is None else rows
    sims = (X[rows] @ X[centres].T).max(axis=1)
    return float(np.sqrt(max(0.0, 2 - 2 * sims.min())))


def test_entropy_margin_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.full(7, 0.4), 5000).astype(np.float32)
    P[0] = 0
    P[1] = [1, 0, 0, 0, 0, 0, 0]
    e1, m1 = entropy_margin(P)
    e2, m2 = entropy_margin_numpy(P)
    assert e1.dtype == np.float32 and m1.dtype == np.float32
    np.testing.assert_allclose(e1, e2, atol=2e-6)
    np.testing.assert_allclose(m1, m2, atol=1e-7)
    assert e1[1] == 0 and m1[1] == 1
    one = np.ones((3, 1), np.float32)
    np.testing.assert_allclose(entropy_margin(one)[1], entropy_margin_numpy(one)[1])


@pytest.mark.parametrize("with_mindist", [False, True])
def test_kcenter_exact_matches_numpy(with_mindist: bool) -> None:
    X, _ = blobs(3000, 24, 12)
    cands = np.arange(100, 3000, 2)
    mind = np.linspace(0.2, 1.5, len(cands)) if with_mindist else None
    r1, d1 = kcenter_greedy(X, [3, 7], 60, cands, mindist=mind, reduce="none")
    r2, d2 = kcenter_numpy(X, [3, 7], 60, cands, mindist=mind)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(d1, d2, atol=1e-5)
    assert np.all(np.diff(d1) <= 1e-6)  # farthest-first: distances never grow
    assert set(r1) <= set(cands) and len(set(r1)) == len(r1)


def test_kcenter_projected_close_to_exact_and_finds_uncovered_blobs() -> None:
    X, lab = blobs(6000, 160, 40)
    seeds = np.flatnonzero(lab < 20)[:200]  # blobs 0..19 are covered
    cands = np.setdiff1d(np.arange(len(X)), seeds)
    stats: dict = {}
    r1, _ = kcenter_greedy(X, seeds, 100, cands, reduce="project", stats=stats)
    r2, _ = kcenter_numpy(X, seeds, 100, cands)
    assert stats["mode"] == "project"
    assert stats["exact_rows"] < 0.2 * (len(seeds) + 100) * len(cands)  # exact would read all, each pass
    ref = covering_radius(X, np.r_[seeds, r2], cands)
    assert covering_radius(X, np.r_[seeds, r1], cands) <= 1.1 * ref
    assert set(lab[r1[:20]]) == set(range(20, 40))  # first reaches every uncovered blob


@pytest.mark.parametrize("with_mindist", [False, True])
def test_kcenter_many_seeds_checked_lazily(with_mindist: bool) -> None:
    """Hundreds of seeds (a labeled set): each candidate gets the exact distance to its
    projected-nearest seed only; other competitive seeds are checked when it reaches the top,
    so picks are as good as exact greedy's and far fewer rows are read."""
    X, _ = blobs(8000, 160, 60, spread=0.6)
    seeds = np.random.default_rng(3).choice(len(X), 400, replace=False)
    cands = np.setdiff1d(np.arange(len(X)), seeds)
    mind = np.full(len(cands), 0.9) if with_mindist else None  # a cap some seeds beat
    stats: dict = {}
    r1, d1 = kcenter_greedy(X, seeds, 80, cands, mindist=mind, reduce="project", stats=stats)
    r2, _ = kcenter_numpy(X, seeds, 80, cands, mindist=mind)
    assert stats["exact_rows"] < 3 * len(cands)  # every competitive seed at once: 3.8 a row
    ref = covering_radius(X, np.r_[seeds, r2], cands)
    assert covering_radius(X, np.r_[seeds, r1], cands) <= 1.05 * ref
    true = np.sqrt(np.maximum(2 - 2 * (X[r1[0]] @ X[seeds].T).max(), 0))
    assert d1[0] == pytest.approx(min(true, 0.9) if with_mindist else true, rel=0.05)


def test_kcenter_float16_and_memmap(tmp_path) -> None:
    X, _ = blobs(2000, 32, 8)
    path = tmp_path / "x.npy"
    np.save(path, X.astype(np.float16))
    Xm = np.load(path, mmap_mode="r")
    r16, _ = kcenter_greedy(Xm, [0], 30, reduce="none")
    r32, _ = kcenter_numpy(Xm.astype(np.float32), [0], 30)
    assert len(set(r16) & set(r32)) >= 27  # float16 rounding may swap near-ties


def test_kcenter_edges_and_determinism() -> None:
    X, _ = blobs(500, 16, 4)
    cands = np.arange(40)
    r, d = kcenter_greedy(X, [], 100, cands)
    assert sorted(r) == list(cands) and np.isinf(d[0]) and np.all(np.isfinite(d[1:]))
    np.testing.assert_array_equal(r, kcenter_greedy(X, [], 100, cands)[0])
    assert not np.array_equal(r[:5], kcenter_greedy(X, [], 100, cands, random_state=5)[0][:5])
    r, d = kcenter_greedy(X, [1, 2], 5, [1, 2])  # every candidate is a seed
    assert r.size == 0 and d.size == 0
    assert kcenter_greedy(X, [], 0)[0].size == 0
    with pytest.raises(ValueError):
        kcenter_greedy(X, [], 3, reduce="pca")


def test_kcenter_cancel() -> None:
    X, _ = blobs(500, 16, 4)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        kcenter_greedy(X, [0], 10, cancel=token)


def test_bandwidth_fraction() -> None:
    assert bandwidth_fraction(10**9, 0.1, peak_gbps=20.0) == pytest.approx(0.5)
