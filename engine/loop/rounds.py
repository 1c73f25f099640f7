"""``train_round``: one round of the learning loop on a project, recorded in the ledger.

Reads the current embeddings and labels, assigns splits to newly labeled images, fits and
calibrates the head (:func:`.core.fit_round`), saves a ``train`` version (checkpoint,
metrics, calibration, out-of-fold label-error scores), predicts every embedded image into
a ``predictions`` version, computes the stop signals and appends the round to the ledger.
"""
from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ..fsutil import write_json_atomic
from ..jobs import CancelToken, ProgressFn, no_progress
from ..labels.events import fetch_pairs, label_diff, label_snapshot
from ..learn.checkpoint import save_checkpoint
from ..learn.graphfeat import forget, view_for
from ..learn.heads import HeadConfig
from ..project import Project
from .core import fit_round
from .data import LoopData, load_loop_data, neighbours_for, splits_for
from .ledger import list_rounds, record_round
from .predictions import write_predictions
from .signals import stop_signals

STAGE = "train"

# Auto mode's limit: the semi-supervised head's gain fades with many labels while its cost
# grows (benchmarks/semi_scale.py, Fashion-MNIST pool of 20k, random labels, seeds 0/1:
# test accuracy +0.8/+1.1 points at 500, +1.0/+1.0 at 2,000, +0.6/+0.6 at 5,000, +0.0/+0.3
# at 10,000, -0.1/+0.5 at 16,000; fit 15-16 s instead of 5 s at 10,000, 21 s vs 10 s at
# 16,000). Past it, rounds stay fast; `--semi` forces it on.
SEMI_AUTO_MAX_LABELED = 10_000


def _macro_f1(metrics: dict[str, Any]) -> float | None:
    val = metrics.get("val")
    return None if val is None else float(val["macro"]["f1"])


def picked_share(project: Project, data: LoopData) -> float:
    """Share of the class-labeled images that a batch chosen with a model picked: those lean
    hard, so val and test accuracy read low when most labels came that way. Cold-start
    batches (no model yet) pick for coverage, not hardness, and do not count."""
    labeled = data.ids[data.y >= 0]
    if labeled.size == 0:
        return 0.0
    warm = [int(b) for b, comp in project.db.execute("SELECT id, composition FROM batches")
            if not json.loads(comp or "{}").get("cold_start")]
    batch_ids, image_ids = fetch_pairs(project.db, "SELECT batch_id, image_id FROM batch_items")
    picked = image_ids[np.isin(batch_ids, warm)]
    return round(float(np.isin(labeled, picked).mean()), 3)


