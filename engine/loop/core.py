"""One learning round on arrays: fit a head, calibrate it, score it, find label suspects.

The project layer (:mod:`.rounds`) and the AL simulation (benchmarks/al_simulation.py) both
call :func:`fit_round`, so what the benchmark measures is what users run.

Splits: 0 train, 1 val, 2 test (-1 none). A head trained on train is scored on val and its
temperature fitted there (optionally it also early-stops on val); the final head is then
trained on train + val with the same settings and keeps that temperature; test rows, when
there are any, score the final head. With fewer than ``MIN_VAL`` labeled val rows there is
no honest temperature: the head trains on train + val and the temperature stays 1.0
(reported).

Semi-supervised (``neighbours``: each row's kNN-graph neighbours and similarities; the
default of ``classkit train``): each head above is trained twice - first on the labeled
rows, then, with that head's calibrated probabilities combined with labels spread over the
graph, on the labeled rows plus weighted pseudo-labeled unlabeled rows
(:mod:`..learn.semi`); the second one is kept, calibrated and scored on val. Without an
honest val set there is no calibrated head yet, and the spread labels alone are used.
``metrics["semi"]``: pseudo-labeled rows, the prior used, the plain head's val accuracy.

Neighbour smoothing (``graph``: the same kind of neighbours; :mod:`..learn.smooth`): the
train-only head's val predictions are smoothed with a neighbour vote built from the train
labels, a second temperature is fitted on them, and ``smoothing`` decides (``auto``: unless
the calibrated val NLL is clearly worse; without a val set, at temperature 1 + beta: the
geometric mean of head and vote). ``RoundFit.smoothing`` holds the decision; test metrics
then score the smoothed predictions (vote from train + val labels), and
:func:`..loop.predictions.write_predictions` applies it to every image.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..learn import graphfeat
from ..learn.calibration import calibrate, calibration_report, softmax
from ..learn.heads import Head, HeadConfig, feature_stats, float32_rows, predict_proba
from ..learn.metrics import classification_metrics
from ..learn.oof import label_error_scores, out_of_fold_proba
from ..learn.semi import pseudo_labels, spreading_matrix
from ..learn.smooth import apply, decide, reference_probs, vote_for, without_val

MIN_VAL = 10  # labeled val rows needed for early stopping and temperature scaling
MIN_OOF = 20  # labeled rows needed for out-of-fold label-error suspects


@dataclass
class RoundFit:
    """A fitted round: the head, its temperature and every number the ledger keeps."""

    head: Head
    temperature: float
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    labeled_rows: np.ndarray           # rows (into X) with a class label, sorted
    oof_probs: np.ndarray | None = None  # aligned with labeled_rows
    suspect_scores: np.ndarray | None = None
    suspect_mask: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    smoothing: dict[str, Any] | None = None  # learn.smooth.decide's result (``used``...)
    features: dict[str, Any] | None = None   # learn.graphfeat.decide's result (``used``...)


def _rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return float32_rows(X[rows])


def fit_round(X: np.ndarray, y: np.ndarray, split: np.ndarray, class_names: list[str],
              config: HeadConfig | None = None, folds: int = 5, seed: int = 0,
              refit: bool = True, early_stopping: bool = False, progress: ProgressFn = no_progress,
              cancel: CancelToken | None = None,
              neighbours: tuple[np.ndarray, np.ndarray] | None = None,
              graph: tuple[np.ndarray, np.ndarray] | None = None,
              smoothing: str = "auto", features: str = "off") -> RoundFit:
    """Train, calibrate and evaluate a head on the labeled rows of ``X``.

    ``y``: class index per row, negative = no class label (only -1, unlabeled, may be
    pseudo-labeled; -2 unsure/junk/skip never). ``split``: 0/1/2 per row.
    ``folds`` > 1 also computes out-of-fold probabilities on the labeled rows (for
    label-error suspects); 0 skips it. The head trained on train is scored and its
    temperature fitted on val; ``early_stopping`` also stops it on val loss (off by default:
    measured worse on small, actively-picked val sets). ``refit``: the final head is then
    trained on train + val with the same settings and keeps that temperature.
    ``neighbours`` (rows, similarities), aligned with ``X``: semi-supervised heads (see the
    module docstring); None trains on the labeled rows only. ``graph`` (same form):
    neighbour smoothing of the predictions, ``smoothing`` auto/on/off, and graph features
    for the head, ``features`` off (the default: see :mod:`..learn.graphfeat` for why) / auto /
    on (module docstring)."""
    cancel = cancel or CancelToken()
    config = config or HeadConfig(seed=seed)
    y = np.asarray(y, np.int64)
    split = np.asarray(split, np.int64)
    if y.shape != (X.shape[0],) or split.shape != y.shape:
        raise ClassKitError("labels and splits must have one entry per embedding row")
    n_classes = len(class_names)
    labeled = np.flatnonzero(y >= 0)
    if len(np.unique(y[labeled])) < 2:
        raise ClassKitError("training needs labels of at least two classes "
                            f"(labeled now: {len(labeled)} image(s))")
    tr, va, te = (labeled[split[labeled] == s] for s in (0, 1, 2))
    unsplit = labeled[split[labeled] < 0]
    tr = np.sort(np.concatenate([tr, unsplit]))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    use_val = len(va) >= MIN_VAL and len(np.unique(y[va])) >= 2
    fit_rows = tr if use_val else np.sort(np.concatenate([tr, va]))
    S = None
    if neighbours is not None:
        t1 = time.perf_counter()
        S = spreading_matrix(*neighbours)
        if S.shape[0] != X.shape[0]:
            raise ClassKitError("neighbours must have one row per embedding row")
        timings["graph_s"] = round(time.perf_counter() - t1, 3)
    unlabeled = np.flatnonzero(y == -1)  # unsure/junk/skip (-2) are never pseudo-labeled
    semi = S is not None and unlabeled.size > 0
    semi_info: dict[str, Any] = {}
    smooth_info: dict[str, Any] | None = None
    if graph is not None:
        if len(graph[0]) != X.shape[0]:
            raise ClassKitError("graph must have one row per embedding row")
        if not use_val and smoothing != "off":  # no val to decide on: head x vote, mean-tempered
            smooth_info = without_val(smoothing, f"fewer than {MIN_VAL} labeled val images")

    def _reference(h: Head, t: float, known: np.ndarray) -> Any:
        """ref(rows) for learn.smooth.vote_for: labels of ``known`` rows, ``h`` elsewhere."""
        known_mask = np.zeros(len(y), bool)
        known_mask[known] = True
        return lambda rows: reference_probs(predict_proba(h, _rows(X, rows), t), y[rows],
                                            known_mask[rows])

    def plain_head(rows: np.ndarray, stop: tuple = (None, None)) -> Head:
        return Head(config).fit(_rows(X, rows), y[rows], *stop, n_classes=n_classes,
                                progress=progress, cancel=cancel, feature_stats=stats)

    def semi_head(rows: np.ndarray, prior: Head | None, t: float, stop: tuple = (None, None)) -> Head:
        fn = None if prior is None else (lambda r: predict_proba(prior, _rows(X, r), t))
        p_rows, p_y, p_w = pseudo_labels(S, rows, y[rows], n_classes, unlabeled, prior=fn, seed=seed)
        both = np.concatenate([rows, p_rows])
        semi_info.update(pseudo_rows=int(len(p_rows)), prior="head" if prior is not None else "none")
        return Head(config).fit(_rows(X, both), np.concatenate([y[rows], p_y]), *stop,
                                n_classes=n_classes, progress=progress, cancel=cancel,
                                sample_weight=np.concatenate([np.ones(len(rows)), p_w]),
                                feature_stats=stats)

    t1 = time.perf_counter()
    head, X, stats, stop_on, feat_info = _choose_features(
        X, graph, features, use_val, fit_rows, va, y, early_stopping, seed,
        lambda Xf, st, stop: Head(config).fit(_rows(Xf, fit_rows), y[fit_rows], *stop, n_classes=n_classes,
                                               progress=progress, cancel=cancel, feature_stats=st))
    timings["first_head_s"] = round(time.perf_counter() - t1, 3)  # with the graph-features decision
    if semi and not use_val:  # no calibrated head yet: the spread labels alone
        head = semi_head(fit_rows, None, 1.0, stop_on)
    timings["train_s"] = round(time.perf_counter() - t0, 3)
    metrics: dict[str, Any] = {"n_train": int(len(tr)), "n_val": int(len(va)), "fit_rows": int(len(fit_rows)),
                               "n_test": int(len(te)), "epochs": int(head.epochs_),
                               "best_epoch": int(head.best_epoch_),
                               "early_stopping": bool(stop_on[0] is not None)}
    plain_t = 1.0
    if use_val:
        val_logits = head.logits(_rows(X, va))
        calib = calibrate(val_logits, y[va])
        if semi:
            t1 = time.perf_counter()
            plain_t = float(calib["temperature"])
            semi_info["plain_val_accuracy"] = round(float((val_logits.argmax(1) == y[va]).mean()), 6)
            head = semi_head(fit_rows, head, plain_t, stop_on)
            val_logits = head.logits(_rows(X, va))
            calib = calibrate(val_logits, y[va])
            timings["semi_s"] = round(time.perf_counter() - t1, 3)
        temperature = float(calib["temperature"])
        val_probs = softmax(val_logits, temperature)
        if graph is not None and smoothing != "off":
            t1 = time.perf_counter()
            vote = vote_for(va, *graph, ref=_reference(head, temperature, tr))
            smooth_info = decide(val_probs, vote, y[va], smoothing)
            if smooth_info["used"]:
                val_probs = apply(val_probs, vote, smooth_info)
            timings["smooth_s"] = round(time.perf_counter() - t1, 3)
        metrics["val"] = classification_metrics(y[va], val_probs.argmax(1), class_names)
    else:
        temperature = 1.0
        calib = {"temperature": 1.0, "skipped": f"fewer than {MIN_VAL} labeled val images"}
    if use_val and refit:
        # The final head learns from train + val with the same recipe, keeping the
        # temperature and the val metrics of the train-only head (an honest estimate).
        # Measured in benchmarks/al_simulation.py: holding val out of the final head, or
        # stopping on a small actively-picked val set, cost 2-4 points of test accuracy.
        t1 = time.perf_counter()
        both = np.sort(np.concatenate([tr, va]))
        head = plain_head(both)
        if semi:  # the plain final head, with the train-only head's temperature, is the prior
            head = semi_head(both, head, plain_t)
        timings["refit_s"] = round(time.perf_counter() - t1, 3)
        metrics["final_rows"] = int(len(both))
    if semi:
        metrics["semi"] = semi_info
    if smooth_info is not None:
        metrics["smoothing"] = smooth_info
    if feat_info is not None:
        metrics["features"] = feat_info
    if len(te):
        te_probs = predict_proba(head, _rows(X, te), temperature)
        if smooth_info is not None and smooth_info["used"]:
            vote = vote_for(te, *graph, ref=_reference(head, temperature, np.sort(np.concatenate([tr, va]))))
            te_probs = apply(te_probs, vote, smooth_info)
        metrics["test"] = classification_metrics(y[te], te_probs.argmax(1), class_names)
        calib["test_after"] = calibration_report(te_probs, y[te])
    cancel.raise_if_cancelled()
    fit = RoundFit(head, temperature, metrics, calib, labeled, timings=timings, smoothing=smooth_info,
                   features=feat_info)
    # Every label is checked, test ones too (a wrong test label corrupts the metrics): the
    # fold heads only find suspects, so test labels still never reach the model.
    if folds > 1 and len(labeled) >= MIN_OOF:
        t1 = time.perf_counter()
        fast = HeadConfig.from_dict({**config.to_dict(), "seed": seed})
        oof = out_of_fold_proba(_rows(X, labeled), y[labeled], n_classes, fast, folds=folds,
                                seed=seed, temperature=temperature, progress=progress, cancel=cancel,
                                feature_stats=stats)
        scores, mask = label_error_scores(oof, y[labeled])
        fit.oof_probs = oof
        fit.suspect_scores, fit.suspect_mask = scores, mask
        timings["oof_s"] = round(time.perf_counter() - t1, 3)
        metrics["suspects"] = int(mask.sum())
    return fit


def _choose_features(X: Any, graph: tuple[np.ndarray, np.ndarray] | None, mode: str, use_val: bool,
                     fit_rows: np.ndarray, va: np.ndarray, y: np.ndarray, early_stopping: bool,
                     seed: int, fit: Any) -> tuple[Head, Any, Any, tuple, dict[str, Any] | None]:
    """The first (train-only, labeled rows only) head, on the embeddings or on graph
    features (:mod:`..learn.graphfeat`), whichever the round keeps. With a val set and
    ``mode`` auto both are fitted and compared on val. ``fit(X, stats, stop)`` trains one.
    Returns that head, the features every later head uses, their whole-project statistics,
    the early-stopping pair and the decision (None without a graph)."""
    options: dict[str, Any] = {"plain": X}
    info = None
    if graph is not None and mode != "off":
        gf = graphfeat.view(X, *graph)
        if not use_val:
            info = graphfeat.without_val(mode, f"fewer than {MIN_VAL} labeled val images")
        elif mode == "on":
            info = {"used": True, **graphfeat.settings(mode)}
        options = {"graph": gf} if info is not None else {**options, "graph": gf}
    fitted = {}
    for name, Xf in options.items():
        stats = feature_stats(Xf, seed=seed)  # every head standardises as the whole project
        stop = (_rows(Xf, va), y[va]) if use_val and early_stopping else (None, None)
        fitted[name] = (fit(Xf, stats, stop), Xf, stats, stop)
    if len(fitted) == 2:  # auto with a val set: compare the two calibrated heads there
        z = {name: f[0].logits(_rows(f[1], va)) for name, f in fitted.items()}
        t = {name: float(calibrate(z[name], y[va])["temperature"]) for name in z}
        info = graphfeat.decide(z["plain"], z["graph"], y[va], t["plain"], t["graph"], mode)
    head, Xf, stats, stop = fitted["graph" if info is not None and info["used"] else "plain"]
    return head, Xf, stats, stop, info
