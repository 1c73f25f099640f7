"""Rows for browsing the over-clusters ("visual modes") of a project (no Qt).

One row per non-empty cluster: size, labeled count, unlabeled share, label purity and
majority, and, when the current predictions cover the clustered images, how often the
model disagrees with the human labels (``disagreement``) and how split the model sees the
cluster (``pred_mixing``). ``thumbs`` are the most typical members (closest to the
centroid, medoid first), read from the saved clustering: no similarity is recomputed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..labels.events import align, label_arrays
from ..project import Project
from .clusters import Clustering, refresh_stats

SORT_KEYS = ("size", "unlabeled", "purity", "disagreement")
IMPURE_BELOW = 0.8  # purity under this marks a cluster as mixed


def _num(value: Any) -> float | None:
    v = float(value)
    return None if np.isnan(v) else round(v, 4)


def _predicted_codes(project: Project, ids: np.ndarray, names: list[str]) -> np.ndarray | None:
    """Predicted class code (index in ``names``, -1 unknown) per id; None without predictions."""
    from ..loop.predictions import current_predictions  # no torch: reads arrays only

    pred = current_predictions(project)
    if pred is None or len(pred.ids) == 0:
        return None
    pos = align(ids, np.asarray(pred.ids, np.int64), np.arange(len(pred.ids), dtype=np.int64), -1)
    hit = pos >= 0
    if not hit.any():
        return None
    code = {n: i for i, n in enumerate(names)}
    remap = np.array([code.get(c, -1) for c in pred.classes], np.int64)
    out = np.full(len(ids), -1, np.int64)
    out[hit] = remap[np.asarray(pred.probs[pos[hit]]).argmax(1)]
    return out


def cluster_rows(project: Project, n_thumbs: int = 5) -> list[dict[str, Any]]:
    """Per-cluster rows of the current clustering with label and prediction stats refreshed.

    Keys: cluster, size, labeled, unlabeled, unlabeledShare, purity (None without labels),
    majority (class name or None), disagreement and predMixing (None without predictions),
    density, thumbs (image ids, most typical first). Raises ClassKitError without clusters.
    """
    folder = project.current_artifact("clusters")
    if folder is None:
        raise ClassKitError("this project has no clusters yet: run Pipeline ▸ Cluster")
    cl = Clustering.load(Path(folder))
    ids = np.asarray(cl.ids, np.int64)
    names = [c.name for c in project.classes()]
    labels = label_arrays(project, ids, names)  # -1 unlabeled, -2 marked: both unlabeled here
    k = int(cl.centroids.shape[0])
    ls = refresh_stats(cl.assign, labels, _predicted_codes(project, ids, names), n_clusters=k)
    size = np.bincount(np.asarray(cl.assign, np.int64), minlength=k)
    st = cl.stats
    rows = []
    for c in range(k):
        n = int(size[c])
        if n == 0:
            continue
        if st is not None:
            thumbs = [int(ids[r]) for r in st.prototypes[c][:n_thumbs] if r >= 0]
        else:
            thumbs = [int(i) for i in ids[np.flatnonzero(cl.assign == c)[:n_thumbs]]]
        labeled = int(ls.n_labeled[c])
        rows.append({
            "cluster": c, "size": n, "labeled": labeled, "unlabeled": n - labeled,
            "unlabeledShare": round((n - labeled) / n, 4),
            "purity": _num(ls.purity[c]),
            "majority": names[ls.majority[c]] if ls.majority[c] >= 0 else None,
            "disagreement": _num(ls.disagreement[c]), "predMixing": _num(ls.pred_mixing[c]),
            "density": _num(st.density[c]) if st is not None else None,
            "thumbs": thumbs})
    return rows


def sort_rows(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows in the order a user looking for work wants for ``key`` (ties: larger first).

    size: largest first; unlabeled: highest unlabeled share first; purity: least pure
    first (clusters without labels last); disagreement: most disagreement first (missing
    values last, then by model split)."""
    if key not in SORT_KEYS:
        raise ClassKitError(f"unknown sort key {key!r}: use one of {', '.join(SORT_KEYS)}")

    def missing_last(v: float | None, descending: bool) -> tuple[int, float]:
        return (1, 0.0) if v is None else (0, -v if descending else v)

    if key == "size":
        return sorted(rows, key=lambda r: (-r["size"], r["cluster"]))
    if key == "unlabeled":
        return sorted(rows, key=lambda r: (-r["unlabeledShare"], -r["size"], r["cluster"]))
    if key == "purity":
        return sorted(rows, key=lambda r: (*missing_last(r["purity"], False), -r["size"], r["cluster"]))
    return sorted(rows, key=lambda r: (*missing_last(r["disagreement"], True),
                                       *missing_last(r["predMixing"], True), -r["size"], r["cluster"]))


def summarize(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts for a header line: clusters, without any label, impure (labeled purity under
    ``IMPURE_BELOW``), and where the model disagrees with some label."""
    return {
        "clusters": len(rows),
        "unlabeled": sum(r["labeled"] == 0 for r in rows),
        "impure": sum(r["purity"] is not None and r["purity"] < IMPURE_BELOW for r in rows),
        "disagreeing": sum(bool(r["disagreement"]) for r in rows)}
