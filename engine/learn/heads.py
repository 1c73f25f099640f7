"""Classifier heads on frozen embeddings: softmax regression ("linear") or a one-hidden-layer MLP,
with class weighting, early stopping on validation loss, seeded and reproducible.

Features are standardised while training (mean/std of the training rows, or given: the learning
loop passes the whole project's, :func:`feature_stats`): L2-normalised embeddings are ~1/sqrt(D)
per dimension and unevenly spread, which conditions the optimiser badly and makes
``weight_decay`` mean different things per model. The scaling is then folded into the first layer,
so ``module_`` takes raw embeddings. Optimisers (measured, benchmarks/train_head.py): the linear
head with ``batch_size=0`` uses full-batch L-BFGS (one pass per iteration in the common case; Adam
needs many more passes); the MLP uses Adam on shuffled minibatches (``batch_size=0``: 1024 rows).
An "epoch" is one L-BFGS iteration or one pass of minibatches. Same inputs, config and thread
count give identical weights; the global torch RNG is forked, never disturbed.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import _check_float, _check_int, _Config
from ..errors import ClassKitError, ConfigError
from ..jobs import CancelToken, ProgressFn, no_progress
from .metrics import check_labels
from .trainers import fit_adam, fit_lbfgs



@dataclass(frozen=True)
class HeadConfig(_Config):
    """Head hyperparameters. ``lr`` is Adam's (MLP, or linear with minibatches); full-batch linear
    uses L-BFGS with a line search. ``weight_decay``: L2 penalty 0.5*wd*|W|^2 on weights (not
    biases) added to the mean loss, on standardised features. 1e-2 (was 1e-4) measured on
    Fashion-MNIST embeddings at 100-20,000 labels: linear +0.2 to +1.9 points, lower NLL at
    every size, L-BFGS converges in fewer iterations (20k rows: 27 s -> 3.5 s); MLP within
    +-0.6 points, lower NLL, and on benchmarks/train_head.py's data val accuracy 0.929 -> 0.979
    (it trains longer: 11 s -> 53 s). docs/benchmarks/learning-loop.md. ``batch_size`` 0 =
    automatic."""

    kind: str = "linear"
    hidden: int = 256
    dropout: float = 0.1
    weight_decay: float = 1e-2
    lr: float = 1e-3
    max_epochs: int = 300
    patience: int = 8
    batch_size: int = 0
    class_weight: str = "balanced"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "mlp"):
            raise ConfigError("kind", f"must be 'linear' or 'mlp', got {self.kind!r}")
        _check_int("hidden", self.hidden, 1, 65536)
        _check_float("dropout", self.dropout, 0.0, 0.95)
        _check_float("weight_decay", self.weight_decay, 0.0, 100.0)
        _check_float("lr", self.lr, 1e-8, 10.0)
        _check_int("max_epochs", self.max_epochs, 1, 1_000_000)
        _check_int("patience", self.patience, 1, 1_000_000)
        _check_int("batch_size", self.batch_size, 0, 100_000_000)
        if self.class_weight not in ("balanced", "none"):
            raise ConfigError("class_weight", f"must be 'balanced' or 'none', got {self.class_weight!r}")
        _check_int("seed", self.seed, 0, 2**63 - 1)


def n_threads() -> int:
    """Cores this process may use: the torch thread count for training and prediction."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run torch ops in this block on ``n`` threads (default: all cores), then restore the count."""
    old = torch.get_num_threads()
    torch.set_num_threads(n or n_threads())
    try:
        yield
    finally:
        torch.set_num_threads(old)


def build_module(kind: str, dim: int, n_classes: int, hidden: int = 256, dropout: float = 0.1) -> nn.Module:
    """The torch module of a head: ``nn.Linear`` or Linear-ReLU-Dropout-Linear."""
    if kind == "linear":
        return nn.Linear(dim, n_classes)
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))


def _widen_into(out: torch.Tensor, X: Any, half: torch.Tensor | None) -> None:
    """Copy rows ``X`` (float16/32, array or memmap) into the float32 tensor ``out``. Halves
    are memcpy'd into ``half`` and widened by torch, in parallel with F16C: about 8x faster
    than numpy's float16 -> float32 cast (65536 x 1584: 0.02 s against 0.17 s on 2 cores;
    about 1 s of a 15 s round at 1M rows, benchmarks/round_scale.py)."""
    if half is not None and X.dtype == np.float16:
        np.copyto(half.numpy()[:len(X)], X)
        out.copy_(half[:len(X)])
    else:
        np.copyto(out.numpy(), X, casting="unsafe")


