"""Semi-supervised help: label spreading over a kNN graph, weighted pseudo-labels, row weights
in the heads, and fit_round's semi-supervised heads."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.learn import Head, HeadConfig
from classkit.engine.learn.semi import PER_LABEL, label_spreading, pseudo_labels, spreading_matrix
from classkit.engine.loop.core import fit_round


def knn(X: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    rows = np.argsort(-sims, axis=1)[:, :k]
    return rows, np.take_along_axis(sims, rows, 1).astype(np.float32)


def two_arcs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles (each a chain of close neighbours), lifted onto the unit
    sphere in 3-d: the nearest neighbours stay within an arc, a straight line cannot split them."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, np.pi, n // 2)
    a = np.c_[np.cos(t), np.sin(t)]
    b = np.c_[1 - np.cos(t), 0.5 - np.sin(t)]
    P = np.r_[a, b] + rng.normal(0, 0.03, (n, 2))
    X = np.c_[P, np.full(n, 1.5)]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(np.int64)


def test_spreading_follows_the_graph() -> None:
    X, y = two_arcs()
    S = spreading_matrix(*knn(X))
    assert S.shape == (200, 200) and abs(S - S.T).max() < 1e-12
    seeds = np.array([0, 100])  # one end of each arc
    F = label_spreading(S, seeds, y[seeds], 2)
    assert np.allclose(F.sum(1), 1, atol=1e-5)
    assert (F.argmax(1) == y).mean() > 0.97


def test_spreading_ignores_missing_neighbours_and_checks_shapes() -> None:
    rows = np.array([[1, -1], [0, 2], [1, -1]])
    S = spreading_matrix(rows, np.array([[0.9, 0.0], [0.9, 0.8], [0.8, 0.0]], np.float32))
    assert S.nnz == 4
    with pytest.raises(ClassKitError):
        spreading_matrix(rows, np.ones((3, 3), np.float32))


def test_pseudo_labels_are_capped_weighted_and_only_from_candidates() -> None:
    X, y = two_arcs()
    S = spreading_matrix(*knn(X))
    seeds = np.array([0, 1, 100, 101])
    cands = np.setdiff1d(np.arange(200), np.r_[seeds, np.arange(150, 200)])
    rows, labels, w = pseudo_labels(S, seeds, y[seeds], 2, cands, weight=0.5, seed=3)
    assert np.isin(rows, cands).all() and len(rows) == min(len(cands), PER_LABEL * len(seeds))
    assert w.sum() == pytest.approx(0.5 * len(seeds)) and (w > 0).all()
    assert (labels == y[rows]).mean() > 0.95
    again = pseudo_labels(S, seeds, y[seeds], 2, cands, weight=0.5, seed=3)
    assert np.array_equal(again[0], rows)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_row_weights_decide_conflicting_labels(kind: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)).astype(np.float32)
    X = np.r_[X, X]
    y = np.r_[np.zeros(40), np.ones(40)].astype(np.int64)  # every point labeled both ways
    cfg = HeadConfig(kind=kind, hidden=8, lr=1e-2, max_epochs=100, class_weight="none")
    for heavy in (0, 1):
        w = np.where(y == heavy, 3.0, 1.0)
        head = Head(cfg).fit(X, y, n_classes=2, sample_weight=w)
        assert (head.logits(X[:40]).argmax(1) == heavy).mean() > 0.9
    with pytest.raises(ClassKitError, match="sample_weight"):
        Head(cfg).fit(X, y, sample_weight=-np.ones(80))


def test_fit_round_semi_supervised_heads() -> None:
    X, y_true = two_arcs(400, seed=1)
    nb = knn(X)
    y = np.full(400, -1)
    split = np.full(400, -1)
    lab = np.array([0, 5, 200, 205])  # near one end of each arc: a line through them misleads
    y[lab] = y_true[lab]
    plain = fit_round(X, y, split, ["a", "b"], folds=0)
    semi = fit_round(X, y, split, ["a", "b"], folds=0, neighbours=nb)
    assert "semi" not in plain.metrics
    assert semi.metrics["semi"]["prior"] == "none"  # no val yet: spread labels alone
    assert semi.metrics["semi"]["pseudo_rows"] == PER_LABEL * len(lab)
    acc = [(f.head.logits(X).argmax(1) == y_true).mean() for f in (plain, semi)]
    assert acc[1] > acc[0] + 0.05
    # with a val set the calibrated plain head is combined with the spread labels
    rng = np.random.default_rng(0)
    more = rng.choice(np.setdiff1d(np.arange(400), lab), 40, replace=False)
    y[more] = y_true[more]
    split[more] = np.where(np.arange(40) < 20, 0, 1)
    split[lab] = 0
    fit = fit_round(X, y, split, ["a", "b"], folds=0, neighbours=nb)
    info = fit.metrics["semi"]
    assert info["prior"] == "head" and info["pseudo_rows"] > 0 and 0 <= info["plain_val_accuracy"] <= 1
    assert fit.metrics["final_rows"] == 44 and fit.metrics["n_val"] == 20
    base = fit_round(X, y, split, ["a", "b"], folds=0)
    assert "semi" not in base.metrics and base.metrics["final_rows"] == 44
    acc = [(f.head.logits(X).argmax(1) == y_true).mean() for f in (base, fit)]
    assert acc[1] >= acc[0] and acc[1] > 0.8, acc
    with pytest.raises(ClassKitError, match="neighbours"):
        fit_round(X, y, split, ["a", "b"], folds=0, neighbours=(nb[0][:10], nb[1][:10]))
