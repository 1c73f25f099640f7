"""Neighbour smoothing of predictions: the vote, the val decision (without val labels
leaking into it), fit_round's smoothed metrics and smoothed predictions on disk."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.errors import ClassKitError
from classkit.engine.learn.calibration import softmax
from classkit.engine.learn.heads import predict_proba
from classkit.engine.learn.smooth import (decide, neighbour_vote, reference_probs, smooth_probs,
                                          smoothing_line, vote_for, without_val)
from classkit.engine.loop.core import fit_round

from .test_learn_semi import knn, two_arcs


def test_vote_weights_neighbours_and_handles_missing_ones() -> None:
    ref = np.array([[1, 0], [0, 1], [0.5, 0.5]], np.float32)
    rows = np.array([[0, 1], [2, -1], [-1, -1]])
    sims = np.array([[1.0, 0.5], [0.8, 0.9], [0.0, 0.0]], np.float32)
    q = neighbour_vote(ref, rows, sims, k=2, power=1)
    np.testing.assert_allclose(q[0], [1 / 1.5, 0.5 / 1.5], rtol=1e-6)  # weights cos ** 1
    np.testing.assert_allclose(q[1], [0.5, 0.5])                        # -1: not counted
    np.testing.assert_allclose(q[2], [0.5, 0.5])                        # nobody: uniform
    # negative similarities count as 0; power sharpens towards the closest neighbour
    q3 = neighbour_vote(ref, np.array([[0, 1]]), np.array([[1.0, 0.5]], np.float32), k=2, power=3)
    np.testing.assert_allclose(q3[0], [1 / 1.125, 0.125 / 1.125], rtol=1e-6)
    assert np.allclose(neighbour_vote(ref[:0], rows, sims, k=2), 0.5)
    with pytest.raises(ClassKitError, match="same shape"):
        neighbour_vote(ref, rows, sims[:, :1], k=2)


def test_reference_uses_known_labels_only() -> None:
    P = np.full((4, 3), 1 / 3, np.float32)
    y = np.array([2, -1, 0, 1])
    R = reference_probs(P, y, np.array([True, True, False, True]))
    np.testing.assert_array_equal(R[0], [0, 0, 1])
    np.testing.assert_allclose(R[1], 1 / 3)   # unlabeled: the head's probabilities
    np.testing.assert_allclose(R[2], 1 / 3)   # labeled but not known (e.g. a val row)
    np.testing.assert_array_equal(R[3], [0, 1, 0])
    np.testing.assert_allclose(P, 1 / 3)       # the input is not modified


def test_smoothing_corrects_the_head_where_neighbours_agree() -> None:
    P = np.array([[0.6, 0.4], [0.45, 0.55]], np.float32)
    vote = np.array([[0.1, 0.9], [0.9, 0.1]], np.float32)
    S = smooth_probs(P, vote)
    np.testing.assert_allclose(S.sum(1), 1, rtol=1e-6)
    assert list(S.argmax(1)) == [1, 0]
    # a flat vote changes nothing; beta 0 gives the head back
    np.testing.assert_allclose(smooth_probs(P, np.full_like(P, 0.5)), P, rtol=1e-5)
    np.testing.assert_allclose(smooth_probs(P, vote, beta=0.0), P, rtol=1e-5)


def test_decide_keeps_smoothing_only_when_val_says_so() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    P = softmax(rng.normal(0, 1, (300, 3)) + 1.0 * np.eye(3)[y])  # a weak head
    good = (0.8 * np.eye(3)[y] + 0.2 / 3).astype(np.float32)       # neighbours who know
    bad = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 300)] * 0.8 + 0.2 / 3
    yes = decide(P, good, y)
    assert yes["used"] and yes["val"]["smoothed"]["nll"] < yes["val"]["plain"]["nll"]
    assert yes["val"]["smoothed"]["accuracy"] > yes["val"]["plain"]["accuracy"]
    assert yes["temperature"] > 0 and {"k", "power", "beta", "mode"} <= set(yes)
    no = decide(P, bad, y)
    assert not no["used"] and no["val"]["smoothed"]["nll"] > no["val"]["plain"]["nll"]
    assert decide(P, bad, y, "on")["used"] and not decide(P, good, y, "off")["used"]
    with pytest.raises(ClassKitError, match="auto, on or off"):
        decide(P, good, y, "always")
    assert "on (auto)" in smoothing_line(yes) and "off (auto)" in smoothing_line(no)
    forced = without_val("on", "no val")
    assert forced["used"] and forced["temperature"] == 2.0
    auto = without_val("auto", "no val")
    assert auto["used"] and auto["temperature"] == 2.0 and "no val" in smoothing_line(auto)  # 1 + beta
    assert not without_val("off", "no val")["used"]


def test_vote_for_reads_only_the_neighbours() -> None:
    ref = np.eye(4, dtype=np.float32)
    rows = np.array([[1, 2], [0, -1], [3, 0], [2, 1]])
    sims = np.ones((4, 2), np.float32)
    asked = []

    def fn(r: np.ndarray) -> np.ndarray:
        asked.append(r.copy())
        return ref[r]
    q = vote_for(np.array([0, 1]), rows, sims, fn, k=2)
    np.testing.assert_array_equal(asked[0], [0, 1, 2])
    np.testing.assert_allclose(q, neighbour_vote(ref, rows[[0, 1]], sims[[0, 1]], k=2))


def _arcs_split(n: int = 400, seed: int = 1) -> tuple:
    X, y_true = two_arcs(n, seed=seed)
    y = np.full(n, -1)
    split = np.full(n, -1)
    rng = np.random.default_rng(0)
    lab = rng.choice(n, 60, replace=False)
    y[lab] = y_true[lab]
    split[lab] = np.r_[np.zeros(30), np.ones(20), np.full(10, 2)]
    return X, y, y_true, split


def test_fit_round_smooths_on_a_graph_that_knows_the_classes() -> None:
    X, y, y_true, split = _arcs_split()
    nb = knn(X)
    plain = fit_round(X, y, split, ["a", "b"], folds=0)
    fit = fit_round(X, y, split, ["a", "b"], folds=0, graph=nb)
    assert plain.smoothing is None and "smoothing" not in plain.metrics
    info = fit.smoothing
    assert info["used"] and info["mode"] == "auto" and fit.metrics["smoothing"] is info
    assert info["val"]["smoothed"]["accuracy"] > info["val"]["plain"]["accuracy"]
    assert fit.metrics["test"]["accuracy"] >= plain.metrics["test"]["accuracy"]
    assert fit.metrics["val"]["accuracy"] == pytest.approx(info["val"]["smoothed"]["accuracy"])
    off = fit_round(X, y, split, ["a", "b"], folds=0, graph=nb, smoothing="off")
    assert off.smoothing is None and off.metrics["val"] == plain.metrics["val"]
    with pytest.raises(ClassKitError, match="graph"):
        fit_round(X, y, split, ["a", "b"], folds=0, graph=(nb[0][:10], nb[1][:10]))
    # without a val set there is nothing to decide or calibrate on: smoothed at temperature 1 + beta
    none = fit_round(X, y, np.where(split == 1, 0, split), ["a", "b"], folds=0, graph=nb)
    assert none.smoothing["used"] and none.smoothing["temperature"] == 2.0  # geometric mean
    assert "val" in none.smoothing["skipped"]
    assert fit_round(X, y, np.where(split == 1, 0, split), ["a", "b"], folds=0, graph=nb,
                     smoothing="off").smoothing is None


def test_val_labels_never_vote_for_val_images() -> None:
    """Each val image's only neighbour is another val image of the same class: if val labels
    leaked into the vote, smoothed val accuracy would be perfect on features that carry no
    class information. Built honestly, smoothing cannot help and auto leaves it off."""
    rng = np.random.default_rng(3)
    n = 200
    X = rng.standard_normal((n, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y_true = rng.integers(0, 2, n)
    y = y_true.copy()
    split = np.zeros(n, np.int64)
    val = np.flatnonzero(np.arange(n) % 4 == 0)
    split[val] = 1
    rows = np.full((n, 1), -1)
    for c in (0, 1):
        v = val[y_true[val] == c]
        rows[v, 0] = np.roll(v, 1)  # a val partner of the same class
    sims = np.where(rows >= 0, 0.99, 0.0).astype(np.float32)
    fit = fit_round(X, y, split, ["a", "b"], folds=0, graph=(rows, sims))
    assert fit.smoothing["val"]["smoothed"]["accuracy"] < 0.8
    # the same graph with each val image's partner a *train* image of its class: now the
    # vote knows the answer, and smoothing finds it
    train = np.flatnonzero(split == 0)
    for c in (0, 1):
        v = val[y_true[val] == c]
        rows[v, 0] = train[y_true[train] == c][: len(v)]
    fit = fit_round(X, y, split, ["a", "b"], folds=0, graph=(rows, sims))
    assert fit.smoothing["used"] and fit.smoothing["val"]["smoothed"]["accuracy"] > 0.95


def test_smoothed_predictions_on_disk(tmp_path) -> None:
    from classkit.engine.loop.predictions import load_predictions, write_predictions
    from classkit.engine.project import Project

    X, y, y_true, split = _arcs_split()
    nb = knn(X)
    fit = fit_round(X, y, split, ["a", "b"], folds=0, graph=nb)
    ids = np.arange(len(X)) + 1
    with Project.create(tmp_path / "p", classes=["a", "b"]) as project:
        write_predictions(project, fit.head, fit.temperature, X, ids, ["a", "b"], {},
                          smoothing=fit.smoothing, graph=nb, y=y)
        pred = load_predictions(project)
        P = predict_proba(fit.head, X, fit.temperature)
        want = smooth_probs(P, neighbour_vote(reference_probs(P, y, y >= 0), *nb),
                            fit.smoothing["temperature"])
        np.testing.assert_allclose(np.asarray(pred.probs), want, rtol=1e-5, atol=1e-6)
        assert pred.manifest["smoothing"]["used"] and pred.manifest["temperature"] == fit.temperature
        unl = y < 0
        acc = [(p.argmax(1)[unl] == y_true[unl]).mean() for p in (P, np.asarray(pred.probs))]
        assert acc[1] > acc[0], acc
        with pytest.raises(ClassKitError, match="graph"):
            write_predictions(project, fit.head, fit.temperature, X, ids, ["a", "b"], {},
                              smoothing=fit.smoothing)
        write_predictions(project, fit.head, fit.temperature, X, ids, ["a", "b"], {})
        assert load_predictions(project).manifest["smoothing"] is None


def test_reading_metrics_does_not_import_torch() -> None:
    # the Metrics view reads JSON and words it with smooth.smoothing_line; the learn package
    # once imported torch eagerly, 1.2 s of every "Read metrics" job
    import subprocess
    import sys

    code = ("import sys, classkit.engine.loop.metrics_view; "
            "from classkit.engine.learn import softmax; "
            "assert 'torch' not in sys.modules, 'torch was imported'; "
            "from classkit.engine.learn import Head; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
