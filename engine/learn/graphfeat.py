"""Graph features for the head: each image's embedding plus its nearest neighbours' mean.

A linear head on one frozen embedding judges each image alone, and with a few hundred labels
it is starved. Averaging an embedding with those of its nearest neighbours in the project's
kNN graph (one step of feature propagation, as in SGC, Wu et al. 2019) cancels part of the
noise that is particular to one image (crop, pose, lighting) and keeps what its look-alikes
share, so the same few labels go further:

    f_i = x_i + ALPHA * sum_j w_ij x_j / sum_j w_ij,   w_ij = cosine_ij ** POWER

over the first K neighbours of row i. Not re-normalised: then a linear head's logits on f are
its logits on x plus ALPHA x the neighbours' weighted mean of theirs (less the bias), so
predicting every image costs one ordinary pass plus a gather of C numbers per neighbour
(:func:`predict_proba`), not of D. Exploratory harness, Fashion-MNIST, seeds 0-9, head only,
against no graph features: re-normalised +0.95 / +0.67 / +0.20 / +0.41 / +0.22 points at
100-490 labels, not re-normalised +0.95 / +0.59 / +0.48 / +0.43 / +0.40. This acts on the
head's input; :mod:`.smooth` (on its output) and :mod:`.semi` (on its training set) stay.

Opt-in (``classkit train --graph-features auto|on``; off by default), because it helps on
some data and costs on other, and no evidence a round holds tells which. Measured with
benchmarks/al_simulation.py ``--graph-features auto`` (docs/benchmarks/learning-loop.md,
Session 9), paired by seed against off, test accuracy in points:

* Fashion-MNIST, 20 seeds: the default recipe's labels +0.85 / +0.46 / +0.26 / +0.23 /
  +0.17 at 100 / 198 / 295 / 392 / 490 labels, about 0 from 590 on; random labels +0.55 /
  +0.48 / +0.41 / +0.31 / +0.30 / +0.21 at 100-600. Labels to 0.8593 (95% of the full-pool
  accuracy without them): 281 -> 250 (recipe), 514 -> 454 (random): both gain, the ratio
  does not.
* OpenCV's digits, 10 seeds, rounds of 50: the recipe's labels +0.46 / +0.43 at 50 / 98,
  then **-0.43 to -1.02** from 147 labels on; random labels +1.16 / +0.48 at 50 / 100, -0.4
  to -0.6 from 250. There val favoured the graph features (lower calibrated NLL) while the
  unlabeled images lost, so ``auto`` keeps them; neither a rule on val accuracy nor the
  labeled set's out-of-fold accuracy caught it (both also favoured them: hard, actively
  picked images).
* With the whole 20k Fashion pool labeled, auto keeps them (val 0.913 -> 0.918) while the
  held-out test images read 0.9045 -> 0.9010.

``auto`` decides per round on val as smoothing does (:func:`decide`); ``on`` forces them.

Cost: a gather of K neighbour rows per row a head trains on (labeled and pseudo-labeled rows,
and a sample for the feature statistics); the whole project is predicted through a linear
head's logits (:func:`predict_proba`), while an MLP head reads K + 1 rows per image. Up to
``MATERIALISE_BYTES`` the features are computed once per round. Measured at 1M images in
docs/benchmarks/learning-loop.md (Session 9).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ClassKitError
from .calibration import calibration_report, clearly_worse, softmax

K = 10          # neighbours per row (the project graph has 20), as smoothing and label spreading
POWER = 3       # neighbour weight = cosine ** POWER
ALPHA = 1.0     # weight of the neighbours' mean against the image's own embedding
WORSE_SE = 2.0  # auto drops graph features when val NLL is worse by more than this many std. errors
CHUNK = 4096    # rows gathered at a time (x K neighbours: 41k rows, 130 MB of float16 at 1,584-d)
MATERIALISE_BYTES = 512 * 2**20  # up to this (float32), the whole feature matrix is kept


def settings(mode: str, alpha: float = ALPHA) -> dict[str, Any]:
    """The graph-feature settings a decision records (mode checked)."""
    if mode not in ("auto", "on", "off"):
        raise ClassKitError(f"graph features mode must be auto, on or off, not {mode!r}")
    return {"mode": mode, "k": K, "power": POWER, "alpha": float(alpha)}


class GraphFeatures:
    """A read-only, array-like view of ``X`` whose rows are graph features (module docstring).

    ``X``: (N, D) embeddings (float16/32, memmap welcome); ``nbr_rows`` / ``nbr_sims``: each
    row's neighbours as rows of ``X`` (-1 = none) and their cosine similarities. Indexing with
    a slice, an int or an array of rows returns float32 rows: a head trains and predicts on it
    as on ``X``. Up to ``MATERIALISE_BYTES`` of float32 the whole matrix is computed once, on
    first use (a round reads most rows several times); above that, rows are computed on the fly."""

    def __init__(self, X: Any, nbr_rows: np.ndarray, nbr_sims: np.ndarray, alpha: float = ALPHA,
                 k: int = K, power: float = POWER) -> None:
        if not hasattr(X, "shape") or len(X.shape) != 2:
            raise ClassKitError("graph features need a 2-D array of embeddings")
        rows = np.asarray(nbr_rows)[:, :k]
        sims = np.asarray(nbr_sims, np.float32)[:, :k]
        if rows.shape != sims.shape or rows.shape[0] != X.shape[0]:
            raise ClassKitError("graph features need one row of neighbours per embedding row")
        if not (alpha >= 0 and np.isfinite(alpha)):
            raise ClassKitError(f"graph features: alpha must be a number >= 0, not {alpha!r}")
        self.X, self.rows, self.sims = X, rows, sims
        self.alpha, self.k, self.power = float(alpha), int(k), float(power)
        self.shape = (int(X.shape[0]), int(X.shape[1]))
        self.dtype = np.dtype(np.float32)
        self.ndim = 2
        self._all: np.ndarray | None = None
        self._small = self.shape[0] * self.shape[1] * 4 <= MATERIALISE_BYTES

    def __len__(self) -> int:
        return self.shape[0]

    def _compute(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((idx.size, self.shape[1]), np.float32)
        for lo in range(0, idx.size, CHUNK):
            part = idx[lo:lo + CHUNK]
            out[lo:lo + CHUNK] = propagate(self.X, part, self.X, self.rows[part], self.sims[part],
                                           self.alpha, self.power)
        return out

    def __getitem__(self, index: Any) -> np.ndarray:
        if self._small and self._all is None:
            self._all = self._compute(np.arange(self.shape[0], dtype=np.int64))
            self._all.flags.writeable = False  # slices are views: nobody may change them
        if isinstance(index, slice):
            if self._all is not None:
                return self._all[index]
            idx = np.arange(*index.indices(self.shape[0]), dtype=np.int64)
        else:
            idx = np.asarray(index)
            if idx.dtype == bool:
                idx = np.flatnonzero(idx)
            if idx.ndim > 1 or not np.issubdtype(idx.dtype, np.integer):
                raise ClassKitError("graph features: index with a slice, a row or an array of rows")
            if idx.ndim == 0:
                return self[idx.reshape(1)][0]
            idx = np.where(idx < 0, idx + self.shape[0], idx).astype(np.int64)
            if self._all is not None:
                return self._all[idx]
        return self._compute(idx)


_LAST: list[tuple[tuple, GraphFeatures]] = []  # the last view made, with what it was made of


def forget() -> None:
    """Drop the view :func:`view` keeps (and its features), e.g. when a round is done."""
    _LAST.clear()


def view(X: Any, nbr_rows: np.ndarray, nbr_sims: np.ndarray, alpha: float = ALPHA, k: int = K,
         power: float = POWER) -> GraphFeatures:
    """A :class:`GraphFeatures` of these very arrays, reused while they are the same objects
    (rounds on one in-memory project, as in benchmarks/al_simulation.py, compute the
    features once). The key holds the arrays themselves, so their ids cannot be reused."""
    key = (X, nbr_rows, nbr_sims, float(alpha), int(k), float(power))
    if _LAST and all(a is b if hasattr(a, "shape") else a == b
                     for a, b in zip(_LAST[0][0], key, strict=True)):
        return _LAST[0][1]
    gf = GraphFeatures(X, nbr_rows, nbr_sims, alpha, k, power)
    _LAST[:] = [(key, gf)]
    return gf


def view_for(X: Any, graph: tuple[np.ndarray, np.ndarray] | None, info: dict[str, Any] | None) -> Any:
    """What a round's head reads: ``X`` itself, or its graph features when the round's
    decision ``info`` (:func:`decide`, ``RoundFit.features``) says so."""
    if info is None or not info.get("used"):
        return X
    if graph is None:
        raise ClassKitError("this round's head reads graph features: it needs the kNN graph")
    return view(X, *graph, alpha=float(info["alpha"]), k=int(info["k"]), power=float(info["power"]))


def propagate(Q: Any, q_rows: np.ndarray | None, X: Any, nbr_rows: np.ndarray, nbr_sims: np.ndarray,
              alpha: float = ALPHA, power: float = POWER) -> np.ndarray:
    """Graph features (float32) of the query vectors ``Q[q_rows]`` (all of ``Q`` when
    ``q_rows`` is None) whose neighbours are ``nbr_rows`` (rows of ``X``, -1 = none) with
    cosines ``nbr_sims``. Queries need not be rows of ``X``: held-out images get their
    features from their nearest project images the same way."""
    import torch  # here, so reading a round's metrics (features_line) never loads torch

    q = np.asarray(Q[q_rows] if q_rows is not None else Q)
    r = np.asarray(nbr_rows, np.int64)
    ok = (r >= 0) & (r < X.shape[0])
    w = np.where(ok, np.maximum(np.asarray(nbr_sims, np.float32), 0.0) ** power, 0.0).astype(np.float32)
    flat = np.where(ok, r, 0).ravel()
    if isinstance(X, np.memmap):  # sorted reads: kinder to a file
        order = np.argsort(flat, kind="stable")
        gathered = np.empty((flat.size, X.shape[1]), X.dtype)
        gathered[order] = X[flat[order]]
    else:
        gathered = np.ascontiguousarray(X[flat])
    with torch.no_grad():
        nb = torch.from_numpy(gathered).float().view(r.shape[0], r.shape[1], -1)
        wt = torch.from_numpy(w)
        tot = wt.sum(1, keepdim=True)
        m = torch.bmm((wt / torch.clamp(tot, min=1e-12)).unsqueeze(1), nb).squeeze(1)
        f = torch.from_numpy(np.asarray(q, np.float32)).clone() + np.float32(alpha) * m
    return f.numpy()


def predict_proba(head: Any, X: Any, temperature: float = 1.0) -> np.ndarray:
    """Calibrated probabilities (float32, N x C) of every row of ``X``, which may be a
    :class:`GraphFeatures`. A linear head on graph features of a whole project is applied
    through its logits (module docstring): at 1M images, one pass over the embeddings instead
    of a gather of 10 neighbour embeddings per image."""
    from torch import nn

    from .heads import predict_proba as _predict
    from .smooth import neighbour_vote

    if not isinstance(X, GraphFeatures) or not isinstance(getattr(head, "module_", None), nn.Linear):
        return _predict(head, X, temperature)
    z = head.logits(X.X)
    bias = head.module_.bias.detach().numpy().astype(np.float32)
    # the neighbours' weighted mean of (logits - bias); a row with no neighbour of weight > 0
    # has m = 0, so nothing is added (neighbour_vote would give it a uniform row)
    has = ((X.rows >= 0) & (X.rows < len(z)) & (X.sims > 0)).any(axis=1)
    mean = neighbour_vote(z, X.rows, X.sims, k=X.k, power=X.power)
    z += np.where(has[:, None], np.float32(X.alpha) * (mean - bias), np.float32(0))
    return softmax(z, temperature)


def decide(plain_logits: np.ndarray, graph_logits: np.ndarray, y_val: np.ndarray,
           t_plain: float, t_graph: float, mode: str = "auto", alpha: float = ALPHA) -> dict[str, Any]:
    """Whether the head learns from graph features this round.

    ``plain_logits`` / ``graph_logits``: val logits of the train-only head fitted on the
    plain embeddings and on the graph features, calibrated with ``t_plain`` / ``t_graph``.
    ``auto`` keeps graph features unless their calibrated val NLL is clearly worse (the
    paired per-image difference more than ``WORSE_SE`` standard errors above 0: val sets are
    small early on, when the features help most); ``on`` / ``off`` force it."""
    info = settings(mode, alpha)
    y = np.asarray(y_val, np.int64)
    P, G = softmax(plain_logits, t_plain), softmax(graph_logits, t_graph)
    used = mode == "on" or (mode == "auto" and not clearly_worse(G, P, y, WORSE_SE))
    return {"used": bool(used), **info,
            "val": {name: {k: round(float(r[k]), 6) for k in ("nll", "accuracy", "ece")}
                    for name, r in (("plain", calibration_report(P, y)),
                                    ("graph", calibration_report(G, y)))}}


def without_val(mode: str, why: str, alpha: float = ALPHA) -> dict[str, Any]:
    """The decision with no val set to judge on: ``auto`` and ``on`` use graph features."""
    return {"used": mode != "off", **settings(mode, alpha), "skipped": why}


def features_line(info: dict[str, Any]) -> str:
    """One line for people: whether the head learned from graph features, and why."""
    state = "on" if info.get("used") else "off"
    if "val" not in info:
        return f"graph features: {state} ({info.get('mode', 'auto')}; {info.get('skipped', 'no val')})"
    plain, graph = info["val"]["plain"], info["val"]["graph"]
    return (f"graph features: {state} ({info['mode']}); val accuracy {plain['accuracy']:.3f} -> "
            f"{graph['accuracy']:.3f}, calibrated NLL {plain['nll']:.3f} -> {graph['nll']:.3f}")
