"""When does the semi-supervised head pay off? Plain vs semi-supervised ``fit_round`` on
random label sets of growing size, side by side: test accuracy, calibrated NLL and time.

Fashion-MNIST embedded with the default embedder (benchmarks/al_data.py's cache), the
pool's kNN graph (k=20) as ``classkit train`` uses it. JSON lines.

    python benchmarks/semi_scale.py --labels 500,2000,5000,10000,16000 --seeds 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from al_data import CLASSES, DEFAULT_CACHE, prepare  # noqa: E402

from classkit.engine.labels.splits import check_fractions, order_keys, stratified_assign  # noqa: E402
from classkit.engine.learn.heads import HeadConfig, predict_proba  # noqa: E402
from classkit.engine.loop.core import fit_round  # noqa: E402
from classkit.engine.similarity.graph import knn_graph  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", default="500,2000,5000,10000,16000")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    data = prepare(20_000, 5_000, 0, args.cache)
    X, y_pool, X_test, y_test = data["X_pool"], data["y_pool"], data["X_test"], data["y_test"]
    t0 = time.perf_counter()
    graph = knn_graph(X, k=20)
    neighbours = (np.asarray(graph.rows), np.asarray(graph.sims))
    print(json.dumps({"bench": "semi_scale", "case": "graph", "n": len(X),
                      "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
    fractions = check_fractions({"train": 0.8, "val": 0.2})
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        keys = order_keys([str(i) for i in range(len(X))], seed)
        for n_labels in (int(v) for v in args.labels.split(",")):
            y = np.full(len(X), -1, np.int64)
            chosen = order[:n_labels]
            y[chosen] = y_pool[chosen]
            split = stratified_assign(y, np.full(len(X), -1, np.int64), keys, fractions)
            for semi in (False, True):
                t = time.perf_counter()
                fit = fit_round(X, y, split, CLASSES, config=HeadConfig(seed=seed), folds=0, seed=seed,
                                neighbours=neighbours if semi else None)
                seconds = time.perf_counter() - t
                probs = predict_proba(fit.head, X_test, fit.temperature)
                acc = float((probs.argmax(1) == y_test).mean())
                nll = float(-np.log(np.clip(probs[np.arange(len(y_test)), y_test], 1e-12, None)).mean())
                print(json.dumps({"bench": "semi_scale", "seed": seed, "labels": n_labels, "semi": semi,
                                  "test_accuracy": round(acc, 4), "test_nll": round(nll, 4),
                                  "pseudo_rows": int(fit.metrics.get("semi", {}).get("pseudo_rows", 0)),
                                  "fit_s": round(seconds, 2), "load1": round(os.getloadavg()[0], 2)}),
                      flush=True)


if __name__ == "__main__":
    main()
