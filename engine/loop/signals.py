"""Stop signals: values a person can judge, not just a verdict.

- ``val_plateau``: the validation macro-F1 of recent rounds; ``gain`` is the best of the
  last ``window`` rounds minus the best before them. Plateau when the gain stays under
  ``eps`` (needs ``window + 1`` rounds).
- ``audit_agreement``: per batch, the share of its random audit items whose human label
  matched the model's prediction when the batch was picked (an unbiased accuracy
  estimate on unlabeled data). Stable when the last two batches with at least
  ``min_items`` labeled audits differ by less than ``tol``.
- ``novelty``: per batch, the mean cosine distance of its picks to the labeled set at pick
  time. Dropping when the latest is under ``drop`` times the first: new batches look like
  what is already labeled.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..project import Project


def val_plateau(history: list[float | None], window: int = 3, eps: float = 0.01) -> dict[str, Any]:
    vals = [v for v in history if v is not None]
    out: dict[str, Any] = {"values": [round(v, 4) for v in vals[-(window + 3):]], "window": window,
                           "eps": eps, "gain": None, "plateau": False}
    if len(vals) > window:
        gain = max(vals[-window:]) - max(vals[:-window])
        out.update(gain=round(gain, 4), plateau=bool(gain < eps))
    return out


def _batch_audit_agreement(project: Project, batch: Any) -> tuple[int, float | None]:
    from .predictions import load_predictions

    settings = json.loads(batch["settings"])
    version = settings.get("prediction_version")
    if not version:
        return 0, None
    rows = project.db.execute(
        "SELECT b.image_id, c.label FROM batch_items b JOIN current_labels c ON c.image_id=b.image_id "
        "WHERE b.batch_id=? AND b.reason='audit:random'", (batch["id"],)).fetchall()
    if not rows:
        return 0, None
    try:
        pred = load_predictions(project, version)
    except (ClassKitError, OSError, KeyError, ValueError):  # a pruned or broken old version
        return 0, None  # only loses this signal
    ids = np.array([r[0] for r in rows], np.int64)
    pos = np.clip(np.searchsorted(pred.ids, ids), 0, len(pred.ids) - 1)
    found = pred.ids[pos] == ids
    names = np.array(pred.classes, dtype=object)[np.asarray(pred.probs[pos]).argmax(1)]
    labels = np.array([r[1] for r in rows], dtype=object)
    n = int(found.sum())
    return n, (float((names[found] == labels[found]).mean()) if n else None)


def audit_agreement(project: Project, min_items: int = 10, tol: float = 0.05) -> dict[str, Any]:
    per_batch = []
    for batch in project.db.execute("SELECT id, settings FROM batches ORDER BY id"):
        n, agree = _batch_audit_agreement(project, batch)
        if agree is not None:
            per_batch.append({"batch": int(batch["id"]), "labeled": n, "agreement": round(agree, 4)})
    solid = [b["agreement"] for b in per_batch if b["labeled"] >= min_items]
    out: dict[str, Any] = {"batches": per_batch[-5:], "latest": per_batch[-1]["agreement"] if per_batch
                           else None, "stable": False, "min_items": min_items, "tol": tol}
    if len(solid) >= 2:
        out["change"] = round(abs(solid[-1] - solid[-2]), 4)
        out["stable"] = bool(out["change"] < tol)
    return out


def novelty(project: Project, drop: float = 0.5) -> dict[str, Any]:
    vals = []
    for (comp,) in project.db.execute("SELECT composition FROM batches ORDER BY id"):
        v = json.loads(comp).get("novelty")
        if v is not None:
            vals.append(float(v))
    out: dict[str, Any] = {"values": [round(v, 4) for v in vals[-6:]], "ratio": None,
                           "dropping": False, "drop": drop}
    if len(vals) >= 2 and vals[0] > 0:
        out["ratio"] = round(vals[-1] / vals[0], 4)
        out["dropping"] = bool(vals[-1] < drop * vals[0])
    return out


def stop_signals(project: Project, val_history: list[float | None]) -> dict[str, Any]:
    """All signals; ``suggest_stop`` only when every one of them says so."""
    sig = {"val_plateau": val_plateau(val_history), "audit_agreement": audit_agreement(project),
           "novelty": novelty(project)}
    sig["suggest_stop"] = bool(sig["val_plateau"]["plateau"] and sig["audit_agreement"]["stable"]
                               and sig["novelty"]["dropping"])
    return sig
