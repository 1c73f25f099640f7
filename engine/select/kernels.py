"""Numba kernels for batch selection, each with a plain numpy baseline of the same contract.

``entropy_margin`` and the bandwidth helpers live in :mod:`.scores` (re-exported here).

``kcenter_greedy``: greedy k-center (farthest-first) over L2-normalised rows, distance
``d = sqrt(2 - 2 x.c)``. Exact greedy reads every candidate row once per pick: at 1M x 384
float32 that is 1.5 GB (~60 ms at the ~26 GB/s two threads get here), so 500 picks take ~30 s
(DESIGN.md section 8). ``reduce="project"`` reads ~30x fewer bytes and stays near-exact:

* each candidate is also kept as an int8 seeded random orthonormal projection to 48 dims
  (32 from 250k candidates on; a signed random partition of the D coordinates); one
  parallel pass per pick updates ``a(x)``, the smallest projected squared distance to any
  center, from that copy alone;
* ``e(x)``, the distance the pick is made on, is exact full-dim: the minimum of the exact
  distances to the centers that were projected-competitive, ``proj(x, c) <= (1 + MARGIN) a(x)``.
  Competitive centers are only *marked* in the pass; a row's exact distances are computed when
  it reaches the top of ``e`` (lazy greedy: ``e`` is always an upper bound, so the farthest
  settled row is the pick; a settled row within ``SLACK`` of the largest bound is taken).
  Plain projected greedy is 6-12% worse on the covering radius (measured): the minimum over
  many noisy projected distances systematically underestimates the outliers. Measured here
  (benchmarks/kernels.py): radius within ~1-2% of exact greedy, ~6-15 exact row reads per
  candidate over 500 picks. Seeds are folded in by chunked matrix products (cost ~ n x seeds
  x 48); each row then gets the exact distance to its projected-nearest seed, and its other
  competitive seeds are checked only if it reaches the top (lazily, like the centers): 1M x
  384 with 1000 seeds reads 1.7 rows a candidate instead of 8.3, same covering radius
  (benchmarks/kernels.py). More than ``MAX_SEEDS`` are first thinned by k-center among
  themselves.

Each pick costs one fused, parallel pass (update + argmax). Chunks are fixed by
size, not by thread count, so results do not depend on the number of threads. Numba keeps its
default threading layer (``omp`` here); set ``OMP_WAIT_POLICY=PASSIVE`` before FAISS or numba
load (the package ``__init__`` does) and never run this while a FAISS call is in flight.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .scores import (bandwidth_fraction, entropy_margin, entropy_margin_numpy,  # noqa: F401
                     measure_bandwidth)

PROJ_DIMS = 48           # projected dims in "project" mode (int8: 48 B per candidate row)
PROJ_DIMS_LARGE = 32     # ... from LARGE_N candidates on, where each pass costs the most
LARGE_N = 250_000
# Measured (benchmarks/kernels.py, B=500, quiet 2-core machine): 1M x 384 synthetic: 48 dims
# 3.8 s, covering radius 1.0075 x exact greedy; 32 dims 2.5 s, 1.012 x (exact numba 22 s).
# Fashion-MNIST 20k x 1280 (real embeddings): 48 dims 1.019 x, 32 dims 1.040 x.
MARGIN = 0.3             # exact check when proj(x, c) <= (1 + MARGIN) * a(x)
SLACK = 0.01             # a settled row within 1% of the farthest bound is picked at once
MAX_SEEDS = 1024         # more seeds are first thinned by k-center among themselves
_AUTO_WORK = 2e9         # n * D * budget above which "auto" projects (exact costs ~0.5 s there)
_BIG = np.float32(1e30)  # "uncovered" (finite: the kernels use fastmath)
_CHUNK, _GROUP = 256, 64  # rows per chunk (fixed: results never depend on thread count)
_LUT = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)


def _val(X: Any, i: int, j: int, lut: Any) -> float:  # numba-only: float32 of X[i, j]
    """Typing stub: numba compiles calls through the ``@overload`` below (float16 rows come
    in as uint16 and go through ``lut``); plain Python never calls it."""
    raise NotImplementedError("_val exists only inside numba-compiled kernels")


@overload(_val, inline="always")
def _val_impl(X, i, j, lut):  # noqa: ANN001 - numba typing hook
    if isinstance(X.dtype, types.Integer):  # float16 data viewed as uint16
        return lambda X, i, j, lut: lut[X[i, j]]
    return lambda X, i, j, lut: np.float32(X[i, j])


@njit(cache=True, fastmath=True, inline="always")
def _dist2(X, r, c, lut):  # noqa: ANN001
    s = np.float32(0.0)
    for j in range(c.size):
        s += _val(X, r, j, lut) * c[j]
    return max(np.float32(2.0) - np.float32(2.0) * s, np.float32(0.0))


@njit(cache=True, fastmath=True)
def _exact_chunk(lo, hi, X, rows, c, lut, e):  # noqa: ANN001
    best, arg = np.float32(-1.0), -1
    for i in range(lo, hi):
        ei = e[i]
        if ei >= 0:
            ei = min(ei, _dist2(X, rows[i], c, lut))
            e[i] = ei
        if ei > best:
            best, arg = ei, i
    return best, arg


@njit(parallel=True, cache=True)
def _step_exact(X, rows, c, lut, e, cmax, carg):  # noqa: ANN001
    n = rows.size
    for ch in prange(cmax.size):
        lo = ch * _CHUNK
        cmax[ch], carg[ch] = _exact_chunk(lo, min(n, lo + _CHUNK), X, rows, c, lut, e)
    return n


@njit(cache=True, fastmath=True)
def _proj_chunk(lo, hi, Z, zc, t, a, margin, X, rows, c, lut, e, pend):  # noqa: ANN001
    best, arg, cnt = np.float32(-1.0), -1, 0
    for i in range(lo, hi):
        ei = e[i]
        if ei >= 0:
            sf = np.float32(0.0)
            for j in range(Z.shape[1]):
                d8 = np.float32(Z[i, j]) - np.float32(zc[j])
                sf += d8 * d8
            ai = a[i]
            adm = sf <= ai * margin
            a[i] = min(ai, sf)
            if ei >= _BIG:  # no exact distance yet (first center): compute it now
                if adm:
                    cnt += 1
                    ei = _dist2(X, rows[i], c, lut)
                    e[i] = ei
            else:  # branch-free: admissions are near coin flips for far-away rows
                p = pend[i]
                pend[i] = min(p, np.int32(t)) if adm else p
        if ei > best:
            best, arg = ei, i
    return best, arg, cnt


@njit(parallel=True, cache=True)
def _step_proj(Z, zc, t, a, margin, X, rows, c, lut, e, pend, cmax, carg):  # noqa: ANN001
    # One pass for center number t: update a; a row the center is projected-competitive for
    # gets its exact distance now if it has none yet, else is marked pending from t.
    n = rows.size
    counts = np.zeros(cmax.size, np.int64)
    for ch in prange(cmax.size):
        lo = ch * _CHUNK
        cmax[ch], carg[ch], counts[ch] = _proj_chunk(lo, min(n, lo + _CHUNK), Z, zc, t, a, margin,
                                                     X, rows, c, lut, e, pend)
    return counts.sum()


@njit(cache=True)
def _group_max(cmax, g, gmax, garg):  # noqa: ANN001
    lo = g * _GROUP
    best, arg = np.float32(-2.0), lo
    for ch in range(lo, min(cmax.size, lo + _GROUP)):
        if cmax[ch] > best:
            best, arg = cmax[ch], ch
    gmax[g], garg[g] = best, arg


@njit(cache=True, inline="always")
def _chunk_best(e, ch):  # noqa: ANN001
    # The largest e in chunk ch and its row (-1, -1 when nothing there is left to pick).
    best, arg = np.float32(-1.0), -1
    for r in range(ch * _CHUNK, min(e.size, ch * _CHUNK + _CHUNK)):
        if e[r] > best:
            best, arg = e[r], r
    return best, arg


@njit(cache=True, fastmath=True, inline="always")
def _check_row(i, Z, Zt, Ct, lo, hi, lim, X, rows, lut, e):  # noqa: ANN001
    # Centers lo..hi of (Zt projected, Ct full) against row i: the exact distance of each one
    # within ``lim`` in projection lowers e[i]. Returns how many exact distances.
    cnt = 0
    for t in range(lo, hi):
        s = np.float32(0.0)
        for j in range(Z.shape[1]):
            d8 = np.float32(Z[i, j]) - np.float32(Zt[t, j])
            s += d8 * d8
        if s <= lim:
            cnt += 1
            e[i] = min(e[i], _dist2(X, rows[i], Ct[t], lut))
    return cnt


@njit(cache=True, fastmath=True)
def _settle_top(Z, a, margin, slack, X, rows, lut, e, pend, Zc, C, T, cmax, carg,  # noqa: ANN001
                spend, Zs, S):
    # Find the next pick: while the row with the largest e has pending centers or pending
    # seeds (``spend``), test them (projected, then exact if competitive) and rescan its chunk
    # (two-level maxima keep this cheap). A settled row within ``slack`` of the largest
    # remaining bound is taken at once.
    ng = (cmax.size + _GROUP - 1) // _GROUP
    gmax, garg = np.empty(ng, np.float32), np.empty(ng, np.int64)
    for g in range(ng):
        _group_max(cmax, g, gmax, garg)
    cnt = 0
    while True:
        g = np.argmax(gmax)
        ch = garg[g]
        i = carg[ch]
        if i < 0 or (pend[i] >= T and spend[i] == 0):
            return cnt, i
        lim = a[i] * margin
        if spend[i]:  # the seeds projected-competitive for this row, left out by the init
            cnt += _check_row(i, Z, Zs, S, 0, Zs.shape[0], lim, X, rows, lut, e)
            spend[i] = 0
        cnt += _check_row(i, Z, Zc, C, pend[i], T, lim, X, rows, lut, e)
        pend[i] = T
        cmax[ch], carg[ch] = _chunk_best(e, ch)
        _group_max(cmax, g, gmax, garg)
        if e[i] >= 0 and e[i] >= slack * gmax.max():
            return cnt, i


@njit(parallel=True, cache=True, fastmath=True)
def _seed_lazy(G, sqz, sqs, lo, a, margin, X, rows, S, lut, e, spend):  # noqa: ANN001
    # G: projected dot products of rows lo.. with every seed. Update a; e gets the exact
    # distance to the projected-nearest seed only (an upper bound, as lazy greedy needs);
    # a row with other projected-competitive seeds is marked in ``spend``, and _settle_top
    # checks them if the row ever reaches the top. Returns how many exact distances.
    counts = np.zeros(G.shape[0], np.int64)
    for r in prange(G.shape[0]):
        i = lo + r
        if e[i] < 0:
            continue
        d1, d2, best = _BIG, _BIG, -1  # the two smallest projected seed distances (one pass)
        for j in range(G.shape[1]):
            d = sqz[r] + sqs[j] - 2 * G[r, j]
            if d < d2:
                if d < d1:
                    d1, d2, best = d, d1, j
                else:
                    d2 = d
        if d1 <= a[i]:  # the nearest seed is the nearest known point: its exact distance now
            a[i] = d1
            counts[r] += 1
            e[i] = min(e[i], _dist2(X, rows[i], S[best], lut))
            if d2 <= d1 * margin:  # another competitive seed: checked if this row reaches the top
                spend[i] = 1
        elif d1 <= a[i] * margin:  # a known mindist is nearer, but some seed is competitive
            spend[i] = 1
    return counts.sum()


@njit(parallel=True, cache=True)
def _chunk_max(e, cmax, carg):  # noqa: ANN001
    # Per chunk of e, its largest value and where (-1, -1 for a chunk with nothing left).
    for ch in prange(cmax.size):
        cmax[ch], carg[ch] = _chunk_best(e, ch)


@njit(parallel=True, cache=True, fastmath=True)
def _project(X, rows, perm, sign, group, inv, lut, scale, out):  # noqa: ANN001
    k = out.shape[1]
    for i in prange(rows.size):
        acc = np.zeros(k, np.float32)
        for t in range(perm.size):
            acc[group[t]] += sign[t] * _val(X, rows[i], perm[t], lut)
        for g in range(k):
            v = np.rint(acc[g] * inv[g] * scale)
            out[i, g] = np.int8(min(np.float32(127.0), max(np.float32(-127.0), v)))


def _kernel_view(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A plain ndarray view of X the kernels can read (float16 as uint16 + lookup table)."""
    arr = X.view(np.ndarray) if isinstance(X, np.ndarray) else np.asarray(X)
    if arr.dtype == np.float16:
        return arr.view(np.uint16), _LUT
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr, _LUT[:1]


