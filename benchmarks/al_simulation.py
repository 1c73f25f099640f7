"""Active-learning simulation: a perfect simulated labeler on embedded Fashion-MNIST.

Pool (default 20k, from the training set) and held-out test set (default 5k, from t10k)
embedded once with the default embedder (benchmarks/al_data.py caches them). Each
strategy starts with no labels and runs rounds of ``--batch`` picks up to ``--max-labels``;
after each batch the labeler reveals the true labels, and a head is trained exactly as
``classkit train`` does (``engine.loop.core.fit_round``: stable stratified train/val
splits, early stopping and temperature on val, out-of-fold label-error suspects) and
scored on the test set. Training is semi-supervised as in ``classkit train`` (labels spread
over the pool's kNN graph, combined with the calibrated head, as weighted pseudo-labels);
``--no-semi`` measures ``classkit train --no-semi``, ``--graph-features auto`` the opt-in
graph features (``engine.learn.graphfeat``). Predictions are neighbour-smoothed as
``classkit train`` does (auto: kept unless the calibrated val NLL is clearly worse): the pool's
through its own kNN graph (what selection sees), the held-out test images through their 10
nearest pool images (``--smoothing off`` measures the head alone). Strategies, side by side
in one process:

  default             the shipped recipe (select_batch with DEFAULT_WEIGHTS and its caps)
  random              seeded uniform sampling
  uncertainty         entropy top-B (first batch random: no model yet)
  kcenter             greedy k-center seeded with the labeled set
  typicality          most typical members of the least-covered dense clusters

Output: JSON lines (one per strategy and budget, then one summary per strategy with the
area under the learning curve, the labels needed to reach 95% of the accuracy of a head
trained on the whole labeled pool, and ``estimate_vs_truth``: per budget, the accuracy
``classkit train`` says to expect on the unlabeled images, their true accuracy and the val
accuracy), and a final ``targets`` line checking that the default
is never below random and needs at most half of random's labels.

    python benchmarks/al_simulation.py                 # 20k pool, B=100 up to 2000, 1 seed
    python benchmarks/al_simulation.py --seeds 3 --out /tmp/al.jsonl
    python benchmarks/al_simulation.py --seeds 3 --no-semi   # labeled rows only
    python benchmarks/al_simulation.py --dataset opencv-digits --batch 50 --max-labels 500
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from al_data import CLASSES, DATASETS, prepare_dataset  # noqa: E402

from classkit.engine.embed.spec import resolve_model  # noqa: E402
from classkit.engine.learn import graphfeat  # noqa: E402
from classkit.engine.learn.heads import HeadConfig, predict_proba  # noqa: E402
from classkit.engine.learn.smooth import K as SMOOTH_K  # noqa: E402
from classkit.engine.learn.smooth import reference_probs, smoothed  # noqa: E402
from classkit.engine.labels.splits import check_fractions, order_keys, stratified_assign  # noqa: E402
from classkit.engine.loop.core import fit_round  # noqa: E402
from classkit.engine.loop.predictions import expected_accuracy  # noqa: E402
from classkit.engine.select.context import SelectionContext  # noqa: E402
from classkit.engine.select.recipe import select_batch  # noqa: E402
from classkit.engine.select.strategies import (Diversity, RandomStrategy,  # noqa: E402
                                               Representativeness, Uncertainty)
from classkit.engine.similarity.clusters import over_cluster, refresh_stats  # noqa: E402
from classkit.engine.similarity.dedup import look_alike_regions, near_duplicate_groups  # noqa: E402
from classkit.engine.similarity.graph import knn_graph  # noqa: E402
from classkit.engine.similarity.knn import build_index  # noqa: E402

STRATEGIES = ("default", "random", "uncertainty", "kcenter", "typicality")
OUT = None


def emit(**rec: Any) -> None:
    rec["load1"] = round(os.getloadavg()[0], 2)
    line = json.dumps(rec)
    print(line, flush=True)
    if OUT is not None:
        with open(OUT, "a") as fh:
            fh.write(line + "\n")


SIM_FRACTIONS = {"train": 0.8, "val": 0.2}  # the simulation has its own test set


def sim_splits(y_known: np.ndarray, split: np.ndarray, keys: np.ndarray,
               groups: np.ndarray | None = None) -> np.ndarray:
    """Stable stratified train/val splits of newly labeled rows, with the product's own
    mechanism (``labels.splits.stratified_assign``): existing assignments never change."""
    return stratified_assign(y_known, split, keys, check_fractions(SIM_FRACTIONS), groups=groups)


class Sim:
    """Shared, label-independent structure of the pool, computed once."""

    def __init__(self, X: np.ndarray, seed: int, X_test: np.ndarray | None = None) -> None:
        t0 = time.perf_counter()
        self.X = X
        graph = knn_graph(X, k=20)
        # each test image's nearest pool images, for smoothing its prediction
        self.test_neighbours = (None if X_test is None else
                                build_index(X, backend="faiss-flat").search(X_test, SMOOTH_K))
        self.typicality = np.asarray(graph.sims, np.float32).mean(1)
        self.neighbours = (np.asarray(graph.rows), np.asarray(graph.sims))
        # the default embedder's own near-duplicate cosine, as a project embedded with it uses
        self.dup = near_duplicate_groups(graph, resolve_model(None).spec.near_duplicate_cosine)
        self.clusters, _ = over_cluster(X, random_state=seed)
        # what selection treats as covered by a labeled image, as select_for_project does
        self.region = look_alike_regions(*self.neighbours, self.clusters,
                                         resolve_model(None).spec.near_duplicate_cosine)
        self.k = int(self.clusters.max()) + 1
        # seeded split order keys (the row index stands in for a content hash)
        self.keys = order_keys([str(i) for i in range(len(X))], seed)
        self.seconds = round(time.perf_counter() - t0, 2)

    def context(self, y: np.ndarray, probs: np.ndarray | None, fit: Any, seed: int) -> SelectionContext:
        suspects = mask = disagreement = None
        if fit is not None and fit.suspect_scores is not None:
            suspects = np.full(len(y), np.nan)
            mask = np.zeros(len(y), bool)
            suspects[fit.labeled_rows] = fit.suspect_scores
            mask[fit.labeled_rows] = fit.suspect_mask
        if probs is not None:
            disagreement = refresh_stats(self.clusters, y, probs.argmax(1), n_clusters=self.k).disagreement
        return SelectionContext(X=self.X, y=y, probs=probs, clusters=self.clusters,
                                typicality=self.typicality, dup_group=self.dup, region=self.region,
                                suspects=suspects, suspect_mask=mask, cluster_disagreement=disagreement,
                                seed=seed)


def predict_sim(fit: Any, sim: Sim, y: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test probabilities as ``classkit train`` would give them: from graph
    features when the round decided so (a test image's from its nearest pool images), and
    smoothed by the neighbours' vote (known labels as one-hot) when the round decided so."""
    pool_x = graphfeat.view_for(sim.X, sim.neighbours, fit.features)
    test_x = X_test
    if pool_x is not sim.X:
        info = fit.features
        test_x = graphfeat.propagate(X_test, None, sim.X, sim.test_neighbours[0][:, :info["k"]],
                                     sim.test_neighbours[1][:, :info["k"]], info["alpha"], info["power"])
    probs = graphfeat.predict_proba(fit.head, pool_x, fit.temperature)
    test_probs = predict_proba(fit.head, test_x, fit.temperature)
    info = fit.smoothing
    if info is not None and info["used"]:
        ref = reference_probs(probs, y, y >= 0)
        test_probs = smoothed(test_probs, ref, sim.test_neighbours, info)
        probs = smoothed(probs, ref, sim.neighbours, info)
    return probs, test_probs


