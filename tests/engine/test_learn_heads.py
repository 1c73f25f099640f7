"""Heads: they learn, are reproducible, weight classes, stop early, and stream predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from classkit.engine.errors import Cancelled, ClassKitError, ConfigError
from classkit.engine.jobs import CancelToken
from classkit.engine.learn import Head, HeadConfig, predict_proba
from classkit.engine.learn.heads import feature_stats


def blobs(n: int, d: int = 32, classes: int = 4, noise: float = 0.5, seed: int = 0,
          weights: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm rows around one random centre per class (like L2-normalised embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.choice(classes, size=n, p=weights)
    x = centres[y] + rng.standard_normal((n, d)) * noise / np.sqrt(d)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y.astype(np.int64)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_learns_separable_data(kind: str) -> None:
    X, y = blobs(1200, seed=1)
    cfg = HeadConfig(kind=kind, hidden=32, lr=1e-2, max_epochs=50)
    head = Head(cfg).fit(X[:800], y[:800], X[800:1000], y[800:1000])
    acc = (head.logits(X[1000:]).argmax(1) == y[1000:]).mean()
    assert acc > 0.95
    assert head.n_classes_ == 4 and head.dim_ == 32
    assert head.logits(X[:5]).dtype == np.float32
    assert 1 <= head.best_epoch_ <= head.epochs_ == len(head.history_)
    assert set(head.history_[0]) == {"epoch", "train_loss", "val_loss", "val_acc"}
    assert head.seconds_ > 0


def test_mlp_learns_what_linear_cannot() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (1500, 2)).astype(np.float32)
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)  # XOR
    lin = Head(HeadConfig()).fit(X[:1000], y[:1000], X[1000:1250], y[1000:1250])
    mlp = Head(HeadConfig(kind="mlp", hidden=32, lr=2e-2, batch_size=100, max_epochs=60, patience=60)).fit(
        X[:1000], y[:1000], X[1000:1250], y[1000:1250])
    assert (lin.logits(X[1250:]).argmax(1) == y[1250:]).mean() < 0.75
    assert (mlp.logits(X[1250:]).argmax(1) == y[1250:]).mean() > 0.95


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_seeded_and_reproducible(kind: str) -> None:
    X, y = blobs(600, noise=1.5, seed=2)
    cfg = HeadConfig(kind=kind, hidden=16, batch_size=0 if kind == "linear" else 100, max_epochs=12, seed=7)
    a = Head(cfg).fit(X[:400], y[:400], X[400:500], y[400:500]).logits(X[500:])
    b = Head(cfg).fit(X[:400], y[:400], X[400:500], y[400:500]).logits(X[500:])
    assert np.array_equal(a, b)
    if kind == "mlp":
        other = HeadConfig.from_dict({**cfg.to_dict(), "seed": 8})
        c = Head(other).fit(X[:400], y[:400], X[400:500], y[400:500]).logits(X[500:])
        assert not np.array_equal(a, c)


def test_does_not_disturb_global_state() -> None:
    X, y = blobs(300, seed=3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Head(HeadConfig(kind="mlp", hidden=8, max_epochs=3)).fit(X, y)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_class_weighting_raises_minority_recall() -> None:
    X, y = blobs(3000, d=16, classes=2, noise=3.0, seed=4, weights=[0.95, 0.05])
    Xv, yv = blobs(2000, d=16, classes=2, noise=3.0, seed=4, weights=[0.5, 0.5])  # same centres
    recall = {}
    for mode in ("none", "balanced"):
        head = Head(HeadConfig(class_weight=mode)).fit(X, y)
        pred = head.logits(Xv).argmax(1)
        recall[mode] = (pred[yv == 1] == 1).mean()
    assert recall["balanced"] > recall["none"] + 0.1


def test_early_stopping_restores_the_best_epoch() -> None:
    # Few rows, many dimensions, heavy noise: the train loss keeps falling, the val loss turns up.
    X, y = blobs(560, d=256, classes=3, noise=4.0, seed=5)
    head = Head(HeadConfig(weight_decay=0.0, class_weight="none", patience=5)).fit(
        X[:160], y[:160], X[160:], y[160:])
    losses = [h["val_loss"] for h in head.history_]
    assert head.best_epoch_ < head.epochs_
    assert head.history_[-1]["val_loss"] > min(losses)
    assert losses[head.best_epoch_ - 1] == min(losses)
    z = torch.from_numpy(head.logits(X[160:]))
    restored = float(torch.nn.functional.cross_entropy(z, torch.from_numpy(y[160:])))
    assert restored == pytest.approx(min(losses), rel=1e-4)


def test_without_validation_stops_on_train_plateau() -> None:
    X, y = blobs(500, seed=6)
    head = Head(HeadConfig(max_epochs=500)).fit(X, y)
    assert head.epochs_ < 500
    assert head.history_[-1]["val_loss"] is None
    assert head.best_epoch_ == head.epochs_


def test_missing_class_still_gets_a_column() -> None:
    X, y = blobs(600, classes=4, seed=7)
    keep = y < 3
    for kind in ("linear", "mlp"):
        head = Head(HeadConfig(kind=kind, hidden=16, max_epochs=50)).fit(X[keep], y[keep], n_classes=5)
        p = predict_proba(head, X)
        assert p.shape == (600, 5)
        assert p[:, 3:].max() < 0.5
        assert np.allclose(p.sum(1), 1.0, atol=1e-5)


def test_predictions_stream_from_float16_memmap(tmp_path) -> None:
    X, y = blobs(700, seed=8)
    head = Head(HeadConfig(kind="mlp", hidden=16, max_epochs=20)).fit(X[:500], y[:500])
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float16, shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    ref = head.logits(np.ascontiguousarray(ro, dtype=np.float32))
    assert np.allclose(head.logits(ro, batch=64), ref, atol=1e-5)
    p = predict_proba(head, ro, temperature=2.0, batch=33)
    assert p.dtype == np.float32 and p.shape == (700, 4)
    zt = torch.from_numpy(ref) / 2.0
    assert np.allclose(p, torch.softmax(zt, 1).numpy(), atol=1e-6)
    f32 = np.lib.format.open_memmap(tmp_path / "y.npy", mode="w+", dtype=np.float32, shape=X.shape)
    f32[:] = X
    assert np.allclose(head.logits(np.load(tmp_path / "y.npy", mmap_mode="r"), batch=100),
                       head.logits(X), atol=1e-6)


def test_float32_rows_widens_halves_exactly(tmp_path) -> None:
    """The fast float16 path (torch's widening) gives numpy's exact values, for memmap
    slices, gathered rows, chunk boundaries, float32 input and no rows at all; and a head
    trained on float16 rows equals one trained on the same values as float32."""
    from classkit.engine.learn.heads import float32_rows

    X, y = blobs(300, d=24, seed=9)
    np.save(tmp_path / "h.npy", X.astype(np.float16))
    ro = np.load(tmp_path / "h.npy", mmap_mode="r")
    exact = np.asarray(ro).astype(np.float32)
    for got in (float32_rows(ro, chunk=7), float32_rows(ro[[5, 2, 299]]), float32_rows(exact)):
        assert got.dtype == np.float32 and got.flags.writeable
    assert np.array_equal(float32_rows(ro, chunk=7), exact)
    assert np.array_equal(float32_rows(ro[[5, 2, 299]]), exact[[5, 2, 299]])
    assert float32_rows(ro[:0]).shape == (0, 24)
    a = Head(HeadConfig(seed=1)).fit(ro[:200], y[:200])
    b = Head(HeadConfig(seed=1)).fit(exact[:200], y[:200])
    assert np.array_equal(a.logits(exact), b.logits(exact))


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        HeadConfig(kind="svm")
    assert err.value.field == "kind"
    with pytest.raises(ConfigError) as err:
        HeadConfig.from_dict({"max_epochs": 0})
    assert err.value.field == "max_epochs"
    with pytest.raises(ConfigError) as err:
        HeadConfig.from_dict({"lr": "fast"})
    assert err.value.field == "lr"
    with pytest.raises(ConfigError):
        HeadConfig.from_dict({"hidden_units": 3})
    cfg = HeadConfig(kind="mlp", hidden=64, seed=3)
    assert HeadConfig.from_dict(cfg.to_dict()) == cfg


def test_bad_inputs_and_cancel() -> None:
    X, y = blobs(100, seed=9)
    with pytest.raises(ClassKitError, match="y_train"):
        Head().fit(X, y[:50])
    with pytest.raises(ClassKitError, match="must be in"):
        Head().fit(X, y, n_classes=2)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ClassKitError, match="NaN"):
        Head().fit(bad, y)
    with pytest.raises(ClassKitError, match="not trained"):
        Head().logits(X)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        Head().fit(X, y, cancel=token)
    seen = []
    Head(HeadConfig(max_epochs=4)).fit(X, y, progress=lambda d, t, m="": seen.append((d, t)))
    assert seen and seen[0] == (1, 4)


def _rare_feature_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three classes; feature 39 is zero for 95% of the rows and large for the rest, and all
    but constant (1e-6 noise) among the 30 training rows, as a few labels can make it."""
    rng = np.random.default_rng(seed)
    n, d = 3000, 40
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, d)).astype(np.float32) * 0.3
    X[:, :3] += np.eye(3, dtype=np.float32)[y]
    rare = rng.random(n) < 0.05
    X[:, 39] = np.where(rare, rng.standard_normal(n) * 3, 0).astype(np.float32)
    tr = np.flatnonzero(~rare)[:30]
    X[tr, 39] = rng.standard_normal(len(tr)).astype(np.float32) * 1e-6
    return X, y, tr, rare


