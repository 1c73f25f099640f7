"""Out-of-fold probabilities are out of sample; label-error suspects find flipped labels."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.jobs import CancelToken
from classkit.engine.learn import Head, HeadConfig, label_error_scores, out_of_fold_proba, stratified_folds


def test_stratified_folds_balance_and_small_classes() -> None:
    y = np.array([0] * 50 + [1] * 23 + [2] * 3 + [3])
    f = stratified_folds(y, 5, seed=1)
    sizes = np.bincount(f, minlength=5)
    assert sizes.max() - sizes.min() <= 1
    for c in (0, 1):
        per = np.bincount(f[y == c], minlength=5)
        assert per.max() - per.min() <= 1
    assert len(set(f[y == 2])) == 3  # a class smaller than the fold count is spread out
    assert np.array_equal(f, stratified_folds(y, 5, seed=1))


def test_no_leakage_random_labels_stay_at_chance() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 256)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    cfg = HeadConfig(weight_decay=0.0)
    in_sample = (Head(cfg).fit(X, y).logits(X).argmax(1) == y).mean()
    oof = out_of_fold_proba(X, y, 4, cfg, folds=5, seed=0)
    assert in_sample > 0.95
    assert (oof.argmax(1) == y).mean() < 0.4
    assert oof.shape == (400, 4) and oof.dtype == np.float32
    assert np.allclose(oof.sum(1), 1.0, atol=1e-5)


def _separable(n: int = 800, classes: int = 8, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, d))
    y = rng.integers(0, classes, n)
    X = centres[y] + 0.3 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_label_error_suspects_find_flipped_labels(kind: str) -> None:
    X, y_true = _separable()
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(y_true), 40, replace=False)
    y = y_true.copy()
    y[flipped] = (y[flipped] + rng.integers(1, 8, 40)) % 8
    probs = out_of_fold_proba(X, y, 9, HeadConfig(kind=kind, hidden=32, lr=1e-2), folds=5)
    score, suspect = label_error_scores(probs, y)
    is_flipped = np.zeros(len(y), bool)
    is_flipped[flipped] = True
    recall = (suspect & is_flipped).sum() / is_flipped.sum()
    precision = (suspect & is_flipped).sum() / max(suspect.sum(), 1)
    assert recall >= 0.8 and precision >= 0.6, (recall, precision)
    assert score[is_flipped].mean() > score[~is_flipped].mean() + 0.5
    assert probs[:, 8].max() < 0.5  # the class nobody is labeled with still has a column


def test_label_error_rule_by_hand() -> None:
    p = np.array([[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.1, 0.8]])
    y = np.array([0, 0, 1, 1, 2])
    # thresholds: class 0: mean(0.9, 0.7) = 0.8; class 1: mean(0.8, 0.4) = 0.6; class 2 (single row) 0.8
    score, suspect = label_error_scores(p, y)
    assert np.allclose(score, [0.1, 0.3, 0.2, 0.6, 0.2])
    # row 1: 0.7 < 0.8 and 0.3 < 0.6: no confident class; row 3: 0.6 < 0.8, 0.4 < 0.6: none either
    assert suspect.tolist() == [False, False, False, False, False]
    p[3] = [0.85, 0.15, 0.0]  # now confidently class 0 while labeled 1 (the confident-learning rule)
    assert label_error_scores(p, y, max_label_prob=1.0)[1].tolist() == [False, False, False, True, False]
    # ... but its label keeps 15%: not a strong contradiction; at 3% it is
    assert not label_error_scores(p, y)[1].any()
    p[3] = [0.97, 0.03, 0.0]
    assert label_error_scores(p, y)[1].tolist() == [False, False, False, True, False]
    p[4] = [0.99, 0.01, 0.0]  # the only class-2 row is never suspect: no head saw class 2
    assert not label_error_scores(p, y)[1][4]


def test_given_temperature_cancel_and_bad_input() -> None:
    X, y = _separable(200, classes=3)
    sharp = out_of_fold_proba(X, y, 3, HeadConfig(max_epochs=20), folds=3, temperature=0.5)
    soft = out_of_fold_proba(X, y, 3, HeadConfig(max_epochs=20), folds=3, temperature=5.0)
    assert sharp.max(1).mean() > soft.max(1).mean()
    assert np.array_equal(sharp.argmax(1), soft.argmax(1))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        out_of_fold_proba(X, y, 3, HeadConfig(), cancel=token)
    with pytest.raises(ClassKitError):
        out_of_fold_proba(X[:1], y[:1], 3, HeadConfig())
    with pytest.raises(ClassKitError):
        out_of_fold_proba(X, y, 2, HeadConfig())
