"""Classifier heads on frozen embeddings: softmax regression ("linear") or a one-hidden-layer MLP,
with class weighting, early stopping on validation loss, seeded and reproducible.

Features are standardised (mean/std of the training rows) while training: L2-normalised embeddings
are ~1/sqrt(D) per dimension and unevenly spread, which conditions the optimiser badly and makes
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import _check_float, _check_int, _Config
from ..errors import ClassKitError, ConfigError
from ..jobs import CancelToken, ProgressFn, no_progress
from .metrics import check_labels

MLP_AUTO_BATCH = 1024
_MIN_DELTA = 1e-4  # relative val-loss improvement that counts as better
_TRAIN_TOL = 1e-3  # without val data: stop when train loss improved < 0.1% over `patience` epochs
_HISTORY = 10  # L-BFGS memory


@dataclass(frozen=True)
class HeadConfig(_Config):
    """Head hyperparameters. ``lr`` is Adam's (MLP, or linear with minibatches); full-batch linear
    uses L-BFGS with a line search. ``weight_decay``: L2 penalty 0.5*wd*|W|^2 on weights (not
    biases) added to the mean loss, on standardised features. ``batch_size`` 0 = automatic."""

    kind: str = "linear"
    hidden: int = 256
    dropout: float = 0.1
    weight_decay: float = 1e-4
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


def _to_tensor(X: Any, name: str) -> torch.Tensor:
    """A float32 copy of a 2-D array (float16/32 or memmap), converted in chunks."""
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ClassKitError(f"{name}: expected a 2-D array, got {type(X).__name__}")
    out = torch.empty(tuple(X.shape), dtype=torch.float32)
    for lo in range(0, X.shape[0], 65536):
        np.copyto(out.numpy()[lo:lo + 65536], X[lo:lo + 65536], casting="unsafe")
    return out


def _standardise(X: torch.Tensor, name: str, stats: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise X in place with (mean, std), computed from X when None; NaN/inf raise."""
    if stats is None:
        mean = torch.mv(X.t(), torch.ones(len(X))).double() / len(X)
        X.sub_(mean.float())
        Xn = X.numpy()
        std = torch.from_numpy(np.einsum("ij,ij->j", Xn, Xn)).double().div_(len(X)).sqrt_()
        bad = not (torch.isfinite(mean).all() and torch.isfinite(std).all())
        std = torch.where(std > 1e-8 * max(float(std.max()), 1e-30), std, torch.ones_like(std))
    else:
        mean, std = stats
        X.sub_(mean.float())
        bad = not np.isfinite(np.einsum("ij->i", X.numpy())).all()
    if bad:
        raise ClassKitError(f"{name}: contains NaN or infinite values")
    X.div_(std.float())
    return mean, std


