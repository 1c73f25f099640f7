"""Similarity layer benchmark: kNN indexes, the all-points kNN graph, UMAP, k-means.

Synthetic clustered data (``make_data``): ``--blobs`` Gaussian blobs of log-normal sizes,
each point = unit blob centre + variation in a shared ``--latent``-dimensional subspace
(norm 0.3-0.8, per blob) + isotropic noise of norm ``--noise``, L2-normalised; queries are
held-out points of the same distribution. ``--noise 1.0`` is the hard variant (neighbours
decided in all D dimensions: HNSW needs a wider search). Baselines run in the same process, side by side:
  index  exact (faiss.knn / IndexFlatIP, 1 thread) vs hnswlib / faiss-hnsw: build, save,
         load, single-query latency p50/p95 (1 thread) and recall@10 for each ef_search
  graph  our exact graph and the HNSW graph vs a plain numpy matmul + argpartition
         (at large N the exact ones are timed on a row subset and extrapolated: "extrapolated")
  umap   umap-learn on its own kNN vs fed our graph (spectral / random init), and the
         sample-fit + place strategy of compute_map
  kmeans faiss k-means at the default k
One JSON object per line on stdout (and --out). Example:
  python benchmarks/similarity.py --sizes 100k --dims 384 --benches index,graph
Memory: 1M x 1280 float32 is 5.1 GB; with an HNSW copy and the exact reference ~11 GB peak.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before faiss/numba load OpenMP

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from _synth import blob_rows  # noqa: E402

from classkit.engine.similarity import build_index  # noqa: E402
from classkit.engine.similarity._util import faiss_threads  # noqa: E402
from classkit.engine.similarity.calibrate import calibrate_ef  # noqa: E402
from classkit.engine.similarity.clusters import (cluster_stats, default_n_clusters,  # noqa: E402
                                                 over_cluster, refresh_stats)
from classkit.engine.similarity.graph import knn_graph  # noqa: E402
from classkit.engine.similarity.knn import KnnIndex  # noqa: E402
from classkit.engine.similarity.umap_map import compute_map  # noqa: E402

OUT: list[Any] = []


def emit(bench: str, case: str, **fields: Any) -> None:
    """Print one measurement as a JSON line (and append it to --out)."""
    rec = {"bench": bench, "case": case, **fields, "load1": os.getloadavg()[0]}
    line = json.dumps(rec, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(line, flush=True)
    for fh in OUT:
        fh.write(line + "\n")
        fh.flush()


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * mult)


def make_data(n: int, d: int, n_queries: int, blobs: int, latent: int, noise: float = 0.25,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (n, d), queries (n_queries, d), blob of each row), float32, unit rows: one draw of
    ``_synth.blob_rows``, so the queries come from the same blobs."""
    out, blob = blob_rows(n + n_queries, d, blobs, latent, noise, seed)
    return out[:n], out[n:], blob[:n]


