"""Neighbour smoothing of predictions: the head's probabilities times what the image's
nearest neighbours say.

A linear head on frozen embeddings judges each image alone; its nearest neighbours in the
project's kNN graph usually share its class. So the prediction of row i becomes

    z'_i = log p_i + BETA * log q_i,    q_i = sum_j w_ij r_j / sum_j w_ij  (its K neighbours)

with w_ij = cosine_ij ** POWER and r_j the neighbour's known label as a one-hot vector when
it has one, else the head's calibrated probabilities. The smoothed logits get their own
temperature, fitted on val, where q is built from the *train* labels only (a val image's
own label, or another val image's, never helps to predict it); auto mode keeps smoothing
unless that calibrated val NLL is clearly worse than the plain head's (the paired per-image
difference more than 2 standard errors above 0). Clearly, because val sets are small early
on: on sklearn's 8x8 digits with 50-100 random labels, "not worse at all" turned smoothing
off in 5 of 10 runs, where it gains 1.2-1.6 points on the unlabeled images
(benchmarks/smoothing.py).

Measured on Fashion-MNIST (benchmarks/al_simulation.py, 10 seeds, default embedder, as
``classkit train`` runs it): test accuracy +0.9 to +1.25 points at 100-200 labels and +0.7
to +1.0 at 290-1,000, for the default recipe and random labels alike (auto kept it in all
210 rounds), and +0.05 with all 20,000 labels (the head alone is then about as good as its
neighbours). Labels to 95% of the full-pool accuracy: 372 -> 274 for the default recipe.

Cost: a gather of K rows of probabilities per image, streamed in chunks (1M images, K=10,
10 classes, random graph: 1.3 s on 2 cores, while other work ran).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ClassKitError
from .calibration import calibration_report, clearly_worse, fit_temperature, softmax

K = 10          # neighbours per row (the project graph has 20)
POWER = 3       # neighbour weight = cosine ** POWER, as in semi.py's label spreading
BETA = 1.0      # weight of the neighbours' vote against the head's own probabilities
Q_FLOOR = 1e-4  # so a class no neighbour votes for keeps a finite logit
WORSE_SE = 2.0  # auto turns smoothing off when val NLL is worse by more than this many std. errors
CHUNK = 65536


def reference_probs(probs: np.ndarray, y: np.ndarray, known: np.ndarray) -> np.ndarray:
    """What each row tells its neighbours: one-hot labels on ``known`` rows (y >= 0),
    the head's probabilities elsewhere. Returns a float32 copy."""
    R = np.array(probs, np.float32, copy=True)
    rows = np.flatnonzero(np.asarray(known, bool) & (np.asarray(y) >= 0))
    R[rows] = 0.0
    R[rows, np.asarray(y)[rows]] = 1.0
    return R


def neighbour_vote(ref: np.ndarray, nbr_rows: np.ndarray, nbr_sims: np.ndarray,
                   k: int = K, power: float = POWER) -> np.ndarray:
    """q per target row: the similarity-weighted mean of ``ref`` over its first ``k``
    neighbours (``nbr_rows`` index ``ref``; -1 = none). Rows without neighbours get a
    uniform vote (no information)."""
    rows = np.asarray(nbr_rows)[:, :k]
    sims = np.asarray(nbr_sims, np.float32)[:, :k]
    if rows.shape != sims.shape:
        raise ClassKitError("neighbour rows and similarities must have the same shape")
    n, c = rows.shape[0], ref.shape[1]
    out = np.empty((n, c), np.float32)
    if ref.shape[0] == 0:
        out.fill(1.0 / c)
        return out
    for lo in range(0, n, CHUNK):
        r, s = rows[lo:lo + CHUNK], sims[lo:lo + CHUNK]
        ok = (r >= 0) & (r < ref.shape[0])
        w = np.where(ok, np.maximum(s, 0.0) ** power, 0.0).astype(np.float32)
        q = np.einsum("nk,nkc->nc", w, ref[np.where(ok, r, 0)])
        tot = w.sum(1, keepdims=True)
        out[lo:lo + CHUNK] = np.divide(q, tot, out=np.full_like(q, 1.0 / c), where=tot > 0)
    return out


def smoothed_logits(probs: np.ndarray, vote: np.ndarray, beta: float = BETA) -> np.ndarray:
    """log p + beta log q (float32), the logits of the smoothed prediction."""
    p = np.log(np.maximum(np.asarray(probs, np.float32), np.float32(1e-12)))
    return p + np.float32(beta) * np.log(np.maximum(vote, np.float32(Q_FLOOR)))


