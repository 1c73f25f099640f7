"""The rounds ledger reshaped for a metrics view: one summary row per round and, per round,
the per-class table, the confusion matrix (with its class order), reliability bins and
the stop-signal values. Plain JSON-like values; no Qt, no torch.
"""
from __future__ import annotations

import json
from typing import Any

from ..learn.graphfeat import features_line
from ..learn.smooth import smoothing_line
from ..project import Project
from .ledger import list_rounds


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _calibration(metrics: dict[str, Any]) -> dict[str, Any]:
    cal = metrics.get("calibration") or {}
    before, after = cal.get("before") or {}, cal.get("after") or {}
    return {"ece_before": _num(before.get("ece")), "ece_after": _num(after.get("ece")),
            "nll_before": _num(before.get("nll")), "nll_after": _num(after.get("nll")),
            "skipped": str(cal.get("skipped") or "")}


def _classes(project: Project, rnd: dict[str, Any], split: dict[str, Any]) -> list[str]:
    """The class order of the confusion matrix: the round's predictions manifest, else the
    per-class keys (the ledger stores them sorted)."""
    per_class = list((split.get("per_class") or {}).keys())
    n = len(split.get("confusion") or [])
    path = project.version_dir("predictions", str(rnd.get("prediction_version"))) / "manifest.json"
    try:
        names = [str(c) for c in json.loads(path.read_text(encoding="utf-8")).get("classes", [])]
    except (OSError, ValueError):
        names = []
    return names if len(names) == n and set(names) == set(per_class) else per_class[:n]


ROUGH_VAL = 30  # below this many val images the expected accuracy is rough (learning-loop.md:
# 4-6 points off at 100 labels, ~20 val images; 1-2.5 from 200 labels)


def estimate_caveats(n_val: int, calibrated: bool, picked_share: float | None) -> list[str]:
    """What the accuracy expected on the images not labeled yet is (first item) and what to
    know about it, in words the CLI and the app both show."""
    why = ["their mean calibrated confidence" if calibrated else "their mean confidence"]
    if (1.0 if picked_share is None else picked_share) >= 0.5:  # most labels came from batches
        why.append("val and test images were mostly picked by active learning, which favours "
                   "hard ones, so their accuracy reads lower")
    if not calibrated:
        why.append(f"rough for now: not calibrated yet, only {n_val} val image(s)")
    elif n_val < ROUGH_VAL:
        why.append(f"rough for now: calibrated on only {n_val} val images")
    return why


def round_summary(rnd: dict[str, Any], current_train: str = "") -> dict[str, Any]:
    """One ledger row as the flat values a rounds table shows."""
    metrics = rnd.get("metrics") or {}
    val = metrics.get("val") or {}
    snap = (rnd.get("labels") or {}).get("snapshot") or {}
    settings = rnd.get("settings") or {}
    unlabeled = metrics.get("unlabeled") or {}
    val_n, picked = int(val.get("n", 0) or 0), _num(unlabeled.get("picked_share"))
    cal = _calibration(metrics)
    return {"round": int(rnd["round"]), "created_at": float(rnd.get("created_at") or 0.0),
            "labeled": int(snap.get("labeled", snap.get("total", 0)) or 0),
            "total": int(snap.get("total", 0) or 0),
            "val_n": val_n,
            "val_accuracy": _num(val.get("accuracy")),
            "macro_f1": _num((val.get("macro") or {}).get("f1")),
            "test_accuracy": _num((metrics.get("test") or {}).get("accuracy")),
            # the mean calibrated confidence on the images not labeled yet (None: older round)
            "expected_accuracy": _num(unlabeled.get("accuracy")),
            "unlabeled_n": int(unlabeled.get("images", 0) or 0),
            # share of the labels that batches picked (None: older round)
            "picked_share": picked,
            **cal,
            "expected_caveats": estimate_caveats(val_n, not cal["skipped"], picked),
            "temperature": _num(metrics.get("temperature")),
            "semi": bool(settings.get("semi")),
            # None: a round from before neighbour smoothing existed
            "smoothed": None if "smoothing" not in metrics else bool(metrics["smoothing"].get("used")),
            "smoothing": "" if "smoothing" not in metrics else smoothing_line(metrics["smoothing"]),
            # whether the head read graph features ("": a round from before they existed)
            "graph_features": "" if "features" not in metrics else features_line(metrics["features"]),
            "head": str((settings.get("head") or {}).get("kind", "")),
            "suspects": int(metrics.get("suspects", 0) or 0),
            "suggest_stop": bool((rnd.get("signals") or {}).get("suggest_stop")),
            "train_version": str(rnd.get("train_version") or ""),
            "current": bool(current_train) and rnd.get("train_version") == current_train}


