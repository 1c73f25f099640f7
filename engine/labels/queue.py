"""Labeling queues: which images to show, in what order, why, and with what suggestion.

A queue comes from the latest (or a given) active-learning batch, a list of ids (the
basket), a cluster of the current clustering, a filter (label status, predicted class,
confidence range) or the current model's label-error suspects. Each item carries its
reason, the model's suggestion and its calibrated confidence when predictions exist, and
``blind`` for audit items (the suggestion is kept for bookkeeping but must not be shown).
A suspect's suggestion comes from the out-of-fold head that never saw its label (the
current model learned the label, so it mostly agrees with it).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ClassKitError
from ..project import Project
from .events import SQL_CHUNK, latest_labels

KINDS = ("batch", "ids", "cluster", "filter", "suspects")


@dataclass
class QueueItem:
    """One image to label."""

    id: int
    path: str
    reason: str = ""
    score: float | None = None
    suggestion: str | None = None
    confidence: float | None = None
    blind: bool = False
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_batch(project: Project) -> int | None:
    """The newest batch id, or None when no batch was selected yet."""
    row = project.db.execute("SELECT MAX(id) FROM batches").fetchone()
    return None if row[0] is None else int(row[0])


def suggestions_for(project: Project, ids: list[int]) -> dict[int, tuple[str, float]]:
    """Image id -> (predicted class, calibrated confidence) from the current predictions."""
    from ..loop.predictions import current_predictions

    try:
        pred = current_predictions(project)
    except ClassKitError:
        return {}
    if pred is None or len(pred.ids) == 0 or not ids:
        return {}
    want = np.asarray(ids, np.int64)
    pos = np.minimum(np.searchsorted(pred.ids, want), len(pred.ids) - 1)
    hit = pred.ids[pos] == want
    out: dict[int, tuple[str, float]] = {}
    rows = pos[hit]
    if rows.size:
        probs = np.asarray(pred.probs[np.sort(rows)], np.float32)
        by_row = dict(zip(np.sort(rows).tolist(), probs, strict=True))
        for i, r in zip(want[hit].tolist(), rows.tolist(), strict=True):
            p = by_row[r]
            out[int(i)] = (pred.classes[int(p.argmax())], round(float(p.max()), 4))
    return out


def _labels(project: Project, ids: list[int] | None = None) -> dict[int, tuple[str, float]]:
    """Image id -> (current label, when) for ``ids`` (default: every labeled image)."""
    if ids is None:
        return {int(r[0]): (r[1], float(r[2])) for r in project.db.execute(
            "SELECT image_id, label, created_at FROM current_labels")}
    return latest_labels(project, ids)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + SQL_CHUNK] for i in range(0, len(ids), SQL_CHUNK)]


def image_paths(project: Project, ids: list[int]) -> dict[int, str]:
    """Stored path of each of ``ids`` (as ingested, relative to the project where inside it),
    read by id: a batch's few hundred rows cost milliseconds in a project of any size."""
    out: dict[int, str] = {}
    for part in _chunks(ids):
        out.update((int(r[0]), r[1]) for r in project.db.execute(
            f"SELECT id, path FROM images WHERE id IN ({','.join('?' * len(part))})", part))
    return out


def _batch_rows(project: Project, batch: int | None) -> list[tuple[int, str, float | None, bool]]:
    if batch is None:
        batch = latest_batch(project)
        if batch is None:
            raise ClassKitError("no active-learning batch yet: train, then select a batch")
    head = project.db.execute("SELECT created_at FROM batches WHERE id=?", (batch,)).fetchone()
    if head is None:
        raise ClassKitError(f"no batch {batch}")
    items = project.db.execute("SELECT image_id, reason, score FROM batch_items WHERE batch_id=? "
                               "ORDER BY rank", (batch,)).fetchall()
    labels = _labels(project, [int(r[0]) for r in items])
    out = []
    for image_id, reason, score in items:
        audit = str(reason).startswith("audit")
        lab = labels.get(int(image_id))
        if lab is not None and lab[1] >= float(head[0]) and not audit:
            continue  # labeled since the batch was picked
        out.append((int(image_id), str(reason), score, audit))
    return out


def _cluster_ids(project: Project, cluster: int) -> list[int]:
    from ..similarity.clusters import Clustering

    folder = project.current_artifact("clusters")
    if folder is None:
        raise ClassKitError("this project has no clusters yet")
    cl = Clustering.load(Path(folder))
    return [int(i) for i in cl.ids[cl.assign == int(cluster)]]


