"""Head training benchmark: our linear / MLP heads vs plain baselines in the same process.

Synthetic clustered data like L2-normalised embeddings (``make_data``): each class is a mixture
of ``--blobs-per-class`` unit blob centres plus variation in a shared ``--latent``-dimensional
subspace and isotropic noise of norm ``--noise``, L2-normalised. Cases (one JSON line each):
  linear             Head(kind="linear"): full-batch L-BFGS, early stopping on val loss
  linear_adam_full   the same head trained with full-batch Adam (batch_size=N, lr 1e-2)
  naive_adam_linear  plain torch loop: nn.Linear on raw features, Adam 1e-3, batch 256
  sklearn_logreg     scikit-learn LogisticRegression (lbfgs, C=1, max_iter=100), if installed
  mlp                Head(kind="mlp"): Adam on 1024-row minibatches, early stopping
  naive_adam_mlp     plain torch loop: same MLP shape on raw features, Adam 1e-3, batch 256
  temperature        fit_temperature on the val logits; ECE/NLL before and after
  predict            predict_proba over --predict rows streamed from a float16 .npy memmap
"to_target_s": seconds until the val loss first reached our linear head's best val loss
(estimated from per-epoch timing; null if never). A tiny fit runs first ("warmup": thread pools,
MKL, first-touch memory), so the cases time steady-state training. Example:
  python benchmarks/train_head.py            # 50k labeled (+10k val) x 1280, 10 classes, 1M predict
  python benchmarks/train_head.py --quick    # 10k x 1280, 100k predict, short baselines
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from classkit.engine.learn import Head, HeadConfig, calibrate, predict_proba
from classkit.engine.learn.heads import n_threads

OUT: list[Any] = []


def emit(case: str, **fields: Any) -> None:
    """Print one measurement as a JSON line (and append it to --out)."""
    rec = {"bench": "train_head", "case": case, **fields, "load1": round(os.getloadavg()[0], 2)}
    line = json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(line, flush=True)
    for fh in OUT:
        fh.write(line + "\n")
        fh.flush()


def make_data(n: int, d: int, classes: int, blobs_per_class: int = 3, latent: int = 32,
              noise: float = 6.0, seed: int = 0,
              out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, d) unit rows, y (n,)); written in chunks into ``out`` when given (e.g. a memmap)."""
    rng = np.random.default_rng(1234)  # the same class geometry for every call
    nb = classes * blobs_per_class
    centres = rng.standard_normal((nb, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = rng.standard_normal((latent, d), dtype=np.float32) / np.sqrt(d)
    rng = np.random.default_rng(seed)
    X = out if out is not None else np.empty((n, d), np.float32)
    blob = rng.integers(0, nb, n)
    for lo in range(0, n, 65536):
        hi = min(lo + 65536, n)
        b = blob[lo:hi]
        z = rng.standard_normal((hi - lo, latent), dtype=np.float32)
        x = centres[b] + 0.8 * (z @ basis)
        x += rng.standard_normal((hi - lo, d), dtype=np.float32) * (noise / np.sqrt(d))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        X[lo:hi] = x
    return X, (blob % classes).astype(np.int64)


def val_stats(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    zt, yt = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)), torch.from_numpy(y)
    return float(F.cross_entropy(zt, yt)), float((zt.argmax(1) == yt).float().mean())


def time_to(history: list[dict], seconds: float, target: float) -> float | None:
    for h in history:
        if h["val_loss"] is not None and h["val_loss"] <= target:
            return round(seconds * h["epoch"] / len(history), 3)
    return None


def bench_head(case: str, cfg: HeadConfig, data: tuple, target: float | None = None) -> Head:
    Xt, yt, Xv, yv = data
    head = Head(cfg).fit(Xt, yt, Xv, yv)
    vl, va = val_stats(head.logits(Xv), yv)
    target = target if target is not None else min(h["val_loss"] for h in head.history_)
    emit(case, n=len(yt), dim=Xt.shape[1], seconds=round(head.seconds_, 3), epochs=head.epochs_,
         best_epoch=head.best_epoch_, val_loss=round(vl, 4), val_acc=round(va, 4),
         to_target_s=time_to(head.history_, head.seconds_, target),
         config=cfg.to_dict())
    return head


def naive_torch(case: str, module: nn.Module, data: tuple, epochs: int, target: float | None) -> None:
    """The loop most tutorials show: raw features, Adam 1e-3, batch 256, fixed epochs."""
    Xt, yt, Xv, yv = data
    X, y = torch.from_numpy(Xt), torch.from_numpy(yt)
    torch.manual_seed(0)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    t0, reached, best = time.perf_counter(), None, (float("inf"), 0.0)
    for _ in range(epochs):
        module.train()
        for idx in torch.randperm(len(y)).split(256):
            opt.zero_grad()
            F.cross_entropy(module(X[idx]), y[idx]).backward()
            opt.step()
        module.eval()
        with torch.no_grad():
            vl, va = val_stats(module(torch.from_numpy(Xv)).numpy(), yv)
        best = min(best, (vl, va))
        if reached is None and target is not None and vl <= target:
            reached = round(time.perf_counter() - t0, 3)
    emit(case, n=len(yt), dim=Xt.shape[1], seconds=round(time.perf_counter() - t0, 3), epochs=epochs,
         val_loss=round(best[0], 4), val_acc=round(best[1], 4), to_target_s=reached)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000, help="labeled training rows")
    ap.add_argument("--val", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--noise", type=float, default=6.0)
    ap.add_argument("--predict", type=int, default=1_000_000, help="rows for the predict case")
    ap.add_argument("--cases", default="linear,linear_adam_full,naive_adam_linear,sklearn_logreg,mlp,"
                                       "naive_adam_mlp,temperature,predict")
    ap.add_argument("--naive-epochs", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="10k rows, 100k predict, 3 naive epochs")
    ap.add_argument("--tmp", default=None, help="folder for the predict memmap (default: system temp)")
    ap.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    args = ap.parse_args()
    if args.quick:
        args.n, args.val, args.predict, args.naive_epochs = 10_000, 2_000, 100_000, 3
    if args.out:
        OUT.append(args.out.open("a"))
    cases = set(args.cases.split(","))
    torch.set_num_threads(n_threads())
    emit("setup", torch=torch.__version__, threads=n_threads(), n=args.n, val=args.val, dim=args.dim,
         classes=args.classes, predict=args.predict)
    X, y = make_data(args.n + args.val, args.dim, args.classes, noise=args.noise, seed=1)
    data = (X[:args.n], y[:args.n], X[args.n:], y[args.n:])
    heads: dict[str, Head] = {}
    target = None
    t0 = time.perf_counter()  # first fit in a process: thread pools, MKL and page-fault warm-up
    Head(HeadConfig(kind="mlp", max_epochs=2)).fit(X[:2000], y[:2000], X[2000:2500], y[2000:2500])
    emit("warmup", seconds=round(time.perf_counter() - t0, 3))
    if "linear" in cases:
        heads["linear"] = bench_head("linear", HeadConfig(), data)
        target = min(h["val_loss"] for h in heads["linear"].history_)
    if "linear_adam_full" in cases:
        bench_head("linear_adam_full", HeadConfig(batch_size=args.n, lr=1e-2), data, target)
    if "naive_adam_linear" in cases:
        naive_torch("naive_adam_linear", nn.Linear(args.dim, args.classes), data, args.naive_epochs, target)
    if "sklearn_logreg" in cases:
        try:
            from sklearn.linear_model import LogisticRegression
        except ImportError:
            emit("sklearn_logreg", skipped="scikit-learn not installed")
        else:
            t0 = time.perf_counter()
            clf = LogisticRegression(max_iter=100).fit(data[0], data[1])
            vl, va = val_stats(clf.decision_function(data[2]), data[3])
            emit("sklearn_logreg", n=args.n, dim=args.dim, seconds=round(time.perf_counter() - t0, 3),
                 iterations=int(np.max(clf.n_iter_)), val_loss=round(vl, 4), val_acc=round(va, 4))
    if "mlp" in cases:
        heads["mlp"] = bench_head("mlp", HeadConfig(kind="mlp"), data, target)
    if "naive_adam_mlp" in cases:
        mlp = nn.Sequential(nn.Linear(args.dim, 256), nn.ReLU(), nn.Dropout(0.1),
                            nn.Linear(256, args.classes))
        naive_torch("naive_adam_mlp", mlp, data, args.naive_epochs, target)
    if "temperature" in cases:
        for kind, head in heads.items():
            z = head.logits(data[2])
            t0 = time.perf_counter()
            cal = calibrate(z, data[3])
            emit("temperature", head=kind, rows=len(z), seconds=round(time.perf_counter() - t0, 4),
                 temperature=round(cal["temperature"], 4), ece_before=round(cal["before"]["ece"], 4),
                 ece_after=round(cal["after"]["ece"], 4), nll_before=round(cal["before"]["nll"], 4),
                 nll_after=round(cal["after"]["nll"], 4))
    if "predict" in cases and heads:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            path = Path(tmp) / "pool.npy"
            t0 = time.perf_counter()
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(args.predict, args.dim))
            make_data(args.predict, args.dim, args.classes, noise=args.noise, seed=2, out=mm)
            mm.flush()
            del mm
            write_s = time.perf_counter() - t0
            pool = np.load(path, mmap_mode="r")
            for kind, head in heads.items():
                for rep in range(2):  # the first run may read from disk, the second from page cache
                    t0 = time.perf_counter()
                    p = predict_proba(head, pool, temperature=1.3)
                    emit("predict", head=kind, rows=args.predict, dtype="float16-memmap", run=rep,
                         seconds=round(time.perf_counter() - t0, 3), make_data_s=round(write_s, 1),
                         rows_per_s=round(args.predict / (time.perf_counter() - t0)), out_mb=p.nbytes >> 20)
            del pool


if __name__ == "__main__":
    main()