def _bins(cal: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"lo": float(b.get("lo", 0.0)), "hi": float(b.get("hi", 0.0)),
             "accuracy": float(b.get("accuracy", 0.0)), "confidence": float(b.get("confidence", 0.0)),
             "count": int(b.get("count", 0))} for b in (cal or {}).get("bins") or []]


def _signals(sig: dict[str, Any]) -> dict[str, Any]:
    plateau = sig.get("val_plateau") or {}
    audit = sig.get("audit_agreement") or {}
    nov = sig.get("novelty") or {}
    return {"suggest_stop": bool(sig.get("suggest_stop")),
            "val_plateau": {"values": [float(v) for v in plateau.get("values") or []],
                            "gain": _num(plateau.get("gain")), "plateau": bool(plateau.get("plateau")),
                            "window": int(plateau.get("window", 0) or 0), "eps": _num(plateau.get("eps"))},
            "audit_agreement": {"batches": [dict(b) for b in audit.get("batches") or []],
                                "latest": _num(audit.get("latest")), "change": _num(audit.get("change")),
                                "stable": bool(audit.get("stable")),
                                "min_items": int(audit.get("min_items", 0) or 0),
                                "tol": _num(audit.get("tol"))},
            "novelty": {"values": [float(v) for v in nov.get("values") or []],
                        "ratio": _num(nov.get("ratio")),
                        "dropping": bool(nov.get("dropping")), "drop": _num(nov.get("drop"))}}


def round_details(project: Project, rnd: dict[str, Any], current_train: str = "") -> dict[str, Any]:
    """What the view shows for one round: the validation split's per-class rows and confusion
    matrix (rows = true, columns = predicted; ``row_share`` row-normalised), reliability bins
    before/after temperature scaling, and the stop signals."""
    metrics = rnd.get("metrics") or {}
    split_name = "val" if metrics.get("val") else ("test" if metrics.get("test") else "")
    split = metrics.get(split_name) or {}
    classes = _classes(project, rnd, split)
    confusion = [[int(v) for v in row] for row in split.get("confusion") or []]
    share = [[(v / sum(row)) if sum(row) else 0.0 for v in row] for row in confusion]
    per_class = split.get("per_class") or {}
    rows = [{"name": name, "precision": float(per_class[name].get("precision", 0.0)),
             "recall": float(per_class[name].get("recall", 0.0)), "f1": float(per_class[name].get("f1", 0.0)),
             "support": int(per_class[name].get("support", 0))} for name in classes if name in per_class]
    cal = metrics.get("calibration") or {}
    return {**round_summary(rnd, current_train), "split": split_name, "n": int(split.get("n", 0) or 0),
            "classes": classes, "confusion": confusion, "row_share": share, "per_class": rows,
            "macro": {k: float(v) for k, v in (split.get("macro") or {}).items()},
            "bins_before": _bins(cal.get("before") or {}), "bins_after": _bins(cal.get("after") or {}),
            "signals": _signals(rnd.get("signals") or {}),
            "labels": (rnd.get("labels") or {}).get("snapshot") or {},
            "diff": (rnd.get("labels") or {}).get("diff") or {}}


def metrics_overview(project: Project) -> dict[str, Any]:
    """Every round's summary (oldest first) and details (keyed by round number as a string),
    and the round whose model is current (0 when none is)."""
    current = project.current_artifact("train")
    current_train = current.name if current is not None else ""
    rounds = list_rounds(project)
    details = {str(r["round"]): round_details(project, r, current_train) for r in rounds}
    summaries = [round_summary(r, current_train) for r in rounds]
    now = next((s["round"] for s in summaries if s["current"]), 0)
    return {"rounds": summaries, "details": details, "current": now}