def exact_topk(Q: np.ndarray, X: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    _, rows = faiss.knn(Q, X, k, metric=faiss.METRIC_INNER_PRODUCT)
    return rows, time.perf_counter() - t0


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    hits = sum(len(np.intersect1d(f[:k], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def single_query_latency(index: KnnIndex, Q: np.ndarray, k: int = 10,
                         warmup: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Time ``index.search`` one query at a time; returns (latencies ms, rows)."""
    for i in range(min(warmup, len(Q))):
        index.search(Q[i:i + 1], k)
    lat = np.empty(len(Q))
    rows = np.empty((len(Q), k), np.int64)
    for i in range(len(Q)):
        t0 = time.perf_counter()
        r, _ = index.search(Q[i:i + 1], k)
        lat[i] = (time.perf_counter() - t0) * 1e3
        rows[i] = r[0]
    return lat, rows


def lat_fields(lat: np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(lat, 50)), 4),
            "p95_ms": round(float(np.percentile(lat, 95)), 4),
            "p99_ms": round(float(np.percentile(lat, 99)), 4),
            "mean_ms": round(float(lat.mean()), 4), "queries": int(lat.size)}


def dir_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def bench_index(args: argparse.Namespace, X: np.ndarray, Q: np.ndarray, common: dict) -> None:
    truth, t_exact = exact_topk(Q, X, 10)
    emit("index", "exact_batch_ground_truth", **common, backend="faiss.knn",
         seconds=round(t_exact, 3), queries=len(Q), threads=args.threads)
    n = X.shape[0]
    nq_exact = min(len(Q), args.exact_queries if n > 200_000 else len(Q))
    idx = build_index(X, backend="faiss-flat", threads=args.threads)
    lat, rows = single_query_latency(idx, Q[:nq_exact])
    emit("index", "single_query", **common, backend="faiss-flat", params={},
         seconds=idx.params["build_seconds"], recall_at_10=recall(rows, truth[:nq_exact]),
         **lat_fields(lat))
    del idx
    for m in [s for s in args.exact_curve if s < n]:  # exact latency vs corpus size
        idx = build_index(X[:m], backend="faiss-flat")
        lat, _ = single_query_latency(idx, Q[:200])
        emit("index", "single_query_exact_curve", N=m, D=X.shape[1], backend="faiss-flat",
             params={}, mb=round(m * X.shape[1] * 4 / 2**20, 1), **lat_fields(lat))
        del idx
    for backend in args.backends:
        if backend == "faiss-hnsw" and n > args.faiss_hnsw_max:
            emit("index", "skipped", **common, backend=backend,
                 reason=f"N > --faiss-hnsw-max ({args.faiss_hnsw_max})")
            continue
        combos = ([(m, e) for m in args.M for e in args.ef_construction] if backend == "hnswlib"
                  else [(args.M[-1], args.ef_construction[-1])])  # FAISS HNSW: one setting
        for M, efc in combos:
            params = {"M": M, "ef_construction": efc}
            idx = build_index(X, backend=backend, M=M, ef_construction=efc, calibrate=False,
                              threads=args.threads)
            emit("index", "build", **common, backend=backend, params=params,
                 seconds=idx.params["build_seconds"], threads=args.threads)
            folder = Path(tempfile.mkdtemp(prefix="ck-bench-idx-", dir=args.tmp))
            t0 = time.perf_counter()
            idx.save(folder)
            t_save = time.perf_counter() - t0
            del idx
            t0 = time.perf_counter()
            idx = KnnIndex.load(folder, threads=args.threads)
            t_load = time.perf_counter() - t0
            emit("index", "save_load", **common, backend=backend, params=params,
                 save_seconds=round(t_save, 3), load_seconds=round(t_load, 3),
                 bytes=dir_size(folder))
            shutil.rmtree(folder)
            for ef in args.ef:
                idx.set_ef_search(ef)
                lat, rows = single_query_latency(idx, Q)
                emit("index", "single_query", **common, backend=backend,
                     params={**params, "ef_search": ef}, recall_at_10=recall(rows, truth),
                     **lat_fields(lat))
            t0 = time.perf_counter()
            idx.set_ef_search(32)  # calibrate from a low floor, to see what this data needs
            rep = calibrate_ef(idx, X)
            emit("index", "calibrate_ef", **common, backend=backend, params=params,
                 seconds=round(time.perf_counter() - t0, 2),
                 **{key: rep[key] for key in ("ef_search", "recall", "p50_ms", "p95_ms", "met")})
            if args.keep_index_for_graph and backend == "hnswlib" and (M, efc) == combos[-1]:
                args._graph_index = idx
            del idx


def exact_rows_graph(X: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k other rows for a subset of rows (reference for graph recall)."""
    _, r = faiss.knn(np.ascontiguousarray(X[rows]), X, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    return np.array([[c for c in rr if c != q][:k] for q, rr in zip(rows, r, strict=True)])


def bench_graph(args: argparse.Namespace, X: np.ndarray, common: dict) -> None:
    n, k = X.shape[0], args.graph_k
    full = n <= args.graph_baseline_full_below
    sub = np.arange(n) if full else np.arange(min(n, args.graph_subset))
    scale = n / sub.size
    extra = {"extrapolated": not full, "rows_timed": int(sub.size)}
    t0 = time.perf_counter()  # baseline: plain numpy matmul + argpartition (self masked)
    for lo in range(0, sub.size, 1024):
        S = X[lo:min(lo + 1024, sub.size)] @ X.T
        S[np.arange(S.shape[0]), np.arange(lo, lo + S.shape[0])] = -np.inf
        np.argpartition(S, n - k, axis=1)[:, n - k:]
    emit("graph", "numpy_matmul_argpartition", **common, k=k, backend="numpy",
         seconds=round((time.perf_counter() - t0) * scale, 2), **extra)
    t0 = time.perf_counter()  # ours, exact: blocked faiss.knn (what knn_graph uses below EXACT_BELOW)
    if full:
        knn_graph(X, k=k, exact_below=n + 1, threads=args.threads)
    else:
        with faiss_threads(args.threads):
            faiss.knn(X[sub], X, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    emit("graph", "exact_faiss_knn", **common, k=k, backend="faiss.knn",
         seconds=round((time.perf_counter() - t0) * scale, 2), **extra)
    index = args._graph_index
    if index is None:
        index = build_index(X, backend="hnswlib", calibrate=False, threads=args.threads)
        emit("index", "build", **common, backend="hnswlib", params=index.params,
             seconds=index.params["build_seconds"], threads=args.threads)
    check = np.random.default_rng(1).choice(n, min(n, 2000), replace=False)
    truth = exact_rows_graph(X, check, k)
    for ef in args.graph_ef:
        t0 = time.perf_counter()
        g = knn_graph(X, k=k, index=index, ef_search=ef, threads=args.threads)
        dt = time.perf_counter() - t0
        emit("graph", "hnsw_graph", **common, k=k, backend="hnswlib",
             params={**{key: index.params[key] for key in ("M", "ef_construction")},
                     "ef_search": g.params["ef_search"]},
             seconds=round(dt, 2), build_seconds=index.params["build_seconds"],
             recall_at_k=round(recall(g.rows[check], truth), 4))
    args._graph = g


def map_quality(coords: np.ndarray, graph: Any, blob: np.ndarray) -> dict[str, float]:
    """kNN preservation (share of each row's 15 graph neighbours among its 15 nearest in
    2-D, on 2000 rows), 2-D blob purity (share of its 10 nearest in 2-D from its own blob)
    and blob separation (mean between / mean within distance)."""
    rng = np.random.default_rng(0)
    rows = rng.choice(len(coords), min(2000, len(coords)), replace=False)
    _, near = faiss.knn(np.ascontiguousarray(coords[rows], np.float32),
                        np.ascontiguousarray(coords, np.float32), 16)
    keep = [len(np.intersect1d(nb[nb != r][:15], graph.rows[r, :15])) / 15
            for r, nb in zip(rows, near, strict=True)]
    a, b = rng.integers(0, len(coords), (2, 50000))
    dist = np.linalg.norm(coords[a] - coords[b], axis=1)
    same = (blob[a] == blob[b]) & (a != b)
    same_blob = float(np.mean(blob[near[:, 1:11]] == blob[rows][:, None]))
    return {"knn_preservation": round(float(np.mean(keep)), 4),
            "blob_purity_2d": round(same_blob, 4),
            "separation": round(float(dist[~same].mean() / dist[same].mean()), 3)}


def bench_umap(args: argparse.Namespace, X: np.ndarray, blob: np.ndarray, common: dict) -> None:
    import umap
    n = X.shape[0]
    graph = getattr(args, "_graph", None) or knn_graph(X, k=args.graph_k, threads=args.threads)
    cases = args.umap_cases if n <= args.skip_umap_above else args.umap_cases_large
    t0 = time.perf_counter()  # JIT warm-up (cached on disk after the first run ever)
    Xw = X[:3000]
    umap.UMAP(metric="cosine", random_state=0, n_epochs=20).fit(Xw)
    compute_map(Xw, knn_graph(Xw, k=20), n_epochs=20)
    emit("umap", "warmup_jit", **common, seconds=round(time.perf_counter() - t0, 2))
    for case in cases:
        t0 = time.perf_counter()
        params: dict[str, Any] = {"n_neighbors": 15, "min_dist": 0.1, "random_state": 0}
        if case == "own_knn":  # umap-learn's defaults: its own NNDescent, spectral init
            coords = umap.UMAP(n_neighbors=15, metric="cosine", random_state=0).fit_transform(X)
        elif case.startswith("sample"):  # sample[_refine<epochs>]
            fs = args.umap_sample if n <= args.skip_umap_above else args.umap_sample_large
            refine = int(case.split("_refine")[1]) if "_refine" in case else 0
            params.update(fit_sample=fs, refine_epochs=refine)
            coords = compute_map(X, graph, fit_sample=fs, refine_epochs=refine,
                                 threads=args.threads)
        else:  # precomputed_<init>[_parallel]
            init = case.split("_")[1]
            rs = None if case.endswith("_parallel") else 0
            params.update(init=init, random_state=rs)
            coords = compute_map(X, graph, init=init, random_state=rs, fit_sample=n,
                                 threads=args.threads)
        dt = time.perf_counter() - t0
        emit("umap", case, **common, params=params, seconds=round(dt, 2),
             **map_quality(np.asarray(coords), graph, blob))


def bench_kmeans(args: argparse.Namespace, X: np.ndarray, blob: np.ndarray, common: dict) -> None:
    n = X.shape[0]
    k = default_n_clusters(n)
    t0 = time.perf_counter()
    assign, centroids = over_cluster(X, random_state=0, threads=args.threads)
    emit("kmeans", "faiss_over_cluster", **common, k=k, niter=20, seconds=round(time.perf_counter() - t0, 2))
    graph = getattr(args, "_graph", None)
    t0 = time.perf_counter()
    cluster_stats(X, assign, centroids, graph)
    emit("kmeans", "cluster_stats", **common, k=k, seconds=round(time.perf_counter() - t0, 3))
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(n) < 0.1, blob % 50, -1)
    preds, unc = (blob % 50).astype(np.int64), rng.random(n)
    lat = []
    for _ in range(5):
        t0 = time.perf_counter()
        refresh_stats(assign, labels, preds, unc, n_clusters=k)
        lat.append(time.perf_counter() - t0)
    emit("kmeans", "refresh_stats", **common, k=k, seconds=round(float(np.median(lat)), 4))
    if args.kmeans_baseline and n <= 200_000:
        from sklearn.cluster import MiniBatchKMeans
        t0 = time.perf_counter()
        MiniBatchKMeans(k, random_state=0, n_init=1, batch_size=4096).fit(X)
        emit("kmeans", "sklearn_minibatch_baseline", **common, k=k,
             seconds=round(time.perf_counter() - t0, 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100k", help="comma list, e.g. 100k,1M")
    ap.add_argument("--dims", default="384", help="comma list, e.g. 384,1280")
    ap.add_argument("--benches", default="index,graph,umap,kmeans")
    ap.add_argument("--backends", default="hnswlib,faiss-hnsw")
    ap.add_argument("--M", default="32", help="comma list of HNSW M values")
    ap.add_argument("--ef-construction", default="100", help="comma list (hnswlib)")
    ap.add_argument("--ef", default="64,96,128,192,256", help="ef_search values to sweep")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--exact-queries", type=int, default=100,
                    help="single exact queries timed above 200k rows (each takes 50+ ms)")
    ap.add_argument("--exact-curve", default="10k,20k,40k",
                    help="also time exact single queries on these first-row slices")
    ap.add_argument("--faiss-hnsw-max", type=parse_size, default=parse_size("100k"))
    ap.add_argument("--blobs", type=int, default=1000)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--noise", type=float, default=0.25,
                    help="norm of the isotropic noise (0.25: clustered; 1.0: hard, high intrinsic dim)")
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--tmp", default=None, help="folder for saved indexes (default /tmp)")
    ap.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    ap.add_argument("--skip-umap-above", type=parse_size, default=parse_size("100k"))
    ap.add_argument("--graph-k", type=int, default=20)
    ap.add_argument("--graph-baseline-full-below", type=parse_size, default=parse_size("30k"),
                    help="above: time the exact graphs on --graph-subset rows and extrapolate")
    ap.add_argument("--graph-subset", type=int, default=8192)
    ap.add_argument("--graph-ef", default="42", help="ef_search values for the HNSW graph")
    ap.add_argument("--umap-cases", default="own_knn,precomputed_spectral,precomputed_random,"
                    "precomputed_pca,precomputed_random_parallel,sample,sample_refine50")
    ap.add_argument("--umap-cases-large", default="sample",
                    help="cases above --skip-umap-above (e.g. sample,sample_refine50,precomputed_random)")
    ap.add_argument("--umap-sample", type=parse_size, default=parse_size("10k"),
                    help="fit_sample for the 'sample' case up to --skip-umap-above rows")
    ap.add_argument("--umap-sample-large", type=parse_size, default=parse_size("100k"),
                    help="fit_sample for the 'sample' case above --skip-umap-above rows")
    ap.add_argument("--no-kmeans-baseline", dest="kmeans_baseline", action="store_false")
    args = ap.parse_args()
    args.backends = [b for b in args.backends.split(",") if b]
    args.M = [int(m) for m in args.M.split(",")]
    args.ef_construction = [int(e) for e in args.ef_construction.split(",")]
    args.ef = [int(e) for e in args.ef.split(",")]
    args.exact_curve = [parse_size(x) for x in args.exact_curve.split(",") if x]
    args.graph_ef = [int(e) for e in args.graph_ef.split(",")]
    args.umap_cases = [c for c in args.umap_cases.split(",") if c]
    args.umap_cases_large = [c for c in args.umap_cases_large.split(",") if c]
    args.threads = args.threads or len(os.sched_getaffinity(0))
    benches = set(args.benches.split(","))
    args.keep_index_for_graph = "graph" in benches
    if args.out:
        OUT.append(open(args.out, "a"))  # noqa: SIM115
    emit("env", "start", python=platform.python_version(), cores=os.cpu_count(),
         faiss=faiss.__version__, argv=sys.argv[1:],
         omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"))
    for n in [parse_size(s) for s in args.sizes.split(",")]:
        for d in [int(x) for x in args.dims.split(",")]:
            t0 = time.perf_counter()
            X, Q, blob = make_data(n, d, args.queries, args.blobs, args.latent, args.noise)
            common = {"N": n, "D": d, "noise": args.noise}
            emit("data", "make_data", **common, seconds=round(time.perf_counter() - t0, 2),
                 blobs=args.blobs, latent=args.latent)
            args._graph_index = None
            args._graph = None
            if "index" in benches:
                bench_index(args, X, Q, common)
            del Q
            if "graph" in benches:
                bench_graph(args, X, common)
            args._graph_index = None
            if "umap" in benches:
                bench_umap(args, X, blob, common)
            if "kmeans" in benches:
                bench_kmeans(args, X, blob, common)
            del X, blob


if __name__ == "__main__":
    main()
