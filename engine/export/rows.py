"""One row per exported image, read from a project at a label snapshot.

A *label snapshot position* is a ``label_events`` id: the labels as of event N are, per
image, its latest event with id <= N (a NULL label there means cleared). Exporting the
same position again gives the same rows even after more labeling. Rows are ordered by
image id. Alongside the label: the project split, the round it was labeled in, the
current prediction (class and calibrated confidence), the over-cluster and the
near-duplicate group, where those artifacts exist (nothing heavy is computed here).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RESERVED_LABELS
from ..errors import ClassKitError
from ..labels.events import align, class_lookup, fetch_pairs
from ..labels.splits import SPLITS, assign_splits, load_splits
from ..project import Project

log = logging.getLogger(__name__)

STATUSES = (*RESERVED_LABELS, "unlabeled")
"""Label statuses an export can add to the class labels (none by default)."""
COLUMNS = ("id", "original_path", "exported_path", "content_hash", "label", "label_source", "split",
           "round", "predicted", "confidence", "cluster", "dup_group", "duplicate_of")
"""Table columns, in order (CSV header, Parquet schema, ``index.csv`` of tree exports)."""
PREDICTED = "predicted"


@dataclass(frozen=True)
class ExportOptions:
    """What goes out and how. ``include``: extra statuses (unsure, junk, skip, unlabeled);
    ``include_predicted``: give unlabeled images their predicted class when the calibrated
    confidence is at least this; ``snapshot``: label event id (None = now)."""

    include: tuple[str, ...] = ()
    include_predicted: float | None = None
    snapshot: int | None = None
    split_seed: int = 0
    link: str = "copy"
    skip_missing: bool = False
    allow_empty_splits: bool = False
    upright: bool = False  # tree formats, copy: write EXIF-oriented photos upright (orient.py)

    def to_dict(self) -> dict[str, Any]:
        return {"include": sorted(set(self.include)), "include_predicted": self.include_predicted,
                "split_seed": self.split_seed, "link": self.link, "skip_missing": self.skip_missing,
                "allow_empty_splits": self.allow_empty_splits, "upright": self.upright}


@dataclass
class ExportRows:
    """Column lists (see :data:`COLUMNS`) plus the snapshot and artifact versions used."""

    columns: dict[str, list[Any]]
    snapshot: int
    versions: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["id"])

    def take(self, keep: list[int]) -> ExportRows:
        """The rows at positions ``keep`` (in that order)."""
        cols = {k: [v[i] for i in keep] for k, v in self.columns.items()}
        return ExportRows(cols, self.snapshot, self.versions)


def snapshot_position(project: Project, snapshot: int | None) -> int:
    """The label event id to export from: ``snapshot`` checked, or the latest one."""
    latest = int(project.db.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0])
    if snapshot is None:
        return latest
    if isinstance(snapshot, bool) or not isinstance(snapshot, int) or not 0 <= snapshot <= latest:
        raise ClassKitError(f"label snapshot {snapshot!r} does not exist: positions are label event "
                            f"ids from 0 to {latest} (the latest)")
    return snapshot


def _dedup_groups(emb_path: Any, threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Near-duplicate groups when the current embeddings already have a kNN graph, else None."""
    folder = None if emb_path is None else emb_path / "graph"
    if folder is None or not (folder / "graph.json").is_file():
        return None
    from ..similarity.dedup import cache_name, near_duplicate_groups
    from ..similarity.graph import KnnGraph

    graph = KnnGraph.load(folder, mmap=True)  # as cached: never rebuilt from an export
    cached = folder / cache_name(threshold)
    groups = np.load(cached) if cached.is_file() else near_duplicate_groups(graph, threshold)
    return np.asarray(graph.ids, np.int64), np.asarray(groups, np.int64)


def _predictions(project: Project) -> Any:
    if project.current_artifact("predictions") is None:
        return None  # no import of the learning stack (torch) when there is nothing to read
    from ..loop.predictions import current_predictions

    return current_predictions(project)


def _clusters(project: Project) -> tuple[str, np.ndarray, np.ndarray] | None:
    folder = project.current_artifact("clusters")
    if folder is None:
        return None
    from ..similarity.clusters import Clustering

    c = Clustering.load(folder)
    return folder.name, np.asarray(c.ids, np.int64), np.asarray(c.assign, np.int64)


def _labels_at(project: Project, position: int) -> list[Any]:
    return project.db.execute(
        "SELECT i.id, i.path, i.content_hash, i.duplicate_of, e.label, e.source, e.round "
        "FROM images i LEFT JOIN (SELECT ev.image_id, ev.label, ev.source, ev.round FROM label_events ev "
        "  JOIN (SELECT image_id, MAX(id) AS last FROM label_events WHERE id <= ? GROUP BY image_id) m "
        "  ON ev.id = m.last) e ON e.image_id = i.id ORDER BY i.id", (position,)).fetchall()