def train_round(project: Project, head: str = "linear", seed: int = 0, folds: int = 5,
                overrides: dict[str, Any] | None = None, early_stopping: bool = False,
                semi: bool | None = None, smoothing: str = "auto", features: str | None = None,
                progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> dict[str, Any]:
    """Train the next round; returns its ledger entry (round number, versions, metrics...).
    ``semi``: also learn from the unlabeled images through labels spread over the project's
    kNN graph (:mod:`..learn.semi`; measured in benchmarks/al_simulation.py); None (auto)
    does so while fewer than :data:`SEMI_AUTO_MAX_LABELED` images have a class label.
    ``smoothing``: neighbour smoothing of the predictions (:mod:`..learn.smooth`): ``auto``
    keeps it unless it makes the calibrated val NLL clearly worse; ``on`` / ``off`` force it.
    ``features``: the head learns from graph features (each image's embedding with its
    nearest neighbours' mean, :mod:`..learn.graphfeat`): ``off``, ``on``, or ``auto``,
    decided on val like smoothing; None: the project's ``graph_features`` setting (off unless
    changed). Opt-in because they help on some data and cost on other (measured in that
    module's docstring)."""
    cancel = cancel or CancelToken()
    t0 = time.perf_counter()
    data = load_loop_data(project)
    features = project.settings.graph_features if features is None else features
    split = splits_for(project, data, seed=seed)
    config = HeadConfig.from_dict({**(overrides or {}), "kind": head, "seed": seed})
    mode = "auto" if semi is None else ("on" if semi else "off")
    if semi is None:
        semi = int((data.y >= 0).sum()) < SEMI_AUTO_MAX_LABELED
    graph = neighbours_for(project, data) if semi or smoothing != "off" or features != "off" else None
    try:
        fit = fit_round(data.X, data.y, split, data.classes, config=config, folds=folds, seed=seed,
                        early_stopping=early_stopping, progress=progress, cancel=cancel,
                        neighbours=graph if semi else None, graph=graph, smoothing=smoothing,
                        features=features)
        cancel.raise_if_cancelled()
    except BaseException:
        forget()
        raise
    version, folder = project.new_version_dir(STAGE)
    meta = {"classes": data.classes, "embedding_version": data.emb.version,
            "dim": int(data.X.shape[1]), "head": config.to_dict(),
            "features": fit.features}  # the head reads graph features: predict through them
    save_checkpoint(folder / "head.pt", fit.head, fit.temperature, meta)
    if fit.oof_probs is not None:
        np.save(folder / "oof_ids.npy", data.ids[fit.labeled_rows])
        np.save(folder / "oof_probs.npy", fit.oof_probs)
        np.save(folder / "suspect_scores.npy", fit.suspect_scores)
        np.save(folder / "suspect_mask.npy", fit.suspect_mask)
    write_json_atomic(folder / "metrics.json", {"metrics": fit.metrics, "calibration": fit.calibration,
                                                "timings": fit.timings, "history": fit.head.history_})
    params = {"embedding_version": data.emb.version, "head": head, "seed": seed,
              "temperature": fit.temperature,
              "smoothed": bool(fit.smoothing is not None and fit.smoothing["used"]),
              "graph_features": bool(fit.features is not None and fit.features["used"])}
    project.register_artifact(STAGE, version, params)
    try:
        pred_version, _, pred_manifest = write_predictions(
            project, fit.head, fit.temperature, view_for(data.X, graph, fit.features), data.ids,
            data.classes, {"train_version": version, "embedding_version": data.emb.version},
            progress=progress, cancel=cancel, smoothing=fit.smoothing, graph=graph, y=data.y)
    finally:
        forget()  # the round's graph features (up to 512 MB) are not kept in a long-lived app
    previous = list_rounds(project)
    before = previous[-1]["labels"].get("snapshot", {}) if previous else {}
    snapshot = label_snapshot(project)
    history = [_macro_f1(r["metrics"]) for r in previous] + [_macro_f1(fit.metrics)]
    expected = pred_manifest["expected_accuracy"]
    if expected is not None:  # the estimate for the images not labeled yet
        fit.metrics["unlabeled"] = {**expected, "picked_share": picked_share(project, data)}
    metrics = {**fit.metrics, "temperature": fit.temperature,
               "calibration": {k: v for k, v in fit.calibration.items() if k != "after_bins"},
               "timings": fit.timings}
    signals = stop_signals(project, history)
    number = record_round(
        project, embedding_version=data.emb.version, train_version=version,
        prediction_version=pred_version,
        labels={"snapshot": snapshot, "diff": label_diff(before, snapshot)},
        settings={"head": config.to_dict(), "folds": folds, "seed": seed,
                  "early_stopping": early_stopping, "semi": semi, "semi_mode": mode,
                  "smoothing": smoothing, "features": features},
        metrics=metrics, signals=signals)
    return {"round": number,
            "train_version": version, "prediction_version": pred_version,
            "embedding_version": data.emb.version, "temperature": fit.temperature,
            "metrics": fit.metrics, "calibration": fit.calibration,
            "signals": signals,
            "seconds": round(time.perf_counter() - t0, 3)}
