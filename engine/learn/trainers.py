"""The optimisation loops behind :class:`.heads.Head`: full-batch L-BFGS for the linear head,
Adam on minibatches for the MLP, and the early-stopping rule both share."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn

if TYPE_CHECKING:
    from .heads import HeadConfig

MLP_AUTO_BATCH = 1024
_MIN_DELTA = 1e-4  # relative val-loss improvement that counts as better
_TRAIN_TOL = 1e-3  # without val data: stop when train loss improved < 0.1% over `patience` epochs
_HISTORY = 10  # L-BFGS memory


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


def fit_lbfgs(module: nn.Linear, X: torch.Tensor, y: torch.Tensor, Xv: torch.Tensor | None,
               yv: torch.Tensor | None, cw: torch.Tensor, w: torch.Tensor | None, cfg: HeadConfig,
               progress: ProgressFn, cancel: CancelToken) -> tuple[list[dict], int]:
    """Full-batch L-BFGS on class-weighted softmax cross-entropy + L2: analytic gradient, two-loop
    recursion, Armijo backtracking from step 1 (accepted first in the common case), zero init."""
    n, d = X.shape
    c = module.weight.shape[0]
    sw = cw[y] if w is None else cw[y] * w
    sw = sw / sw.sum()
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


def fit_adam(module: nn.Module, X: torch.Tensor, y: torch.Tensor, Xv: torch.Tensor | None,
              yv: torch.Tensor | None, cw: torch.Tensor, w: torch.Tensor | None, cfg: HeadConfig,
              progress: ProgressFn, cancel: CancelToken) -> tuple[list[dict], int]:
    """Adam on shuffled minibatches (full batch when batch_size >= N); L2 on weights only.
    With row weights ``w`` each batch's loss is the (class x row)-weighted mean."""
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
            if w is None:
                loss = F.cross_entropy(module(xb), yb, weight=cw)
            else:
                rw = cw[yb] * (w if idx is None else w[idx])
                loss = F.cross_entropy(module(xb), yb, reduction="none")
                loss = (loss * rw).sum() / rw.sum().clamp_min(1e-12)
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(yb), seen + len(yb)
        if stop.update(epoch, total / max(seen, 1.0),
                       lambda: {k: v.clone() for k, v in module.state_dict().items()}):
            break
    if stop.best_state is not None:
        module.load_state_dict(stop.best_state)
    return stop.history, stop.best_epoch
