"""Neighbour smoothing of predictions against the head alone, side by side in one process.

Random label sets of a given size, a round trained as ``classkit train`` trains it
(``fit_round``, semi-supervised, smoothing in auto mode), then the accuracy on every
*unlabeled* image (what a user sees in predictions) of the head's calibrated probabilities
and of the smoothed ones (``learn.smooth``: each image's probabilities times its 10 nearest
neighbours' vote, known labels one-hot) with their calibration there (NLL, 15-bin ECE),
whether auto mode kept smoothing, and its cost.

Datasets, embedded with the default embedder through the real pipeline and cached:
  digits          scikit-learn's 1,797 8x8 digits (bundled with scikit-learn)
  fashion-mnist   the AL benchmark's 20k pool (benchmarks/al_data.py)

    python benchmarks/smoothing.py --dataset digits --labels 30,50,100,200,500 --seeds 5
    python benchmarks/smoothing.py --dataset fashion-mnist --labels 100,300,1000 --seeds 3
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from al_data import DEFAULT_CACHE, _embed_folder, prepare  # noqa: E402
from al_simulation import sim_splits  # noqa: E402

from classkit.engine.embed.spec import default_model_name  # noqa: E402
from classkit.engine.labels.splits import order_keys  # noqa: E402
from classkit.engine.learn.calibration import calibration_report  # noqa: E402
from classkit.engine.learn.heads import HeadConfig, predict_proba  # noqa: E402
from classkit.engine.learn.smooth import reference_probs, smoothed  # noqa: E402
from classkit.engine.loop.core import fit_round  # noqa: E402
from classkit.engine.similarity.graph import knn_graph  # noqa: E402


def load(name: str, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a dataset, embedded once and cached."""
    if name == "fashion-mnist":
        d = prepare(cache=cache)
        return d["X_pool"], d["y_pool"]
    out = cache.parent / "digits" / f"digits-{default_model_name()}.npz"
    if out.is_file():
        with np.load(out) as z:
            return z["X"], z["y"]
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16 * 255).astype(np.uint8)
    X = _embed_folder(out.parent / "work", images, "digits", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, X=X, y=d.target.astype(np.int64))
    return X, d.target.astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=("digits", "fashion-mnist"), default="digits")
    ap.add_argument("--labels", default="30,50,100,200,500")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    X, y_true = load(args.dataset, args.cache)
    n, classes = len(X), [str(c) for c in range(int(y_true.max()) + 1)]
    graph = knn_graph(X, k=20)
    nb = (np.asarray(graph.rows), np.asarray(graph.sims))
    keys = order_keys([str(i) for i in range(n)], 0)
    for size in (int(v) for v in args.labels.split(",")):
        plain, smooth, used, ece = [], [], [], []
        for seed in range(args.seeds):
            y = np.full(n, -1, np.int64)
            lab = np.random.default_rng(seed).choice(n, size, replace=False)
            y[lab] = y_true[lab]
            split = sim_splits(y, np.full(n, -1, np.int64), keys)
            fit = fit_round(X, y, split, classes, config=HeadConfig(seed=seed), folds=0, seed=seed,
                            neighbours=nb, graph=nb)
            P = predict_proba(fit.head, X, fit.temperature)
            t0 = time.perf_counter()
            S = smoothed(P, reference_probs(P, y, y >= 0), nb, fit.smoothing)
            smooth_s = time.perf_counter() - t0
            unl = y < 0
            plain.append(float((P.argmax(1)[unl] == y_true[unl]).mean()))
            smooth.append(float((S.argmax(1)[unl] == y_true[unl]).mean()))
            used.append(bool(fit.smoothing["used"]))
            cal = [calibration_report(p[unl], y_true[unl]) for p in (P, S)]
            ece.append([c["ece"] for c in cal])
            print(json.dumps({"bench": "smoothing", "case": "run", "dataset": args.dataset, "labels": size,
                              "seed": seed, "head_accuracy": round(plain[-1], 4),
                              "smoothed_accuracy": round(smooth[-1], 4), "auto_used": used[-1],
                              "head_nll": round(cal[0]["nll"], 4), "smoothed_nll": round(cal[1]["nll"], 4),
                              "head_ece": round(cal[0]["ece"], 4), "smoothed_ece": round(cal[1]["ece"], 4),
                              "smooth_s": round(smooth_s, 4), "load1": round(os.getloadavg()[0], 2)}),
                  flush=True)
        print(json.dumps({"bench": "smoothing", "case": "summary", "dataset": args.dataset, "labels": size,
                          "seeds": args.seeds, "head_accuracy": round(float(np.mean(plain)), 4),
                          "smoothed_accuracy": round(float(np.mean(smooth)), 4),
                          "gain_points": round(100 * float(np.mean(smooth) - np.mean(plain)), 2),
                          "head_ece": round(float(np.mean([e[0] for e in ece])), 4),
                          "smoothed_ece": round(float(np.mean([e[1] for e in ece])), 4),
                          "auto_used": f"{sum(used)}/{len(used)}"}), flush=True)


if __name__ == "__main__":
    main()