def pick(strategy: str, ctx: SelectionContext, batch: int, round_no: int) -> np.ndarray:
    unl = np.flatnonzero(ctx.y == -1)
    if strategy == "default":
        return np.asarray(select_batch(ctx, batch).rows, np.int64)
    if strategy == "random" or (strategy == "uncertainty" and ctx.probs is None):
        return np.asarray(RandomStrategy().query(ctx, unl, batch).rows, np.int64)
    impl = {"uncertainty": Uncertainty(), "kcenter": Diversity(),
            "typicality": Representativeness()}[strategy]
    return np.asarray(impl.query(ctx, unl, batch).rows, np.int64)


def run_strategy(sim: Sim, strategy: str, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 args: argparse.Namespace, seed: int) -> list[dict[str, Any]]:
    n = len(y_pool)
    y = np.full(n, -1, np.int64)
    split = np.full(n, -1, np.int64)
    probs = fit = None
    curve = []
    config = HeadConfig(kind=args.head, seed=seed)
    round_no = 0
    while (y >= 0).sum() < args.max_labels:
        t0 = time.perf_counter()
        ctx = sim.context(y, probs, fit, seed + round_no)
        rows = pick(strategy, ctx, args.batch, round_no)
        t_sel = time.perf_counter() - t0
        new = rows[y[rows] == -1]
        y[new] = y_pool[new]  # the simulated labeler; audit re-checks of labeled rows change nothing
        split = sim_splits(y, split, sim.keys, sim.dup)
        round_no += 1
        if len(np.unique(y[y >= 0])) < 2:
            continue
        t1 = time.perf_counter()
        fit = fit_round(sim.X, y, split, CLASSES, config=config, folds=args.folds, seed=seed,
                        neighbours=None if args.no_semi else sim.neighbours, graph=sim.neighbours,
                        smoothing=args.smoothing, features=args.graph_features)
        probs, test_probs = predict_sim(fit, sim, y, X_test)
        acc = float((test_probs.argmax(1) == y_test).mean())
        unl = np.flatnonzero(y == -1)  # what classkit train estimates, against the truth
        expected = expected_accuracy(probs, unl)
        rec = {"bench": "al_simulation", "case": "round", "strategy": strategy, "seed": seed,
               "labels": int((y >= 0).sum()), "new": int(len(new)), "test_accuracy": round(acc, 4),
               "temperature": round(fit.temperature, 3), "select_s": round(t_sel, 3),
               "pseudo_rows": int(fit.metrics.get("semi", {}).get("pseudo_rows", 0)),
               "smoothed": bool(fit.smoothing is not None and fit.smoothing["used"]),
               "val_accuracy": (fit.metrics.get("val") or {}).get("accuracy"),
               "unlabeled_expected": None if expected is None else expected["accuracy"],
               "unlabeled_accuracy": round(float((probs[unl].argmax(1) == y_pool[unl]).mean()), 4),
               "train_s": round(time.perf_counter() - t1, 3)}
        emit(**rec)
        curve.append(rec)
    return curve


