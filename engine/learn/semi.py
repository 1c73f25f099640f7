"""Semi-supervised help for the head: label spreading over the kNN graph, as weighted pseudo-labels.

With few labels a linear head on frozen embeddings is starved, while the unlabeled images
already say which ones belong together. Label spreading (Zhou et al. 2004: F <- a S F +
(1 - a) Y with S = D^-1/2 W D^-1/2 on the symmetrised kNN graph) carries the labels along
the graph. Where a calibrated head exists its probabilities are combined with the spread
labels (normalised geometric mean: each corrects the other's confident mistakes); every
pseudo-labeled row then joins the head's training set with a small weight (``weight`` x
the labeled rows' total, split by confidence^4), so the head still follows the human
labels where they exist.

Costs: one sparse product of N x 2k non-zeros by N x C per iteration (1M rows, k=10, 10
classes, 20 iterations: seconds), and the head sees at most ``PER_LABEL`` pseudo-labeled
rows per labeled row and ``max_rows`` in all (a seeded random subset), so training stays
in seconds on a 1M-image project.

Measured on Fashion-MNIST, random labels, linear head (docs/benchmarks/learning-loop.md):
spread labels alone lift 100 labels from 0.74 to 0.80 test accuracy but fall below the
plain head from ~300 labels on (it learns the graph's systematic confusions); combined
with the calibrated head they are above the plain head at every budget measured (+4, +2,
+2, +1, +0.5 points at 100, 200, 300, 500, 800 labels).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ..errors import ClassKitError

K = 10          # neighbours per row used for spreading (the project graph has 20)
POWER = 3       # edge weight = cosine ** POWER (sharpens towards the closest neighbours)
ALPHA = 0.99    # how far labels travel (1 - ALPHA: pull back to the given labels)
ITERS = 20
WEIGHT = 1.0    # total pseudo-label weight, relative to the labeled rows' total
MAX_ROWS = 20_000
PER_LABEL = 10  # pseudo-labeled rows per labeled row, at most (measured: 5, 10 and 20 within 0.3 points)
PriorFn = Callable[[np.ndarray], np.ndarray]


def spreading_matrix(nbr_rows: np.ndarray, nbr_sims: np.ndarray, k: int = K,
                     power: float = POWER) -> sp.csr_matrix:
    """S = D^-1/2 (W + W^T) D^-1/2 from each row's nearest neighbours (row indices, -1 =
    none; cosine similarities); negative similarities count as 0."""
    rows = np.asarray(nbr_rows)[:, :k]
    sims = np.asarray(nbr_sims, np.float32)[:, :k]
    n = rows.shape[0]
    if sims.shape != rows.shape:
        raise ClassKitError("neighbour rows and similarities must have the same shape")
    dst = rows.astype(np.int64, copy=False)
    w = (np.maximum(sims, 0.0) ** power).astype(np.float32)
    ok = (dst >= 0) & (dst < n) & (dst != np.arange(n)[:, None]) & (w > 0)
    indptr = np.r_[0, np.cumsum(ok.sum(1))]
    W = sp.csr_matrix((w[ok], dst[ok], indptr), shape=(n, n))  # row-major: already CSR order
    W = (W + W.T).tocsr()
    deg = np.asarray(W.sum(1), np.float64).ravel()
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0).astype(np.float32)
    W.data *= inv[np.repeat(np.arange(n), np.diff(W.indptr))] * inv[W.indices]
    W.sort_indices()
    return W


def label_spreading(S: sp.csr_matrix, seeds: np.ndarray, labels: np.ndarray, n_classes: int,
                    alpha: float = ALPHA, iters: int = ITERS) -> np.ndarray:
    """Spread ``labels`` of rows ``seeds`` over S; class columns are balanced (each class's
    seeds sum to 1) so a rare class is not drowned. Returns row-normalised scores (N, C),
    float32; rows the labels never reach are all zero."""
    n = S.shape[0]
    Y = np.zeros((n, n_classes), np.float32)
    Y[np.asarray(seeds, np.int64), np.asarray(labels, np.int64)] = 1.0
    Y /= np.maximum(Y.sum(0), 1.0)
    F = _spread(S.indptr.astype(np.int64), S.indices.astype(np.int64), S.data.astype(np.float32),
                Y, np.float32(alpha), int(iters))
    tot = F.sum(1, keepdims=True)
    return np.divide(F, tot, out=np.zeros_like(F), where=tot > 0)


@njit(parallel=True, cache=True, fastmath=True)
def _spread(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, Y: np.ndarray,
            alpha: np.float32, iters: int) -> np.ndarray:  # pragma: no cover - numba
    """``iters`` times F <- alpha S F + (1 - alpha) Y, S in CSR; row by row, so the result
    does not depend on the thread count."""
    n, c = Y.shape
    F = Y.copy()
    G = np.empty_like(Y)
    for _ in range(iters):
        for i in prange(n):
            for j in range(c):
                G[i, j] = (1 - alpha) * Y[i, j]
            for p in range(indptr[i], indptr[i + 1]):
                col = indices[p]
                w = alpha * data[p]
                for j in range(c):
                    G[i, j] += w * F[col, j]
        F, G = G, F
    return F


def pseudo_labels(S: sp.csr_matrix, seeds: np.ndarray, labels: np.ndarray, n_classes: int,
                  candidates: np.ndarray, prior: PriorFn | None = None, weight: float = WEIGHT,
                  max_rows: int = MAX_ROWS, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, labels, weights) for unlabeled ``candidates`` reached by the spread labels: at
    most min(``max_rows``, PER_LABEL x len(seeds)) (seeded random subset), weights
    proportional to confidence^4 and summing to ``weight`` x len(seeds) (each labeled row
    weighs 1). ``prior(rows)``: calibrated class probabilities of those rows (N, C) to
    combine with the spread labels (normalised geometric mean)."""
    F = label_spreading(S, seeds, labels, n_classes)
    cand = np.asarray(candidates, np.int64)
    cand = cand[F[cand].sum(1) > 0]
    limit = min(max_rows, PER_LABEL * len(seeds))
    if cand.size > limit:
        cand = np.sort(np.random.default_rng(seed).choice(cand, limit, replace=False))
    P = F[cand].astype(np.float64)
    if prior is not None and cand.size:
        Q = np.asarray(prior(cand), np.float64)
        if Q.shape != P.shape:
            raise ClassKitError(f"prior: expected probabilities of shape {P.shape}, got {Q.shape}")
        P = np.sqrt(P * np.maximum(Q, 0.0))
        tot = P.sum(1, keepdims=True)
        P = np.divide(P, tot, out=np.zeros_like(P), where=tot > 0)
    conf = P.max(1) ** 4
    keep = conf > 0
    cand, P, conf = cand[keep], P[keep], conf[keep]
    if cand.size == 0 or weight <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return cand, P.argmax(1).astype(np.int64), conf / conf.sum() * weight * len(seeds)