def test_standardising_with_the_whole_projects_statistics() -> None:
    X, y, tr, rare = _rare_feature_data()
    own = Head(HeadConfig()).fit(X[tr], y[tr], n_classes=3)
    pool = Head(HeadConfig()).fit(X[tr], y[tr], n_classes=3, feature_stats=feature_stats(X))
    z_own, z_pool = own.logits(X), pool.logits(X)
    assert np.abs(z_own).max() > 1e4  # the training rows' std (~1e-6) blows the feature up
    assert np.abs(z_pool).max() < 50
    acc = [float((z.argmax(1) == y)[rare].mean()) for z in (z_own, z_pool)]
    assert acc[1] > acc[0] + 0.2, acc
    with pytest.raises(ClassKitError, match="feature_stats"):
        Head(HeadConfig()).fit(X[tr], y[tr], feature_stats=(np.zeros(40), np.zeros(40)))
    with pytest.raises(ClassKitError, match="feature_stats"):
        Head(HeadConfig()).fit(X[tr], y[tr], feature_stats=(np.zeros(3), np.ones(3)))


def test_feature_stats_sample_float16_and_bad_input(tmp_path) -> None:
    X, *_ = _rare_feature_data()
    mean, std = feature_stats(X)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(0), atol=1e-6)
    np.testing.assert_allclose(std, X.astype(np.float64).std(0), rtol=1e-5)
    np.save(tmp_path / "h.npy", X.astype(np.float16))
    half = np.load(tmp_path / "h.npy", mmap_mode="r")
    m16, s16 = feature_stats(half, max_rows=1000, seed=3)  # a sample of a memmap
    assert m16.dtype == np.float64 and s16.shape == (40,)
    np.testing.assert_allclose(s16[:39], std[:39], rtol=0.1)
    const = np.ones((10, 4), np.float32)
    assert feature_stats(const)[1].tolist() == [1.0] * 4  # no scale to undo
    bad = X.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ClassKitError, match="NaN"):
        feature_stats(bad)
    with pytest.raises(ClassKitError, match="feature_stats"):
        feature_stats(np.zeros((0, 4), np.float32))


def test_fit_round_standardises_with_the_whole_project() -> None:
    from classkit.engine.loop.core import fit_round

    X, y_true, tr, rare = _rare_feature_data(1)
    y = np.full(len(X), -1)
    split = np.full(len(X), -1)
    val = np.flatnonzero(~rare)[30:60]
    y[tr], y[val] = y_true[tr], y_true[val]
    split[tr], split[val] = 0, 1
    fit = fit_round(X, y, split, ["a", "b", "c"], folds=0)
    z = fit.head.logits(X)
    assert np.abs(z).max() < 50 and 0.2 < fit.temperature < 5
    assert (z.argmax(1) == y_true)[rare].mean() > 0.6