def reference_accuracy(sim: Sim, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                       args: argparse.Namespace, seed: int) -> float:
    """Test accuracy of ``classkit train`` with the whole pool labeled (semi-supervision has
    nothing left to spread; smoothing decided on val as in every round)."""
    split = sim_splits(y_pool, np.full(len(y_pool), -1, np.int64),
                       order_keys([str(i) for i in range(len(y_pool))], seed))
    fit = fit_round(sim.X, y_pool, split, CLASSES, config=HeadConfig(kind=args.head, seed=seed), folds=0,
                    graph=sim.neighbours, smoothing=args.smoothing, features=args.graph_features)
    return float((predict_sim(fit, sim, y_pool, X_test)[1].argmax(1) == y_test).mean())


def labels_to_reach(curve: list[dict[str, Any]], target: float) -> int | None:
    for rec in curve:
        if rec["test_accuracy"] >= target:
            return rec["labels"]
    return None


def labels_to_reach_interp(curve: list[dict[str, Any]], target: float) -> float | None:
    """Labels at which the curve first crosses ``target``, linearly interpolated between the
    last budget below it and the first at or above it (the budgets are ``--batch`` apart, so
    ``labels_to_reach`` alone only resolves the crossing to a batch)."""
    prev = None
    for rec in curve:
        if rec["test_accuracy"] >= target:
            if prev is None or rec["test_accuracy"] == prev["test_accuracy"]:
                return float(rec["labels"])
            frac = (target - prev["test_accuracy"]) / (rec["test_accuracy"] - prev["test_accuracy"])
            return round(prev["labels"] + frac * (rec["labels"] - prev["labels"]), 1)
        prev = rec
    return None


ESTIMATE_KEYS = ("unlabeled_expected", "unlabeled_accuracy", "val_accuracy")


def _means(recs: tuple[dict[str, Any], ...], keys: tuple[str, ...]) -> dict[str, float]:
    """Per key, the mean over the records that have a value."""
    vals = {k: [r[k] for r in recs if r.get(k) is not None] for k in keys}
    return {k: round(float(np.mean(v)), 4) for k, v in vals.items() if v}


def aulc(curve: list[dict[str, Any]]) -> float:
    """Mean test accuracy over the budget range (trapezoid area / label range)."""
    xs = np.array([r["labels"] for r in curve], float)
    ys = np.array([r["test_accuracy"] for r in curve], float)
    if len(xs) < 2:
        return float(ys.mean()) if len(ys) else 0.0
    return float(np.sum((ys[1:] + ys[:-1]) / 2 * np.diff(xs)) / (xs[-1] - xs[0]))