def gather_rows(project: Project, options: ExportOptions) -> ExportRows:
    """Rows to export at the options' snapshot, ordered by image id.

    Gives a split to class-labeled images that lack one first (``assign_splits``: existing
    splits never change), so every exported labeled image has one. Predicted labels only
    ever go to ``train`` (their split column says so): unverified labels never evaluate.
    """
    from ..embed.spec import near_duplicate_cosine
    from ..embed.store import current_embeddings

    position = snapshot_position(project, options.snapshot)
    emb = current_embeddings(project)
    threshold = near_duplicate_cosine(emb.manifest if emb else None)
    groups = _dedup_groups(emb.path if emb else None, threshold)
    assign_splits(project, seed=options.split_seed, groups=groups)
    pred = _predictions(project)
    clusters = _clusters(project)
    versions: dict[str, Any] = {
        "embeddings": emb.version if emb else None,
        "predictions": pred.version if pred else None,
        "train": pred.manifest.get("train_version") if pred else None,
        "predictions_embeddings": pred.manifest.get("embedding_version") if pred else None,
        "clusters": clusters[0] if clusters else None,
        "near_duplicates": ({"embeddings": emb.version, "threshold": threshold}
                            if groups is not None and emb else None)}

    rows = _labels_at(project, position)
    ids = np.fromiter((r["id"] for r in rows), np.int64, len(rows))
    split = load_splits(project, ids)
    cluster = (align(ids, clusters[1], clusters[2], -1) if clusters
               else np.full(len(ids), -1, np.int64))
    dup = (align(ids, np.asarray(groups[0], np.int64), np.asarray(groups[1], np.int64), -1)
           if groups is not None else np.full(len(ids), -1, np.int64))
    best, conf = _best_predictions(project, pred, ids)

    include = set(options.include)
    min_conf = options.include_predicted
    cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for k, r in enumerate(rows):
        label, source, rnd, sp = r["label"], r["source"], r["round"], int(split[k])
        if label is None:
            if min_conf is not None and best[k] is not None and conf[k] >= min_conf:
                label, source, rnd, sp = best[k], PREDICTED, None, 0
            elif "unlabeled" in include:
                source, rnd = None, None
            else:
                continue
        elif label in RESERVED_LABELS and label not in include:
            continue
        cols["id"].append(int(r["id"]))
        cols["original_path"].append(str(project.paths.resolve(r["path"])))
        cols["exported_path"].append(None)
        cols["content_hash"].append(r["content_hash"])
        cols["label"].append(label)
        cols["label_source"].append(source)
        cols["split"].append(SPLITS[sp] if sp >= 0 else None)
        cols["round"].append(None if rnd is None else int(rnd))
        cols["predicted"].append(best[k])
        cols["confidence"].append(conf[k])
        cols["cluster"].append(int(cluster[k]) if cluster[k] >= 0 else None)
        cols["dup_group"].append(int(dup[k]) if dup[k] >= 0 else None)
        cols["duplicate_of"].append(r["duplicate_of"])
    return ExportRows(cols, position, versions)


def _best_predictions(project: Project, pred: Any,
                      ids: np.ndarray) -> tuple[list[str | None], list[float | None]]:
    """Predicted class (canonical name) and confidence (6 decimals) per id, None where absent."""
    n = len(ids)
    if pred is None or len(pred.ids) == 0:
        return [None] * n, [None] * n
    p_ids = np.asarray(pred.ids, np.int64)
    pos = np.minimum(np.searchsorted(p_ids, ids), len(p_ids) - 1)
    hit = p_ids[pos] == ids
    probs = np.asarray(pred.probs[pos[hit]], np.float32)
    names = class_lookup(project)
    classes = [names.get(c.lower(), c) for c in pred.classes]
    best: list[str | None] = [None] * n
    conf: list[float | None] = [None] * n
    if probs.size:
        top, val = probs.argmax(1).tolist(), probs.max(1).tolist()
        for j, k in enumerate(np.flatnonzero(hit).tolist()):
            best[k] = classes[top[j]]
            conf[k] = round(float(val[j]), 6)
    return best, conf


def split_seeds(project: Project, ids: list[int]) -> list[int]:
    """The seeds the splits of these images were assigned with (sorted, distinct)."""
    keys, seeds = fetch_pairs(project.db, "SELECT image_id, seed FROM splits")
    if not keys.size or not ids:
        return []
    got = align(np.asarray(ids, np.int64), keys, seeds, -1)
    return sorted({int(s) for s in got.tolist() if s >= 0})
