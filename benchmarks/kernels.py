"""Selection kernels benchmark: greedy k-center and entropy/margin, numba vs numpy.

Synthetic clustered unit rows (``make_data``: ``--blobs`` Gaussian blobs of log-normal sizes,
variation in a shared ``--latent``-dim subspace plus isotropic noise, as in similarity.py).
  kcenter  B=``--budget`` picks from ``--rows`` x ``--dims`` float32, no seeds (cold) and with
           ``--seeds`` seeds: numba "project" (int8 projection + exact checks), numba exact
           full-dim, and plain numpy full-dim. The numpy baseline runs on ``--numpy-rows`` rows
           and is extrapolated linearly in rows ("extrapolated": true): every pick is one pass.
           Quality: covering radius (max over candidates of the exact full-dim distance to the
           nearest pick) of "project" divided by that of exact greedy, plus the mean distance.
           Also bytes read and their fraction of the measured bandwidth (parallel numba sum).
  entropy  entropy + margin over ``--rows`` x 10 probabilities, best of 5.
``--embeddings PATH.npy`` adds the k-center quality ratio on real embeddings. Wall times are
noisy on a shared 2-core machine: ``cpu_s`` (process CPU time) and ``load1`` are reported.
One JSON object per line on stdout. Example:  python benchmarks/kernels.py --quick
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _synth import blob_rows  # noqa: E402

from classkit.engine.select.kernels import (bandwidth_fraction, entropy_margin,  # noqa: E402
                                            entropy_margin_numpy, kcenter_greedy, kcenter_numpy,
                                            measure_bandwidth)


def emit(bench: str, case: str, **fields: Any) -> None:
    """Print one measurement as a JSON line."""
    rec = {"bench": bench, "case": case, **fields, "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o)), flush=True)


def make_data(n: int, d: int, blobs: int, latent: int, noise: float = 0.25, seed: int = 0) -> np.ndarray:
    """(n, d) float32 unit rows in log-normal-sized blobs (``_synth.blob_rows``)."""
    return blob_rows(n, d, blobs, latent, noise, seed)[0]


def coverage(X: np.ndarray, centres: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """(max, mean) over ``rows`` of the exact distance to the nearest centre (chunked GEMM)."""
    C = np.asarray(X[centres], np.float32)
    worst, total = 0.0, 0.0
    for lo in range(0, rows.size, 32768):
        best = (np.asarray(X[rows[lo:lo + 32768]], np.float32) @ C.T).max(axis=1)
        d = np.sqrt(np.maximum(0, 2 - 2 * best))
        worst, total = max(worst, float(d.max())), total + float(d.sum())
    return worst, total / rows.size


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, time.process_time() - c0


def bench_kcenter(X: np.ndarray, budget: int, seeds: np.ndarray, numpy_rows: int, peak: float,
                  case: str, exact: bool) -> None:
    cands = np.setdiff1d(np.arange(len(X)), seeds)
    base = {"rows": len(X), "dims": X.shape[1], "budget": budget, "seeds": int(seeds.size)}
    kcenter_greedy(X[:4096], seeds[:2] % 4096, 3, reduce="project")  # JIT (cached on disk)
    kcenter_greedy(X[:4096], seeds[:2] % 4096, 3, reduce="none")
    st: dict = {}
    (rp, _), wall, cpu = timed(kcenter_greedy, X, seeds, budget, cands, reduce="project", stats=st)
    emit("kcenter", case, impl="numba-project", **base, seconds=round(wall, 3), cpu_s=round(cpu, 2),
         bytes_read=st["bytes_read"], gb_per_s=round(st["bytes_read"] / wall / 1e9, 2),
         bandwidth_fraction=round(bandwidth_fraction(st["bytes_read"], wall, peak), 3),
         passes=st["passes"], exact_rows_per_candidate=round(st["exact_rows"] / cands.size, 2))
    if not exact:
        return
    st = {}
    (rx, _), wall, cpu = timed(kcenter_greedy, X, seeds, budget, cands, reduce="none", stats=st)
    emit("kcenter", case, impl="numba-exact", **base, seconds=round(wall, 3), cpu_s=round(cpu, 2),
         bytes_read=st["bytes_read"], gb_per_s=round(st["bytes_read"] / wall / 1e9, 2),
         bandwidth_fraction=round(bandwidth_fraction(st["bytes_read"], wall, peak), 3))
    m = min(numpy_rows, len(X))
    sub = np.setdiff1d(np.arange(m), seeds)
    _, wall, cpu = timed(kcenter_numpy, X[:m], seeds[seeds < m], budget, sub)
    scale = cands.size / sub.size
    emit("kcenter", case, impl="numpy-exact", **base, seconds=round(wall * scale, 3),
         cpu_s=round(cpu * scale, 2), measured_rows=m, extrapolated=m < len(X))
    (rad_p, mean_p), (rad_x, mean_x) = (coverage(X, np.r_[seeds, r], cands) for r in (rp, rx))
    emit("kcenter", case, impl="quality", **base, radius_exact=round(rad_x, 4),
         radius_project=round(rad_p, 4), radius_ratio=round(rad_p / rad_x, 4),
         mean_ratio=round(mean_p / mean_x, 4), overlap=len(set(rp) & set(rx)) / budget)


def bench_real(path: str, budget: int) -> None:
    X = np.load(path, mmap_mode="r")
    rows = np.arange(len(X))
    kcenter_greedy(X, [], 3, reduce="project")  # JIT for this array type (read-only memmap)
    kcenter_greedy(X, [], 3, reduce="none")
    st: dict = {}
    (rp, _), wall, _ = timed(kcenter_greedy, X, [], budget, reduce="project", stats=st)
    ratios = []
    for seed in range(3):
        rp, _ = kcenter_greedy(X, [], budget, reduce="project", random_state=seed)
        rx, _ = kcenter_greedy(X, [], budget, reduce="none", random_state=seed)
        (rad_p, mean_p), (rad_x, mean_x) = coverage(X, rp, rows), coverage(X, rx, rows)
        ratios.append((rad_p / rad_x, mean_p / mean_x))
    r = np.mean(ratios, axis=0)
    emit("kcenter", "real-embeddings", path=path, rows=len(X), dims=X.shape[1], budget=budget,
         radius_ratio=round(float(r[0]), 4), mean_ratio=round(float(r[1]), 4), starts=3,
         project_seconds=round(wall, 3), exact_rows_per_candidate=round(st["exact_rows"] / len(X), 2))


def bench_entropy(n: int, classes: int = 10) -> None:
    P = np.random.default_rng(0).dirichlet(np.full(classes, 0.3), n).astype(np.float32)
    entropy_margin(P[:10])
    for name, fn in (("numba", entropy_margin), ("numpy", entropy_margin_numpy)):
        best = min(timed(fn, P)[1] for _ in range(5))
        emit("entropy_margin", f"{n}x{classes}", impl=name, ms=round(best * 1e3, 2),
             gb_per_s=round(P.nbytes / best / 1e9, 2))
    a, b = entropy_margin(P), entropy_margin_numpy(P)
    emit("entropy_margin", "agreement", max_abs_diff_entropy=float(np.abs(a[0] - b[0]).max()),
         max_abs_diff_margin=float(np.abs(a[1] - b[1]).max()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--blobs", type=int, default=2000)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--numpy-rows", type=int, default=100_000)
    ap.add_argument("--no-exact", action="store_true", help="skip the exact runs and the quality ratio")
    ap.add_argument("--embeddings", help="a .npy of real L2-normalised embeddings for a quality check")
    ap.add_argument("--quick", action="store_true", help="100k rows, 2000 numpy rows")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.numpy_rows = 100_000, 20_000
    peak = measure_bandwidth()
    emit("env", "machine", threads=numba.get_num_threads(), threading_layer=numba.threading_layer(),
         measured_read_gbps=round(peak, 1), cpus=os.cpu_count())
    bench_entropy(args.rows)
    X = make_data(args.rows, args.dims, args.blobs, args.latent)
    bench_kcenter(X, args.budget, np.empty(0, np.int64), args.numpy_rows, peak, "cold", not args.no_exact)
    if args.seeds:
        seeds = np.random.default_rng(1).choice(len(X), args.seeds, replace=False)
        bench_kcenter(X, args.budget, seeds, args.numpy_rows, peak, "seeded", False)
    if args.embeddings:
        bench_real(args.embeddings, args.budget)


if __name__ == "__main__":
    main()