def _setup(X: np.ndarray, seeds: Any, candidates: Any, mindist: Any) -> tuple:
    n_all = X.shape[0]
    rows = np.arange(n_all, dtype=np.int64) if candidates is None else np.asarray(candidates, np.int64)
    seeds = np.unique(np.asarray([] if seeds is None else seeds, np.int64).ravel())
    e = np.full(rows.size, _BIG, np.float32)
    if mindist is not None:
        m = np.asarray(mindist, np.float64).ravel()
        if m.size != rows.size:
            if m.size != n_all:
                raise ValueError("mindist must align with candidates or with the rows of X")
            m = m[rows]
        e = np.minimum(e, np.where(np.isfinite(m), np.square(m), _BIG)).astype(np.float32)
    e[np.isin(rows, seeds)] = -1.0
    return rows, seeds, e


def _init_from_seeds(X: np.ndarray, Xv: np.ndarray, lut: np.ndarray, rows: np.ndarray,
                     S: np.ndarray, e: np.ndarray, proj: tuple | None, cancel: Any) -> int:
    """Fold the seeds into ``e`` (and ``a``) with chunked matrix products instead of one pass
    per seed. Exact mode: exact distances. Project mode: projected distances, then the exact
    one to each row's projected-nearest seed; its other competitive seeds are checked lazily
    (``spend``), only for rows that reach the top. Returns the number of exact row-seed
    distances. ``S``: the seeds' rows as float32."""
    step = max(1024, (1 << 23) // max(len(S), 1))  # ~32 MB of distances per chunk
    count = 0
    for lo in range(0, rows.size, step):
        hi = min(rows.size, lo + step)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if proj is None:
            d = np.maximum(2 - 2 * (np.asarray(X[rows[lo:hi]], np.float32) @ S.T).max(axis=1), 0)
            np.minimum(e[lo:hi], d, out=e[lo:hi], where=e[lo:hi] >= 0)
            count += hi - lo  # each row read once per chunk
        else:
            Z, Zs, a, margin, spend = proj
            zf, zs = Z[lo:hi].astype(np.float32), Zs.astype(np.float32)
            count += int(_seed_lazy(zf @ zs.T, (zf * zf).sum(1), (zs * zs).sum(1), lo, a, margin,
                                    Xv, rows, S, lut, e, spend))
    return count


def kcenter_greedy(X: np.ndarray, seeds: Any, budget: int, candidates: Any = None,
                   mindist: Any = None, reduce: str = "auto", random_state: int = 0,
                   cancel: Any = None, stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``budget`` candidate rows farthest-first from the seeds; returns (rows, distance at pick).

    ``seeds``: rows already covered (labeled, taken); ``mindist``: optional known distance to
    other covered points, aligned with ``candidates`` or with X. With neither, the first pick is
    a seeded random candidate (distance ``inf``). ``reduce``: "none" (exact), "project" (see
    module doc) or "auto" (project when n * D * budget is large). ``stats`` gets counters.
    """
    t0 = time.perf_counter()
    Xv, lut = _kernel_view(X)
    rows, seeds, e = _setup(X, seeds, candidates, mindist)
    n, D = rows.size, X.shape[1]
    budget = int(min(max(budget, 0), np.count_nonzero(e >= 0)))
    pdims = PROJ_DIMS_LARGE if n >= LARGE_N else PROJ_DIMS
    if reduce == "auto":
        reduce = "project" if D > 2 * pdims and n * D * max(budget, 1) > _AUTO_WORK else "none"
    if reduce not in ("none", "project"):
        raise ValueError(f"reduce must be 'auto', 'none' or 'project', not {reduce!r}")
    if seeds.size > MAX_SEEDS:  # thin a large seed set to the seeds that best cover it
        seeds = kcenter_greedy(X, [], MAX_SEEDS, seeds, None, reduce, random_state, cancel)[0]
    nch = max(1, -(-n // _CHUNK))
    cmax, carg = np.empty(nch, np.float32), np.empty(nch, np.int64)
    st = {"mode": reduce, "passes": 0, "exact_rows": 0, "n": n, "dims": D, "seeds": int(seeds.size)}
    if reduce == "project" and budget:
        rng = np.random.default_rng([random_state, 7])
        perm, sign = rng.permutation(D), rng.choice(np.float32([-1, 1]), D)
        group = (np.arange(D) % pdims).astype(np.int64)
        inv = (1 / np.sqrt(np.bincount(group, minlength=pdims))).astype(np.float32)
        scale = np.float32(127 / 0.6)  # unit rows: |coordinate| < 0.6 except for rare spikes
        Z = np.empty((n, pdims), np.int8)
        _project(Xv, rows, perm, sign, group, inv, lut, scale, Z)
        Zs = np.empty((seeds.size, pdims), np.int8)
        _project(Xv, seeds, perm, sign, group, inv, lut, scale, Zs)
        # a from a known mindist: the expected projected distance of a pair that far apart.
        a = np.where(e < _BIG, np.maximum(e, 0) * scale**2 * pdims / D, _BIG).astype(np.float32)
        margin, slack = np.float32(1 + MARGIN), np.float32((1 - SLACK) ** 2)
        pend = np.full(n, np.iinfo(np.int32).max, np.int32)
        spend = np.zeros(n, np.uint8)  # seeds still to check for this row (see _seed_lazy)
        C = np.empty((budget, D), np.float32)
        Zc = np.empty((budget, pdims), np.int8)

    def center(r: int) -> np.ndarray:
        return np.asarray(X[r], dtype=np.float32)

    def apply(c: np.ndarray, zc: np.ndarray | None) -> None:
        if reduce == "project":
            t = st["passes"]
            C[t], Zc[t] = c, zc
            st["exact_rows"] += int(_step_proj(Z, zc, t, a, margin, Xv, rows, c, lut, e, pend,
                                               cmax, carg))
        else:
            _step_exact(Xv, rows, c, lut, e, cmax, carg)
            st["exact_rows"] += n
        st["passes"] += 1

    applied = False
    S = np.asarray(X[seeds], dtype=np.float32).reshape(seeds.size, D)  # read once: init, lazy checks
    if budget and seeds.size:
        proj = (Z, Zs, a, margin, spend) if reduce == "project" else None
        st["exact_rows"] += _init_from_seeds(X, Xv, lut, rows, S, e, proj, cancel)
    picks, dists = [], []
    for t in range(budget):
        if cancel is not None and t % 16 == 0:
            cancel.raise_if_cancelled()
        if reduce == "project" and (applied or seeds.size):
            if not applied:  # the first pick after the seeds: chunk maxima of e, then settle
                _chunk_max(e, cmax, carg)
            cnt, i = _settle_top(Z, a, margin, slack, Xv, rows, lut, e, pend, Zc, C,
                                 st["passes"], cmax, carg, spend, Zs, S)
            st["exact_rows"] += int(cnt)
        elif applied:
            i = int(carg[int(np.argmax(cmax))])
        elif np.any((e >= 0) & (e < _BIG)):
            i = int(np.argmax(e))
        else:  # cold start: nothing covered yet
            i = int(np.random.default_rng(random_state).choice(np.flatnonzero(e >= 0)))
        if i < 0 or e[i] < 0:
            break
        picks.append(rows[i])
        dists.append(np.inf if e[i] >= _BIG else float(np.sqrt(e[i])))
        e[i] = -1.0
        if t + 1 < budget:
            apply(center(rows[i]), Z[i] if reduce == "project" else None)
            applied = True
    st["seconds"] = time.perf_counter() - t0
    per_row = Xv.dtype.itemsize * D
    st["bytes_read"] = st["exact_rows"] * per_row + st["passes"] * n * 4  # rows read + e
    if reduce == "project":  # + the projected copy and a, per pass; + reading X to project it
        st["bytes_read"] += st["passes"] * n * (pdims + 4) + (n + seeds.size) * per_row
    if stats is not None:
        stats.update(st)
    return np.asarray(picks, np.int64), np.asarray(dists, np.float64)


def kcenter_numpy(X: np.ndarray, seeds: Any, budget: int, candidates: Any = None,
                  mindist: Any = None, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Plain numpy exact greedy k-center (full dims; gathers the candidates once as float32)."""
    rows, seeds, e = _setup(X, seeds, candidates, mindist)
    e = e.astype(np.float64)
    Xc = np.asarray(X[rows], dtype=np.float32)
    budget = int(min(max(budget, 0), np.count_nonzero(e >= 0)))
    if budget:
        for s in seeds:
            d = np.maximum(2 - 2 * (Xc @ np.asarray(X[s], np.float32)), 0)
            np.minimum(e, d, out=e, where=e >= 0)
    picks, dists = [], []
    for _ in range(budget):
        if np.any((e >= 0) & (e < _BIG)):
            i = int(np.argmax(e))
        else:
            i = int(np.random.default_rng(random_state).choice(np.flatnonzero(e >= 0)))
        if e[i] < 0:
            break
        picks.append(rows[i])
        dists.append(np.inf if e[i] >= _BIG else float(np.sqrt(e[i])))
        e[i] = -1.0
        d = np.maximum(2 - 2 * (Xc @ Xc[i]), 0)
        np.minimum(e, d, out=e, where=e >= 0)
    return np.asarray(picks, np.int64), np.asarray(dists, np.float64)
