"""Graph features for the head: each image's embedding plus its nearest neighbours' mean.

A linear head on one frozen embedding judges each image alone, and with a few hundred labels
it is starved. Averaging an embedding with those of its nearest neighbours in the project's
kNN graph (one step of feature propagation, as in SGC, Wu et al. 2019) cancels part of the
noise that is particular to one image (crop, pose, lighting) and keeps what its look-alikes
share, so the same few labels go further:

    f_i = normalise(x_i + ALPHA * sum_j w_ij x_j / sum_j w_ij),   w_ij = cosine_ij ** POWER

over the first K neighbours of row i. This acts on the head's input; :mod:`.smooth` (on its
output) and :mod:`.semi` (on its training set) stay as they are.

With many labels the head no longer needs the help and the blur costs a little (Fashion-MNIST,
the whole 20k pool labeled: 0.904 -> 0.901), and where neighbours often differ in class (frames
of one video showing different behaviours) it may cost more; so ``classkit train`` decides
per round on val, as it does for smoothing (:func:`decide`).

Measured (benchmarks/al_simulation.py, docs/benchmarks/learning-loop.md): see the numbers in
:data:`MEASURED`.

Cost: a gather of K neighbour rows per row used. Training reads the labeled and pseudo-labeled
rows only; predicting every image reads K + 1 rows per image (1M x 1584 float16: about 32 GB
read, in chunks).
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
MEASURED = "see docs/benchmarks/learning-loop.md, Session 9"


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
    if _LAST and len(_LAST[0][0]) == len(key) and all(
            a is b if isinstance(a, np.ndarray) or hasattr(a, "shape") else a == b
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
        f /= torch.clamp(torch.linalg.vector_norm(f, dim=1, keepdim=True), min=1e-12)
    return f.numpy()


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