def smooth_probs(probs: np.ndarray, vote: np.ndarray, temperature: float = 1.0,
                 beta: float = BETA) -> np.ndarray:
    """The smoothed, calibrated probabilities (float32) of rows with head ``probs`` and
    neighbour ``vote``."""
    return softmax(smoothed_logits(probs, vote, beta), temperature)


def apply(probs: np.ndarray, vote: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """:func:`smooth_probs` with a decision's temperature and beta (see :func:`decide`)."""
    return smooth_probs(probs, vote, float(info["temperature"]), float(info["beta"]))


def smoothed(probs: np.ndarray, ref: np.ndarray, graph: tuple[np.ndarray, np.ndarray],
             info: dict[str, Any]) -> np.ndarray:
    """Rows with head ``probs`` and neighbours ``graph`` (indexing ``ref``, see
    :func:`reference_probs`) smoothed as the decision ``info`` says (its k, power, beta and
    temperature)."""
    vote = neighbour_vote(ref, *graph, k=int(info["k"]), power=float(info["power"]))
    return apply(probs, vote, info)


def settings(mode: str, beta: float = BETA) -> dict[str, Any]:
    """The smoothing settings a decision records (mode checked)."""
    if mode not in ("auto", "on", "off"):
        raise ClassKitError(f"smoothing mode must be auto, on or off, not {mode!r}")
    return {"mode": mode, "k": K, "power": POWER, "beta": beta}


def without_val(mode: str, why: str, beta: float = BETA) -> dict[str, Any]:
    """The decision when there is no val set to fit or judge on (the first few dozen labels):
    ``auto`` and ``on`` smooth with temperature 1 + beta, which makes the smoothed prediction
    the normalised geometric mean of the head's and the vote (a product of the two would be
    more confident than either). On the 8x8 digits with 30 random labels: +1.0 points on the
    unlabeled images, and ECE 0.113 (head) -> 0.081 (0.175 with the plain product)."""
    info = settings(mode, beta)
    return {"used": mode != "off", **info, "temperature": 1.0 + beta, "skipped": why}


def decide(val_probs: np.ndarray, val_vote: np.ndarray, y_val: np.ndarray, mode: str = "auto",
           beta: float = BETA) -> dict[str, Any]:
    """Fit the smoothed temperature on val and decide whether to smooth.

    ``val_probs``: the calibrated head's probabilities on the val rows; ``val_vote``: their
    neighbour vote built without val labels. ``mode``: ``auto`` (smooth unless the calibrated
    val NLL is clearly worse: see the module docstring), ``on`` or ``off``. Returns the
    settings and both val reports."""
    info = settings(mode, beta)
    z = smoothed_logits(val_probs, val_vote, beta)
    t = fit_temperature(z, y_val)
    S = softmax(z, t)
    plain = calibration_report(val_probs, y_val)
    smooth = calibration_report(S, y_val)
    # paired per-image NLL differences: off only when smoothing is clearly worse on val
    used = mode == "on" or (mode == "auto" and not clearly_worse(S, val_probs, y_val, WORSE_SE))
    return {"used": bool(used), **info, "temperature": float(t),
            "val": {name: {"nll": round(r["nll"], 6), "accuracy": round(r["accuracy"], 6),
                           "ece": round(r["ece"], 6)}
                    for name, r in (("plain", plain), ("smoothed", smooth))}}


def vote_for(targets: np.ndarray, nbr_rows: np.ndarray, nbr_sims: np.ndarray,
             ref: Any, k: int = K, power: float = POWER) -> np.ndarray:
    """The neighbour vote of a few ``targets`` (rows into the graph) without predicting the
    whole project: ``ref(rows)`` gives the reference rows (see :func:`reference_probs`) of
    just their neighbours."""
    targets = np.asarray(targets, np.int64)
    rows = np.asarray(nbr_rows)[targets, :k]
    sims = np.asarray(nbr_sims, np.float32)[targets, :k]
    need = np.unique(rows[rows >= 0])
    R = np.asarray(ref(need), np.float32)
    local = np.where(rows >= 0, np.searchsorted(need, np.maximum(rows, 0)), -1)
    return neighbour_vote(R, local, sims, k, power)


def smoothing_line(info: dict[str, Any]) -> str:
    """One line for people: whether predictions are smoothed, and why (val figures)."""
    state = "on" if info.get("used") else "off"
    if "val" not in info:
        return f"neighbour smoothing: {state} ({info.get('mode', 'auto')}; {info.get('skipped', 'no val')})"
    v = info["val"]
    return (f"neighbour smoothing: {state} ({info['mode']}); val accuracy "
            f"{v['plain']['accuracy']:.3f} -> {v['smoothed']['accuracy']:.3f}, calibrated NLL "
            f"{v['plain']['nll']:.3f} -> {v['smoothed']['nll']:.3f}")
