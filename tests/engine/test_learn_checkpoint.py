"""Checkpoints: exact round trip, clear errors for bad files, and no unpickling of objects."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from classkit.engine.errors import ClassKitError
from classkit.engine.learn import Head, HeadConfig, load_checkpoint, save_checkpoint


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, 24)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + 2 * (X[:, 2] > 0)
    return X, y


class _Touch:
    """Unpickling this would create a file: the proof that an object was rebuilt."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_round_trip_gives_identical_logits(tmp_path: Path, kind: str) -> None:
    X, y = _data()
    cfg = HeadConfig(kind=kind, hidden=16, max_epochs=20, seed=3)
    head = Head(cfg).fit(X[:200], y[:200], X[200:], y[200:], n_classes=5)
    path = tmp_path / "round" / "head.pt"
    meta = {"classes": ["a", "b", "c", "d", "e"], "round": np.int64(3), "ids": np.arange(3)}
    save_checkpoint(path, head, 1.75, meta)
    loaded, temperature, meta2 = load_checkpoint(path)
    assert temperature == 1.75
    assert meta2 == {"classes": ["a", "b", "c", "d", "e"], "round": 3, "ids": [0, 1, 2]}
    assert loaded.config == head.config
    assert (loaded.n_classes_, loaded.dim_, loaded.epochs_, loaded.best_epoch_) == \
        (5, 24, head.epochs_, head.best_epoch_)
    assert loaded.history_ == head.history_
    assert np.array_equal(loaded.logits(X), head.logits(X))
    assert [p.name for p in path.parent.iterdir()] == ["head.pt"]  # no temporary left behind


def test_bad_files_raise_classkit_errors_naming_the_path(tmp_path: Path) -> None:
    X, y = _data()
    head = Head(HeadConfig(max_epochs=5)).fit(X, y)
    good = tmp_path / "good.pt"
    save_checkpoint(good, head, 1.0, {})
    cases = {
        "missing.pt": None,
        "random.pt": np.random.default_rng(0).bytes(4096),
        "truncated.pt": good.read_bytes()[:500],
        "empty.pt": b"",
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(ClassKitError) as err:
            load_checkpoint(path)
        assert str(path) in str(err.value)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(ClassKitError, match="__info__"):
        load_checkpoint(other)
    state = torch.load(good, weights_only=True)
    state["module.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(ClassKitError, match="shape.pt"):
        load_checkpoint(tmp_path / "shape.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_loading_never_unpickles_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"__info__": _Touch(marker)}, tmp_path / "evil_torch.pt")
    (tmp_path / "evil_pickle.pt").write_bytes(pickle.dumps(_Touch(marker)))
    for name in ("evil_torch.pt", "evil_pickle.pt"):
        with pytest.raises(ClassKitError, match=name):
            load_checkpoint(tmp_path / name)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Touch(marker)))  # the payload is live: plain pickle would run it
    assert marker.exists()


def test_save_rejects_bad_arguments(tmp_path: Path) -> None:
    X, y = _data()
    with pytest.raises(ClassKitError, match="not trained"):
        save_checkpoint(tmp_path / "x.pt", Head(), 1.0, {})
    head = Head(HeadConfig(max_epochs=3)).fit(X, y)
    with pytest.raises(ClassKitError, match="temperature"):
        save_checkpoint(tmp_path / "x.pt", head, 0.0, {})
    with pytest.raises(ClassKitError, match="JSON"):
        save_checkpoint(tmp_path / "x.pt", head, 1.0, {"obj": object()})
    assert not (tmp_path / "x.pt").exists()
