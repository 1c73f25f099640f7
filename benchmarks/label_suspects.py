"""Label-error suspects: how many flagged labels are really wrong, and how many wrong ones are found.

The AL simulation's loop (``al_simulation.py``: Fashion-MNIST pool, rounds of 100 picked by a
strategy, a perfect labeler) runs to ``--max-labels``; from ``--min-labels`` on, each round's
labels get a noisy copy (a fraction ``--noise`` flipped to another class at random, drawn per
round), a round is trained on it as ``classkit train`` trains it (``fit_round``: out-of-fold
heads on the labeled rows), and the suspect rules are scored against the flips, side by side
in one process:

  shipped          ``learn.oof.label_error_scores`` (confident learning, and the label's
                   out-of-fold probability below ``MAX_LABEL_PROB``)
  confident        the confident-learning rule alone (the rule before; cleanlab's
                   per-class thresholds)
  label_prob<T     the confident-learning rule and the label's probability below T

Output: JSON lines per round (labels, flipped, and per rule: flagged, truly flipped, and how
many of the clean labels it flags), then per strategy and rule the precision, recall and the
share of clean labels flagged over all rounds.

    python benchmarks/label_suspects.py --seeds 3 --strategies default,random
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from al_data import CLASSES, DEFAULT_CACHE, prepare  # noqa: E402
from al_simulation import Sim, pick, predict_sim, sim_splits  # noqa: E402

from classkit.engine.learn.heads import HeadConfig  # noqa: E402
from classkit.engine.learn.oof import label_error_scores  # noqa: E402
from classkit.engine.loop.core import fit_round  # noqa: E402

THRESHOLDS = (0.01, 0.03, 0.1, 0.2)


def rules(oof: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Suspect mask per rule for out-of-fold probabilities ``oof`` of labels ``y``."""
    _, shipped = label_error_scores(oof, y)
    _, confident = label_error_scores(oof, y, max_label_prob=np.inf)
    p_label = oof[np.arange(len(y)), y]
    out = {"shipped": shipped, "confident": confident}
    out.update({f"label_prob<{t}": confident & (p_label < t) for t in THRESHOLDS})
    return out


def fit(sim: Sim, y: np.ndarray, split: np.ndarray, seed: int, graph: bool) -> Any:
    return fit_round(sim.X, y, split, CLASSES, config=HeadConfig(seed=seed), folds=5, seed=seed,
                     neighbours=sim.neighbours, graph=sim.neighbours if graph else None,
                     smoothing="auto" if graph else "off")


def run(sim: Sim, strategy: str, y_pool: np.ndarray, X_test: np.ndarray, args: argparse.Namespace,
        seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1000 + seed)
    y = np.full(len(y_pool), -1, np.int64)
    split = np.full(len(y_pool), -1, np.int64)
    probs = result = None
    out, round_no = [], 0
    while (y >= 0).sum() < args.max_labels:
        ctx = sim.context(y, probs, result, seed + round_no)
        rows = pick(strategy, ctx, args.batch, round_no)
        new = rows[y[rows] == -1]
        y[new] = y_pool[new]
        split = sim_splits(y, split, sim.keys, sim.dup)
        round_no += 1
        if len(np.unique(y[y >= 0])) < 2:
            continue
        result = fit(sim, y, split, seed, graph=True)  # the loop itself runs on clean labels
        probs, _ = predict_sim(result, sim, y, X_test)
        n = int((y >= 0).sum())
        if n < args.min_labels:
            continue
        labeled = np.flatnonzero(y >= 0)
        noisy = y.copy()
        flip = rng.random(labeled.size) < args.noise
        noisy[labeled[flip]] = (y[labeled[flip]] + rng.integers(1, len(CLASSES), int(flip.sum()))) \
            % len(CLASSES)
        bad = fit(sim, noisy, split, seed, graph=False)
        wrong = noisy[bad.labeled_rows] != y_pool[bad.labeled_rows]
        clean = rules(result.oof_probs, y[result.labeled_rows])
        rec = {"bench": "label_suspects", "case": "round", "strategy": strategy, "seed": seed,
               "labels": n, "flipped": int(wrong.sum())}
        for name, mask in rules(bad.oof_probs, noisy[bad.labeled_rows]).items():
            rec[name] = {"flagged": int(mask.sum()), "wrong": int((mask & wrong).sum()),
                         "flagged_clean_labels": int(clean[name].sum())}
        print(json.dumps(rec), flush=True)
        out.append(rec)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default="default,random")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--min-labels", type=int, default=190)
    ap.add_argument("--max-labels", type=int, default=700)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    data = prepare(cache=args.cache)
    X, y_pool, X_test = data["X_pool"], data["y_pool"], data["X_test"]
    recs: dict[str, list[dict[str, Any]]] = {s: [] for s in args.strategies.split(",")}
    for seed in range(args.seeds):
        sim = Sim(X, seed, X_test)
        for s in recs:
            recs[s] += run(sim, s, y_pool, X_test, args, seed)
    for s, rows in recs.items():
        if not rows:
            continue
        flipped = sum(r["flipped"] for r in rows)
        labels = sum(r["labels"] for r in rows)
        for name in rows[0]:
            if not isinstance(rows[0][name], dict):
                continue
            flagged = sum(r[name]["flagged"] for r in rows)
            hit = sum(r[name]["wrong"] for r in rows)
            print(json.dumps({"bench": "label_suspects", "case": "summary", "strategy": s, "rule": name,
                              "rounds": len(rows), "noise": args.noise, "flagged": flagged,
                              "precision": round(hit / max(flagged, 1), 3),
                              "recall": round(hit / max(flipped, 1), 3),
                              "clean_labels_flagged_share": round(
                                  sum(r[name]["flagged_clean_labels"] for r in rows) / labels, 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
