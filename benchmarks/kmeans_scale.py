"""Over-clustering at scale: k-means's training sample, the shipped rule against FAISS's default.

``over_cluster`` trains spherical k-means on a seeded sample of the rows, then assigns every
row. The shipped rule (``clusters.train_rows``) caps the sample at 131,072 rows while each
centroid keeps at least 64; FAISS's default, the baseline run in the same process, takes
256 rows per centroid (512k rows at k = 2000). Rows are float16 unit vectors in Gaussian
blobs, as the default embedder's are stored. Each line reports the seconds of the whole
``over_cluster`` call and the mean cosine of the first 100k rows to their centroid (higher =
tighter clusters), so speed and quality show side by side.

    python benchmarks/kmeans_scale.py                       # 1M x 1584, k = 2000 (~12 min)
    python benchmarks/kmeans_scale.py --n 100000 --k 1000
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from classkit.engine.similarity import clusters as C


def blob_rows(n: int, dim: int, blobs: int = 200, seed: int = 0) -> np.ndarray:
    """``n`` float16 unit rows around ``blobs`` random centres (noise 0.7 per dimension)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((blobs, dim)).astype(np.float32)
    X = np.empty((n, dim), np.float16)
    for lo in range(0, n, 65536):
        hi = min(n, lo + 65536)
        noise = rng.standard_normal((hi - lo, dim)).astype(np.float32)
        v = centres[rng.integers(0, blobs, hi - lo)] + 0.7 * noise
        X[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return X


def run(X: np.ndarray, k: int, rule: str) -> dict[str, Any]:
    """Time ``over_cluster`` with the shipped sample rule or FAISS's 256 per centroid."""
    shipped = C.train_rows
    if rule == "faiss-default":
        C.train_rows = lambda n, k: min(n, k * C.MAX_POINTS_PER_CENTROID)
    try:
        t0 = time.perf_counter()
        assign, centroids = C.over_cluster(X, k=k, random_state=0)
        seconds = time.perf_counter() - t0
        rows = C.train_rows(len(X), k)
    finally:
        C.train_rows = shipped
    m = min(len(X), 100_000)
    head = np.asarray(X[:m], np.float32)
    head /= np.linalg.norm(head, axis=1, keepdims=True)
    cohesion = float((head * centroids[assign[:m]]).sum(1).mean())
    return {"bench": "kmeans_scale", "rule": rule, "n": len(X), "dim": X.shape[1], "k": k,
            "train_rows": int(rows), "seconds": round(seconds, 1), "cohesion_100k": round(cohesion, 4),
            "load1": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1584, help="the default embedder's size")
    ap.add_argument("--k", type=int, default=None,
                    help="clusters (default: the project rule, N/100 up to 2000)")
    ap.add_argument("--out", default=None, help="also append the JSON lines here")
    args = ap.parse_args()
    X = blob_rows(args.n, args.dim)
    k = C.default_n_clusters(args.n) if args.k is None else args.k
    for rule in ("shipped", "faiss-default"):
        rec = run(X, k, rule)
        print(json.dumps(rec), flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