def float32_rows(X: Any, chunk: int = 65536) -> np.ndarray:
    """A float32 copy of a 2-D array (float16/32 or memmap), converted in chunks."""
    return _to_tensor(X, "X", chunk).numpy()


def _to_tensor(X: Any, name: str, chunk: int = 65536) -> torch.Tensor:
    """A float32 copy of a 2-D array (float16/32 or memmap), converted in chunks."""
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ClassKitError(f"{name}: expected a 2-D array, got {type(X).__name__}")
    out = torch.empty(tuple(X.shape), dtype=torch.float32)
    half = (torch.empty((min(chunk, X.shape[0]), X.shape[1]), dtype=torch.float16)
            if X.dtype == np.float16 else None)
    with torch_threads():
        for lo in range(0, X.shape[0], chunk):
            _widen_into(out[lo:lo + chunk], X[lo:lo + chunk], half)
    return out


STATS_ROWS = 65536  # rows sampled by feature_stats


def feature_stats(X: Any, max_rows: int = STATS_ROWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, std), float64, of all rows of ``X`` (a seeded sample of ``max_rows``
    above that), for :meth:`Head.fit`'s ``feature_stats``.

    Why: standardising with the few labeled rows' own std blows up features that happen to
    be nearly constant among them but vary over the project. On OpenCV's 5,000 digits with
    the default embedder, 170 of 1,584 features had a 200-row std under 1% of the median
    while the whole set's was up to 1e8 times larger; the head's logits on other images
    reached 400, a few confident errors on val drove the fitted temperature to 70, and
    ``classkit train`` said to expect 36% accuracy on unlabeled images that were 93% right.
    The statistics of the rows the head will be applied to do not have that problem."""
    if not hasattr(X, "shape") or len(X.shape) != 2 or X.shape[0] == 0:
        raise ClassKitError("feature_stats: expected a non-empty 2-D array")
    n = X.shape[0]
    rows = (slice(None) if n <= max_rows
            else np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False)))
    mean, std = _mean_std(_to_tensor(X[rows], "X"), "X")
    return mean.numpy(), std.numpy()


def _mean_std(X: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std (float64) of X, leaving X centred in place; a column whose
    std is ~0 relative to the largest gets std 1 (it carries no scale to undo). NaN/inf raise."""
    mean = torch.mv(X.t(), torch.ones(len(X))).double() / len(X)
    X.sub_(mean.float())
    Xn = X.numpy()
    std = torch.from_numpy(np.einsum("ij,ij->j", Xn, Xn)).double().div_(len(X)).sqrt_()
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
        raise ClassKitError(f"{name}: contains NaN or infinite values")
    std = torch.where(std > 1e-8 * max(float(std.max()), 1e-30), std, torch.ones_like(std))
    return mean, std