def main() -> None:
    global OUT, CLASSES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=DATASETS, default="fashion-mnist",
                    help="opencv-digits: 4,000 pool and 1,000 test images (al_data.py)")
    ap.add_argument("--pool", type=int, help="pool size (default: 20,000 for fashion-mnist)")
    ap.add_argument("--test", type=int, help="test size (default: 5,000 for fashion-mnist)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--max-labels", type=int, default=2_000)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", type=int, default=1, help="repeat with seeds 0..S-1 and average")
    ap.add_argument("--head", default="linear", choices=("linear", "mlp"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-semi", action="store_true",
                    help="labeled rows only, no label spreading (`classkit train --no-semi`)")
    ap.add_argument("--smoothing", choices=("auto", "on", "off"), default="auto",
                    help="neighbour smoothing of predictions, as `classkit train --smoothing`")
    ap.add_argument("--graph-features", choices=("off", "auto", "on"), default="off",
                    help="the head reads graph features, as `classkit train --graph-features`")
    ap.add_argument("--cache", type=Path, help="embedding cache folder (al_data.py's default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    OUT = args.out
    data = prepare_dataset(args.dataset, args.pool, args.test, args.cache)
    X, y_pool, X_test, y_test = data["X_pool"], data["y_pool"], data["X_test"], data["y_test"]
    CLASSES = data["classes"]
    strategies = [s.strip() for s in args.strategies.split(",")]
    curves: dict[str, list[list[dict[str, Any]]]] = {s: [] for s in strategies}
    refs = []
    for seed in range(args.seeds):
        sim = Sim(X, seed, X_test)
        refs.append(reference_accuracy(sim, y_pool, X_test, y_test, args, seed))
        emit(bench="al_simulation", case="setup", seed=seed, dataset=args.dataset, pool=len(X),
             test=len(X_test),
             dim=int(X.shape[1]), clusters=sim.k, structure_s=sim.seconds,
             full_pool_accuracy=round(refs[-1], 4))
        for s in strategies:
            curves[s].append(run_strategy(sim, s, y_pool, X_test, y_test, args, seed))
    ref = float(np.mean(refs))
    target = 0.95 * ref
    summary = {}
    for s in strategies:
        # classkit train's estimate for the unlabeled images, and val accuracy, against the truth
        estimate = {str(recs[0]["labels"]): _means(recs, ESTIMATE_KEYS)
                    for recs in zip(*curves[s], strict=False)}
        mean_curve = [{"labels": recs[0]["labels"],
                       "test_accuracy": float(np.mean([r["test_accuracy"] for r in recs]))}
                      for recs in zip(*curves[s], strict=False)]
        summary[s] = {"aulc": round(aulc(mean_curve), 4),
                      "labels_to_95pct": labels_to_reach(mean_curve, target),
                      "labels_to_95pct_interp": labels_to_reach_interp(mean_curve, target),
                      "curve": {r["labels"]: round(r["test_accuracy"], 4) for r in mean_curve},
                      "estimate_vs_truth": estimate}
        emit(bench="al_simulation", case="summary", strategy=s, seeds=args.seeds,
             full_pool_accuracy=round(ref, 4), target_accuracy=round(target, 4), **summary[s])
    if "default" in summary and "random" in summary:
        d, r = summary["default"], summary["random"]
        # the default's batches drift from round numbers (audits may re-check labeled
        # items), so compare it interpolated at random's budgets within its range
        dx = np.array(sorted(d["curve"]), float)
        dy = np.array([d["curve"][b] for b in sorted(d["curve"])])
        gaps = {b: round(float(np.interp(b, dx, dy)) - acc, 4) for b, acc in r["curve"].items()
                if dx[0] <= b <= dx[-1]}
        r_need = r["labels_to_95pct"]
        d_need = d["labels_to_95pct"]
        worst = min(gaps, key=gaps.get) if gaps else None
        emit(bench="al_simulation", case="targets",
             worst_gap_vs_random=gaps[worst] if gaps else None, worst_gap_at=worst,
             never_below_random=bool(gaps) and min(gaps.values()) >= 0,
             labels_default=d_need, labels_random=r_need,
             labels_default_interp=d["labels_to_95pct_interp"],
             labels_random_interp=r["labels_to_95pct_interp"],
             random_reached=r_need is not None,
             half_of_random=(d_need is not None and (r_need is None or d_need <= 0.5 * r_need)),
             note=None if r_need is not None else f"random did not reach the target within "
                                                  f"{args.max_labels} labels: the ratio is a bound")


if __name__ == "__main__":
    main()