class Head:
    """A classifier head; ``__init__`` stores the config, :meth:`fit` sets the ``*_`` attributes."""

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config = config or HeadConfig()

    def fit(self, X_train: Any, y_train: Any, X_val: Any = None, y_val: Any = None,
            n_classes: int | None = None, progress: ProgressFn = no_progress,
            cancel: CancelToken | None = None) -> Head:
        """Train on (X_train, y_train), early-stopping on (X_val, y_val) when given; returns self.

        ``n_classes`` fixes the output width, so classes absent from training still get a column.
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
        mean, std = _standardise(Xt, "X_train")  # in place: the copies are ours
        if Xv is not None:
            _standardise(Xv, "X_val", (mean, std))
        counts = np.bincount(yt, minlength=n_classes)
        cw = np.ones(n_classes) if cfg.class_weight == "none" else \
            np.where(counts > 0, n / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
        data = (Xt, torch.from_numpy(yt), Xv, None if yv is None else torch.from_numpy(yv),
                torch.from_numpy(cw.astype(np.float32)))
        with torch_threads(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            module = build_module(cfg.kind, dim, n_classes, cfg.hidden, cfg.dropout)
            trainer = _fit_lbfgs if cfg.kind == "linear" and cfg.batch_size == 0 else _fit_adam
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
                elif buf16 is not None:  # memcpy the halves, then torch's fast parallel widening
                    np.copyto(buf16.numpy()[:hi - lo], X[lo:hi])
                    xb = buf32[:hi - lo].copy_(buf16[:hi - lo])
                else:
                    xb = buf32[:hi - lo]
                    np.copyto(xb.numpy(), X[lo:hi], casting="unsafe")
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


class _Stopper:
    """Early stopping on val loss (keeping the best weights), or without val on a train-loss plateau."""

    def __init__(self, cfg: HeadConfig, module: nn.Module, Xv: torch.Tensor | None, yv: torch.Tensor | None,
                 cw: torch.Tensor, progress: ProgressFn) -> None:
        self.cfg, self.module, self.Xv, self.yv, self.cw, self.progress = cfg, module, Xv, yv, cw, progress
        self.best, self.best_epoch, self.best_state = math.inf, 0, None
        self.history: list[dict] = []

    def update(self, epoch: int, train_loss: float, state: Callable[[], Any]) -> bool:
        """Evaluate and record an epoch; True when training should stop."""
        if not math.isfinite(train_loss):
            raise ClassKitError("training diverged (the loss is not finite); try a smaller lr")
        vl = va = None
        if self.Xv is not None:
            self.module.eval()
            with torch.no_grad():
                z = self.module(self.Xv)
                vl = float(F.cross_entropy(z, self.yv, weight=self.cw))
                va = float((z.argmax(1) == self.yv).float().mean())
        self.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": vl, "val_acc": va})
        self.progress(epoch, self.cfg.max_epochs, f"epoch {epoch}: train loss {train_loss:.4f}"
                      + (f", val loss {vl:.4f}, acc {va:.3f}" if vl is not None else ""))
        patience = self.cfg.patience
        if vl is not None:
            if vl < self.best - _MIN_DELTA * (abs(self.best) if math.isfinite(self.best) else 1.0):
                self.best, self.best_epoch, self.best_state = vl, epoch, state()
            return epoch - self.best_epoch >= patience
        self.best_epoch = epoch
        if len(self.history) > patience:
            old = self.history[-1 - patience]["train_loss"]
            return old - train_loss < _TRAIN_TOL * abs(old)
        return False


def _fit_lbfgs(module: nn.Linear, X: torch.Tensor, y: torch.Tensor, Xv: torch.Tensor | None,
               yv: torch.Tensor | None, cw: torch.Tensor, cfg: HeadConfig, progress: ProgressFn,
               cancel: CancelToken) -> tuple[list[dict], int]:
    """Full-batch L-BFGS on class-weighted softmax cross-entropy + L2: analytic gradient, two-loop
    recursion, Armijo backtracking from step 1 (accepted first in the common case), zero init."""
    n, d = X.shape
    c = module.weight.shape[0]
    sw = cw[y] / cw[y].sum()
    rows, wd = torch.arange(n), cfg.weight_decay

    def fun(theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        W, b = theta[:c * d].view(c, d), theta[c * d:]
        logp = torch.log_softmax(torch.addmm(b, X, W.t()), dim=1)
        loss = float(-(sw * logp[rows, y]).sum() + 0.5 * wd * (W * W).sum())
        g = logp.exp_()
        g[rows, y] -= 1.0
        g.mul_(sw[:, None])
        return loss, torch.cat([(g.t() @ X + wd * W).reshape(-1), g.sum(0)])

    def set_params(theta: torch.Tensor) -> None:
        with torch.no_grad():
            module.weight.copy_(theta[:c * d].view(c, d))
            module.bias.copy_(theta[c * d:])

    theta = torch.zeros(c * d + c)
    loss, grad = fun(theta)
    pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / s.y), oldest first
    stop = _Stopper(cfg, module, Xv, yv, cw, progress)
    for epoch in range(1, cfg.max_epochs + 1):
        cancel.raise_if_cancelled()
        q, alphas = grad.double(), []
        for s, yy, rho in reversed(pairs):
            alphas.append(rho * float(s @ q))
            q -= alphas[-1] * yy
        q *= float(pairs[-1][0] @ pairs[-1][1]) / float(pairs[-1][1] @ pairs[-1][1]) if pairs else \
            1.0 / max(float(grad.norm()), 1e-12)
        for (s, yy, rho), a in zip(pairs, reversed(alphas), strict=True):
            q += (a - rho * float(yy @ q)) * s
        direction = (-q).float()
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            pairs.clear()
            direction = -grad / max(float(grad.norm()), 1e-12)
            slope = float(grad @ direction)
        step = 1.0
        for _ in range(30):
            new = theta + step * direction
            new_loss, new_grad = fun(new)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease left at float precision: converged
        s_vec, y_vec = (new - theta).double(), (new_grad - grad).double()
        sy = float(s_vec @ y_vec)
        if sy > 1e-10 * float(y_vec @ y_vec):
            pairs = (pairs + [(s_vec, y_vec, 1.0 / sy)])[-_HISTORY:]
        theta, loss, grad = new, new_loss, new_grad
        set_params(theta)
        if stop.update(epoch, loss, theta.clone) or float(grad.abs().max()) < 1e-7:
            break
    if stop.best_state is not None:
        set_params(stop.best_state)
    return stop.history, stop.best_epoch


def _fit_adam(module: nn.Module, X: torch.Tensor, y: torch.Tensor, Xv: torch.Tensor | None,
              yv: torch.Tensor | None, cw: torch.Tensor, cfg: HeadConfig, progress: ProgressFn,
              cancel: CancelToken) -> tuple[list[dict], int]:
    """Adam on shuffled minibatches (full batch when batch_size >= N); L2 on weights only."""
    n = X.shape[0]
    bs = cfg.batch_size or (MLP_AUTO_BATCH if cfg.kind == "mlp" else n)
    params = dict(module.named_parameters())
    opt = torch.optim.Adam([
        {"params": [p for k, p in params.items() if k.endswith("weight")], "weight_decay": cfg.weight_decay},
        {"params": [p for k, p in params.items() if not k.endswith("weight")], "weight_decay": 0.0}],
        lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    stop = _Stopper(cfg, module, Xv, yv, cw, progress)
    for epoch in range(1, cfg.max_epochs + 1):
        cancel.raise_if_cancelled()
        module.train()
        batches = torch.randperm(n, generator=gen).split(bs) if bs < n else [None]
        total = seen = 0.0
        for idx in batches:
            xb, yb = (X, y) if idx is None else (X[idx], y[idx])
            if len(yb) < 2 <= n:
                continue  # a 1-row tail batch only adds noise
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(module(xb), yb, weight=cw)
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(yb), seen + len(yb)
        if stop.update(epoch, total / max(seen, 1.0),
                       lambda: {k: v.clone() for k, v in module.state_dict().items()}):
            break
    if stop.best_state is not None:
        module.load_state_dict(stop.best_state)
    return stop.history, stop.best_epoch