def _filter_ids(project: Project, spec: dict[str, Any],
                sugg: dict[int, tuple[str, float]]) -> list[int]:
    status = spec.get("status", "unlabeled")
    labels = _labels(project)
    ids = [int(r[0]) for r in project.db.execute(
        "SELECT id FROM images WHERE duplicate_of IS NULL ORDER BY id")]
    if status == "unlabeled":
        ids = [i for i in ids if i not in labels]
    elif status == "labeled":
        ids = [i for i in ids if i in labels]
    pred_cls = spec.get("predicted")
    lo, hi = spec.get("min_confidence"), spec.get("max_confidence")
    if pred_cls or lo is not None or hi is not None:
        out = []
        for i in ids:
            s = sugg.get(i)
            if s is None or (pred_cls and s[0].lower() != str(pred_cls).lower()):
                continue
            if (lo is not None and s[1] < float(lo)) or (hi is not None and s[1] > float(hi)):
                continue
            out.append(i)
        ids = out
    return ids


def _train_classes(project: Project, version: str, folder: Path) -> list[str]:
    """Class names in the column order of a train version's probabilities: from its round's
    predictions manifest (no torch import), else from the checkpoint."""
    from ..loop.predictions import load_predictions

    row = project.db.execute("SELECT prediction_version FROM rounds WHERE train_version=? "
                             "ORDER BY id DESC LIMIT 1", (version,)).fetchone()
    if row is not None and row[0]:
        try:
            return [str(c) for c in load_predictions(project, row[0]).classes]
        except (ClassKitError, OSError, ValueError, KeyError):
            pass
    from ..learn.checkpoint import load_checkpoint

    return [str(c) for c in load_checkpoint(folder / "head.pt")[2].get("classes", [])]


def suspect_rows(project: Project) -> tuple[list[tuple[int, str, float | None, bool]],
                                            dict[int, tuple[str, float]]]:
    """The current model's label-error suspects, most suspect first, leaving out those whose
    label was given again (re-checked or changed) since that model was trained; and per
    suspect the out-of-fold suggestion (class, probability)."""
    row = project.db.execute("SELECT version, path, created_at FROM artifacts "
                             "WHERE stage='train' AND is_current=1").fetchone()
    if row is None:
        raise ClassKitError("no trained model yet: run `classkit train` (or Train now in the app)")
    folder = project.paths.resolve(row["path"])
    try:
        ids = np.load(folder / "oof_ids.npy")
        probs = np.load(folder / "oof_probs.npy")
        scores = np.load(folder / "suspect_scores.npy")
        mask = np.load(folder / "suspect_mask.npy")
    except FileNotFoundError:
        raise ClassKitError("the current model has no label-error check: it was trained with "
                            "--folds 0 or on fewer than 20 labels") from None
    except (OSError, ValueError) as exc:
        raise ClassKitError(f"cannot read the label-error check of model {row['version']}: {exc}") from exc
    classes = _train_classes(project, str(row["version"]), folder)
    picked = np.flatnonzero(mask)
    picked = picked[np.lexsort((ids[picked], -scores[picked]))]
    labels = _labels(project, [int(i) for i in ids[picked]])
    rows, sugg = [], {}
    for k in picked:
        image_id, lab = int(ids[k]), labels.get(int(ids[k]))
        if lab is None or lab[1] >= float(row["created_at"]):
            continue  # unlabeled since, or labeled again after this model was trained
        c = int(np.argmax(probs[k]))
        rows.append((image_id, "suspect label", float(scores[k]), False))
        if c < len(classes):
            sugg[image_id] = (classes[c], round(float(probs[k, c]), 6))
    return rows, sugg


def build_queue(project: Project, kind: str, arg: Any = None) -> list[QueueItem]:
    """The ordered items of a queue (see the module doc for ``kind``/``arg``)."""
    if kind not in KINDS:
        raise ClassKitError(f"unknown queue kind {kind!r} (one of {', '.join(KINDS)})")
    rows: list[tuple[int, str, float | None, bool]]
    sugg: dict[int, tuple[str, float]] | None = None
    if kind == "batch":
        rows = _batch_rows(project, None if arg in (None, "", -1) else int(arg))
    elif kind == "ids":
        rows = [(int(i), "basket", None, False) for i in dict.fromkeys(arg or [])]
    elif kind == "cluster":
        rows = [(i, f"cluster {int(arg)}", None, False) for i in _cluster_ids(project, int(arg))]
    elif kind == "suspects":
        rows, sugg = suspect_rows(project)
    else:
        spec = dict(arg or {})
        sugg = suggestions_for(project, [int(r[0]) for r in project.db.execute("SELECT id FROM images")])
        rows = [(i, "filter", None, False) for i in _filter_ids(project, spec, sugg)]
    ids = [r[0] for r in rows]
    if sugg is None:
        sugg = suggestions_for(project, ids)
    paths = image_paths(project, ids)
    labels = _labels(project, ids)
    out = []
    for image_id, reason, score, blind in rows:
        if image_id not in paths:
            continue
        s = sugg.get(image_id)
        lab = labels.get(image_id)
        out.append(QueueItem(image_id, str(project.paths.resolve(paths[image_id])), reason,
                             None if score is None else round(float(score), 6),
                             s[0] if s else None, s[1] if s else None, blind,
                             lab[0] if lab else None))
    return out
