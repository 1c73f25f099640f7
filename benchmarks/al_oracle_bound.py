"""How far can label choice alone go? A hindsight oracle on the AL simulation's data.

The AL target asks the default recipe to reach 95% of the full-pool head's test accuracy
with half of random's labels (on Fashion-MNIST with the default embedder random reaches it
at ~490 labels, so the recipe would need it by ~245). This script measures what is possible
at all at those budgets with the product's learner (``fit_round``, semi-supervised and
neighbour-smoothed, exactly as ``classkit train``; pool and test predictions as in
``al_simulation.py``): a greedy oracle that may look at the TRUE labels of the whole pool.

Oracle, per seed: one random image of each class, then steps of ``--step`` labels; at each
step it draws ``--tries`` candidate groups (alternately uniform over the unlabeled pool and
uniform over the images the current head gets wrong), trains a head with each, and keeps
the group whose head is most accurate on the whole pool (true labels: hindsight no real
strategy has). Random, in the same process: uniform draws at the same budgets. Both are
scored on the held-out test set. Output: JSON lines per budget, then a summary with the
labels each needs to reach the 95% target (first budget at or above it, and interpolated).

    python benchmarks/al_oracle_bound.py --seeds 2 --max-labels 300 --step 20   # ~2.5 min a seed

``--candidates recipes``: the oracle chooses among batches of the product's own recipe instead
of random groups. Each round (B = ``--step``, from no labels, as ``al_simulation.py``) it builds
the batches of ``RECIPES`` (the default recipe with three selection seeds, and other weights,
and a random batch) from the same state, labels each with the truth, trains (``fit_round``
with the out-of-fold heads the audits need) and keeps the one whose head is most accurate on
the pool: how far choosing the recipe round by round could go, with hindsight.

    python benchmarks/al_oracle_bound.py --candidates recipes --seeds 5 --max-labels 300 --step 100
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import al_simulation as sim_mod  # noqa: E402
import numpy as np  # noqa: E402
from al_data import CLASSES, DEFAULT_CACHE, prepare  # noqa: E402
from al_simulation import (Sim, emit, labels_to_reach, labels_to_reach_interp,  # noqa: E402
                           predict_sim, reference_accuracy, sim_splits)

from classkit.engine.learn.heads import HeadConfig  # noqa: E402
from classkit.engine.loop.core import fit_round  # noqa: E402
from classkit.engine.select.context import SelectionContext  # noqa: E402
from classkit.engine.select.recipe import select_batch  # noqa: E402
from classkit.engine.select.strategies import RandomStrategy  # noqa: E402


class Scorer:
    """Train the product's head on a label set; test accuracy and pool predictions."""

    def __init__(self, sim: Sim, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 seed: int) -> None:
        self.sim, self.y_pool, self.X_test, self.y_test, self.seed = sim, y_pool, X_test, y_test, seed

    def __call__(self, rows: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(test accuracy, pool accuracy, predicted class per pool row) for labels on ``rows``."""
        n = len(self.y_pool)
        y = np.full(n, -1, np.int64)
        y[rows] = self.y_pool[rows]
        split = sim_splits(y, np.full(n, -1, np.int64), self.sim.keys, self.sim.dup)
        fit = fit_round(self.sim.X, y, split, CLASSES, config=HeadConfig(kind="linear", seed=self.seed),
                        folds=0, seed=self.seed, neighbours=self.sim.neighbours, graph=self.sim.neighbours,
                        smoothing="auto")
        probs, test_probs = predict_sim(fit, self.sim, y, self.X_test)  # smoothed as classkit train
        pred, test = probs.argmax(1), test_probs.argmax(1)
        return (float((test == self.y_test).mean()), float((pred == self.y_pool).mean()), pred)


def oracle_curve(score: Scorer, y_pool: np.ndarray, args: argparse.Namespace,
                 seed: int) -> list[dict]:
    """Greedy hindsight oracle: best of ``tries`` candidate groups per step, by pool accuracy."""
    rng = np.random.default_rng(seed)
    rows = np.array([rng.choice(np.flatnonzero(y_pool == c)) for c in range(len(CLASSES))])
    _test, _pool, pred = score(rows)
    curve = []
    while len(rows) < args.max_labels:
        t0 = time.perf_counter()
        unl = np.setdiff1d(np.arange(len(y_pool)), rows)
        wrong = np.setdiff1d(np.flatnonzero(pred != y_pool), rows)
        best = None
        for g in range(args.tries):
            source = wrong if (g % 2 and len(wrong) >= args.step) else unl
            group = rng.choice(source, args.step, replace=False)
            test_acc, pool_acc, p = score(np.concatenate([rows, group]))
            if best is None or pool_acc > best[1]:
                best = (test_acc, pool_acc, p, group, "wrong" if source is wrong else "any")
        test_acc, pool_acc, pred, group, kind = best
        rows = np.concatenate([rows, group])
        rec = {"bench": "al_oracle_bound", "case": "round", "strategy": "oracle", "seed": seed,
               "labels": int(len(rows)), "test_accuracy": round(test_acc, 4),
               "pool_accuracy": round(pool_acc, 4), "group": kind,
               "step_s": round(time.perf_counter() - t0, 2)}
        emit(**rec)
        curve.append(rec)
    return curve


RECIPES: dict[str, dict[str, float] | int | None] = {
    "default": None, "default seed+1000": 1000, "default seed+2000": 2000,
    "uncertainty only": {"uncertainty": 1.0},
    "0.7 uncertainty, 0.3 diversity": {"uncertainty": 0.7, "diversity": 0.3},
    "diversity-heavy": {"uncertainty": 0.2, "diversity": 0.6, "representativeness": 0.1, "audit": 0.1},
    "representativeness-heavy": {"uncertainty": 0.3, "diversity": 0.2, "representativeness": 0.4,
                                 "audit": 0.1},
    "random": -1,
}


def recipe_batch(ctx: SelectionContext, how: dict[str, float] | int | None, budget: int) -> np.ndarray:
    """One candidate batch: ``None`` the default recipe, an int the default with the selection
    seed moved by it (-1: a random batch), a dict the recipe with those weights."""
    if how == -1:
        return np.asarray(RandomStrategy().query(ctx, ctx.unlabeled(), budget).rows, np.int64)
    if isinstance(how, int):
        return np.asarray(select_batch(dataclasses.replace(ctx, seed=ctx.seed + how), budget).rows, np.int64)
    return np.asarray(select_batch(ctx, budget, weights=how).rows, np.int64)


def recipe_oracle_curve(sim: Sim, y_pool: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                        args: argparse.Namespace, seed: int) -> list[dict]:
    """Per round, the best of the ``RECIPES`` batches by pool accuracy (true labels)."""
    n = len(y_pool)
    y, split = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    probs = fit = None
    curve: list[dict] = []
    while (y >= 0).sum() < args.max_labels:
        t0 = time.perf_counter()
        ctx = sim.context(y, probs, fit, seed + len(curve))
        best = None
        for name, how in RECIPES.items():
            rows = recipe_batch(ctx, how, args.step)
            y2 = y.copy()
            new = rows[y2[rows] == -1]
            y2[new] = y_pool[new]
            if len(np.unique(y2[y2 >= 0])) < 2:
                continue
            split2 = sim_splits(y2, split.copy(), sim.keys, sim.dup)
            fit2 = fit_round(sim.X, y2, split2, CLASSES, config=HeadConfig(kind="linear", seed=seed),
                             folds=5, seed=seed, neighbours=sim.neighbours, graph=sim.neighbours,
                             smoothing="auto")
            probs2, test_probs = predict_sim(fit2, sim, y2, X_test)
            pool_acc = float((probs2.argmax(1) == y_pool).mean())
            if best is None or pool_acc > best[0]:
                test_acc = float((test_probs.argmax(1) == y_test).mean())
                best = (pool_acc, test_acc, name, y2, split2, fit2, probs2)
        pool_acc, test_acc, name, y, split, fit, probs = best
        rec = {"bench": "al_oracle_bound", "case": "round", "strategy": "recipe oracle", "seed": seed,
               "labels": int((y >= 0).sum()), "test_accuracy": round(test_acc, 4),
               "pool_accuracy": round(pool_acc, 4), "chosen": name,
               "step_s": round(time.perf_counter() - t0, 2)}
        emit(**rec)
        curve.append(rec)
    return curve


def random_curve(score: Scorer, n: int, budgets: list[int], seed: int) -> list[dict]:
    """Uniform draws at the oracle's budgets (nested: each set extends the last)."""
    order = np.random.default_rng(seed).permutation(n)
    curve = []
    for b in budgets:
        test_acc, pool_acc, _ = score(order[:b])
        rec = {"bench": "al_oracle_bound", "case": "round", "strategy": "random", "seed": seed,
               "labels": b, "test_accuracy": round(test_acc, 4), "pool_accuracy": round(pool_acc, 4)}
        emit(**rec)
        curve.append(rec)
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--test", type=int, default=5_000)
    ap.add_argument("--max-labels", type=int, default=200)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--tries", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--candidates", choices=("groups", "recipes"), default="groups",
                    help="random groups (default) or the recipe's own batches (see above)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.head, args.smoothing = "linear", "auto"
    sim_mod.OUT = args.out
    data = prepare(args.pool, args.test, 0, args.cache)
    X, y_pool, X_test, y_test = data["X_pool"], data["y_pool"], data["X_test"], data["y_test"]
    curves: dict[str, list[list[dict]]] = {"oracle": [], "random": []}
    refs = []
    for seed in range(args.seeds):
        sim = Sim(X, seed, X_test)
        refs.append(reference_accuracy(sim, y_pool, X_test, y_test, args, seed))
        score = Scorer(sim, y_pool, X_test, y_test, seed)
        if args.candidates == "recipes":
            curves["oracle"].append(recipe_oracle_curve(sim, y_pool, X_test, y_test, args, seed))
        else:
            curves["oracle"].append(oracle_curve(score, y_pool, args, seed))
        budgets = [r["labels"] for r in curves["oracle"][-1]]
        curves["random"].append(random_curve(score, len(y_pool), budgets, seed))
    target = 0.95 * float(np.mean(refs))
    for name, runs in curves.items():
        # recipe rounds add fewer labels than their size (audits re-check labeled images):
        # seeds are averaged round by round, over the rounds every seed reached
        mean = [{"labels": round(float(np.mean([r["labels"] for r in recs])), 1),
                 "test_accuracy": float(np.mean([r["test_accuracy"] for r in recs]))}
                for recs in zip(*runs, strict=False)]
        emit(bench="al_oracle_bound", case="summary", strategy=name, seeds=args.seeds,
             full_pool_accuracy=round(float(np.mean(refs)), 4), target_accuracy=round(target, 4),
             labels_to_95pct=labels_to_reach(mean, target),
             labels_to_95pct_interp=labels_to_reach_interp(mean, target),
             curve={r["labels"]: round(r["test_accuracy"], 4) for r in mean})


if __name__ == "__main__":
    main()