def _standardise(X: torch.Tensor, name: str, stats: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise X in place with (mean, std), computed from X when None; NaN/inf raise."""
    if stats is None:
        mean, std = _mean_std(X, name)
    else:
        mean, std = stats
        X.sub_(mean.float())
        if not np.isfinite(np.einsum("ij->i", X.numpy())).all():
            raise ClassKitError(f"{name}: contains NaN or infinite values")
    X.div_(std.float())
    return mean, std


class Head:
    """A classifier head; ``__init__`` stores the config, :meth:`fit` sets the ``*_`` attributes."""

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config = config or HeadConfig()

    def fit(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None,
            n_classes: int | None = None, progress: ProgressFn = no_progress,
            cancel: CancelToken | None = None, sample_weight: Any = None,
            feature_stats: tuple[np.ndarray, np.ndarray] | None = None) -> Head:
        """Train on (X_train, y_train), early-stopping on (X_val, y_val) when given; returns self.

        ``n_classes`` fixes the output width, so classes absent from training still get a column.
        ``sample_weight`` (optional, >= 0, one per training row) scales each row's loss; the
        "balanced" class weights are then computed from the weighted class totals.
        ``feature_stats``: (mean, std) to standardise with (:func:`feature_stats` of the rows
        the head will be applied to); default: the training rows' own.
        """
        t0, cfg = time.perf_counter(), self.config
        if (X_val is None) != (y_val is None):
            raise ClassKitError("X_val and y_val must be given together")
        Xt = _to_tensor(X_train, "X_train")
        n, dim = Xt.shape
        if n == 0:
            raise ClassKitError("X_train: no training rows")
        yt = check_labels(y_train, n, n_classes, "y_train")
        Xv, yv = (None, None) if X_val is None else (_to_tensor(X_val, "X_val"), None)
        if Xv is not None:
            if Xv.shape[1] != dim:
                raise ClassKitError(f"X_val: {Xv.shape[1]} columns, X_train has {dim}")
            yv = check_labels(y_val, len(Xv), n_classes, "y_val")
            Xv, yv = (Xv, yv) if len(yv) else (None, None)
        n_classes = n_classes or int(max(yt.max(), yv.max() if yv is not None else 0)) + 1
        stats = None
        if feature_stats is not None:
            stats = tuple(torch.from_numpy(np.asarray(a, np.float64)) for a in feature_stats)
            if stats[0].shape != (dim,) or stats[1].shape != (dim,) or not bool((stats[1] > 0).all()):
                raise ClassKitError(f"feature_stats: expected (mean, std) of {dim} features, std > 0")
        mean, std = _standardise(Xt, "X_train", stats)  # in place: the copies are ours
        if Xv is not None:
            _standardise(Xv, "X_val", (mean, std))
        sw = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, np.float64).ravel()
            if sw.shape != (n,) or not np.isfinite(sw).all() or (sw < 0).any() or sw.sum() <= 0:
                raise ClassKitError("sample_weight: expected one finite weight >= 0 per training row, "
                                    "not all zero")
        counts = np.bincount(yt, weights=sw, minlength=n_classes)
        total = float(counts.sum())
        cw = np.ones(n_classes) if cfg.class_weight == "none" else \
            np.where(counts > 0, total / (np.count_nonzero(counts) * np.where(counts > 0, counts, 1)), 0.0)
        data = (Xt, torch.from_numpy(yt), Xv, None if yv is None else torch.from_numpy(yv),
                torch.from_numpy(cw.astype(np.float32)),
                None if sw is None else torch.from_numpy(sw.astype(np.float32)))
        with torch_threads(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = build_module(cfg.kind, dim, n_classes, cfg.hidden, cfg.dropout)
            trainer = fit_lbfgs if cfg.kind == "linear" and cfg.batch_size == 0 else fit_adam
            history, best_epoch = trainer(module, *data, cfg, progress, cancel or CancelToken())
            module.eval()
            with torch.no_grad():  # fold the standardisation into the first layer
                first = module if isinstance(module, nn.Linear) else module[0]
                w = first.weight.double() / std
                first.bias.copy_((first.bias.double() - w @ mean).float())
                first.weight.copy_(w.float())
        self.n_classes_, self.dim_, self.module_ = n_classes, dim, module
        self.epochs_, self.best_epoch_, self.history_ = len(history), best_epoch, history
        self.seconds_ = time.perf_counter() - t0
        progress(len(history), len(history), "trained")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise ClassKitError("the head is not trained yet: call fit() first")

    def iter_logits(self, X: Any, batch: int = 65536) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Yield ``(lo, hi, logits)`` per chunk of rows; each tensor is valid until the next one."""
        self._check_fitted()
        if not hasattr(X, "shape") or len(X.shape) != 2 or X.shape[1] != self.dim_:
            raise ClassKitError(f"X: expected shape (N, {self.dim_}), got {getattr(X, 'shape', None)}")
        n, batch = X.shape[0], max(1, min(int(batch), X.shape[0]))
        direct = (type(X) is np.ndarray and X.dtype == np.float32 and X.flags.c_contiguous
                  and X.flags.writeable)
        buf32 = None if direct else torch.empty((batch, self.dim_), dtype=torch.float32)
        buf16 = torch.empty((batch, self.dim_), dtype=torch.float16) if X.dtype == np.float16 else None
        self.module_.eval()
        with torch_threads(), torch.no_grad():
            for lo in range(0, n, batch):
                hi = min(lo + batch, n)
                if direct:
                    xb = torch.from_numpy(X[lo:hi])
                else:
                    xb = buf32[:hi - lo]
                    _widen_into(xb, X[lo:hi], buf16)
                yield lo, hi, self.module_(xb)

    def logits(self, X: Any, batch: int = 65536) -> np.ndarray:
        """Raw logits, float32 (N, n_classes); X is float16/32, array or memmap, read in chunks."""
        self._check_fitted()
        out = np.empty((X.shape[0], self.n_classes_), dtype=np.float32)
        for lo, hi, z in self.iter_logits(X, batch):
            out[lo:hi] = z.numpy()
        return out


def predict_proba(head: Head, X: Any, temperature: float = 1.0, batch: int = 65536) -> np.ndarray:
    """softmax(logits / temperature), float32 (N, C), streamed chunk by chunk (memmaps welcome)."""
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ClassKitError(f"temperature must be a positive number, got {temperature}")
    head._check_fitted()
    out = np.empty((X.shape[0], head.n_classes_), dtype=np.float32)
    for lo, hi, z in head.iter_logits(X, batch):
        out[lo:hi] = torch.softmax(z / temperature if temperature != 1.0 else z, dim=1).numpy()
    return out
