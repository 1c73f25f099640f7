"""Numba kernels for cheap per-row scores and for measuring memory bandwidth, each with a
plain numpy baseline of the same contract.

``entropy_margin``: per-row entropy (nats) and top-1 minus top-2 margin of class probabilities.
``measure_bandwidth`` / ``bandwidth_fraction``: how much of the machine's read bandwidth a
kernel reached (benchmarks/kernels.py reports it for k-center).
"""
from __future__ import annotations

import time

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=True)
def _entropy_margin(P, ent, mar):  # noqa: ANN001
    n, C = P.shape
    for i in prange(n):
        h, p1, p2 = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for j in range(C):  # branch-free: 0 * log(tiny) = 0; p2 = 2nd largest of p1, p2, p
            p = P[i, j]
            h -= p * np.log(max(p, np.float32(1e-30)))
            p2 = max(p2, min(p1, p))
            p1 = max(p1, p)
        ent[i], mar[i] = h, p1 - p2


@njit(parallel=True, cache=True, fastmath=True)
def _par_sum(a):  # noqa: ANN001
    s = 0.0
    for i in prange(a.size):
        s += a[i]
    return s


def entropy_margin(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entropy (nats) and margin ``p1 - p2`` per row of (N, C) probabilities, float32 (numba)."""
    P = np.ascontiguousarray(probs, dtype=np.float32)
    if P.ndim != 2:
        raise ValueError(f"probs must be 2-D (N, C), got shape {P.shape}")
    ent, mar = np.empty(len(P), np.float32), np.empty(len(P), np.float32)
    _entropy_margin(P, ent, mar)
    return ent, mar


def entropy_margin_numpy(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy baseline of :func:`entropy_margin`."""
    P = np.asarray(probs, dtype=np.float32)
    logp = np.log(np.where(P > 0, P, 1), dtype=np.float32)
    ent = -(P * logp).sum(axis=1, dtype=np.float32)
    if P.shape[1] == 1:
        return ent, P[:, 0].copy()
    top2 = np.partition(P, P.shape[1] - 2, axis=1)[:, -2:]
    return ent, (top2[:, 1] - np.maximum(top2[:, 0], 0)).astype(np.float32)


def measure_bandwidth(nbytes: int = 1 << 30, repeats: int = 3) -> float:
    """Read bandwidth in GB/s: best of ``repeats`` parallel (numba) sums over a float32 array."""
    a = np.ones(nbytes // 4, np.float32)
    _par_sum(a[:1024])
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        _par_sum(a)
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best / 1e9


def bandwidth_fraction(bytes_read: int, seconds: float, peak_gbps: float | None = None) -> float:
    """Achieved read bandwidth as a fraction of ``peak_gbps`` (measured now when None)."""
    peak = measure_bandwidth() if peak_gbps is None else peak_gbps
    return bytes_read / max(seconds, 1e-12) / 1e9 / peak
