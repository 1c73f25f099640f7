"""Read what the Explorer shows from a project (plain Python, run off the GUI thread).

Predictions come from :mod:`classkit.engine.loop.predictions` when that module and a
predictions version exist; clusters from the current ``clusters`` version. Each part that
is missing is simply absent (None), never invented.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classkit.engine.embed.store import load_embeddings
from classkit.engine.errors import ClassKitError
from classkit.engine.labels.events import align, label_arrays
from classkit.engine.project import Project
from classkit.engine.similarity.clusters import Clustering
from classkit.engine.similarity.project_layer import load_map, neighbors

log = logging.getLogger(__name__)
BUILD_INDEX_MAX = 50_000  # up to this many embeddings a missing kNN index is built on first use


@dataclass
class MapData:
    """Aligned per-point arrays of one project's current map."""

    root: Path
    ids: np.ndarray                  # int64 image ids
    coords: np.ndarray               # (n, 2) float32 in [0, 1]
    labels: np.ndarray               # class index, -1 unlabeled, -2 marked
    classes: list[str]
    probs: np.ndarray | None = None  # (n, C) float32 calibrated probabilities
    clusters: np.ndarray | None = None  # cluster id, -1 none
    notes: tuple[str, ...] = ()
    class_colors: list[str] | None = None  # "#rrggbb" per class, the project's own
    labels_mark: int = 0  # the newest label event ``labels`` may miss nothing before


class NoMap(ClassKitError):
    """The project has no map yet (an honest empty state, not an error)."""


def load_map_data(root: str | Path) -> MapData:
    """Everything the map needs from the project at ``root`` (raises NoMap when no map)."""
    with Project.open(Path(root)) as project:
        if project.current_artifact("map") is None:
            if not project.has_images():
                raise NoMap("No images yet: add a folder, video, CSV or dataset with Pipeline > "
                            "Ingest… (or `classkit ingest`), then Embed and Compute map.")
            if project.current_artifact("embeddings") is None:
                raise NoMap("No map yet: run Embed, then Compute map, from the Pipeline menu "
                            "(or `classkit embed`, `classkit map`).")
            raise NoMap("No map yet: run Compute map from the Pipeline menu (or `classkit map`).")
        ids, coords = load_map(project)
        ids = np.asarray(ids, np.int64)
        class_specs = project.classes()
        classes = [c.name for c in class_specs]
        mark = project.last_label_event()  # before reading: a label given meanwhile is re-read
        labels = label_arrays(project, ids, classes)
        notes: list[str] = []
        probs = None
        try:
            from classkit.engine.loop.predictions import current_predictions
        except ImportError:  # the learning loop is optional in this build
            current_predictions = None  # type: ignore[assignment]
        if current_predictions is not None:
            pred = current_predictions(project)
            if pred is not None:
                probs = pred.aligned(ids)
                if probs is not None and list(pred.classes) != classes:
                    probs, _ = None, notes.append("predictions were made for other classes")
                elif probs is None:
                    notes.append("predictions do not cover this map: train again")
        clusters = None
        folder = project.current_artifact("clusters")
        if folder is not None:
            cl = Clustering.load(Path(folder))
            clusters = align(ids, np.asarray(cl.ids, np.int64), np.asarray(cl.assign, np.int64), -1)
        return MapData(Path(project.root), ids, np.ascontiguousarray(coords, np.float32), labels,
                       classes, probs, clusters, tuple(notes), [c.color for c in class_specs], mark)


def current_labels(root: str | Path, ids: np.ndarray, classes: list[str],
                   since: int | None = None) -> tuple[int, np.ndarray] | None:
    """(label mark, label codes for ``ids``) now (after labeling elsewhere in the app); None
    when no label event came after ``since`` (one indexed read instead of all events)."""
    with Project.open(Path(root)) as project:
        mark = project.last_label_event()
        if since is not None and mark == since:
            return None
        return mark, label_arrays(project, ids, classes)


def image_details(root: str | Path, image_id: int, k: int = 12) -> dict[str, Any]:
    """Path, size and kNN neighbours (id, path, similarity, label) of one image."""
    with Project.open(Path(root)) as project:
        row = project.db.execute("SELECT path, width, height FROM images WHERE id=?",
                                 (int(image_id),)).fetchone()
        if row is None:
            raise ClassKitError(f"no image with id {image_id} in this project")
        out: dict[str, Any] = {"id": int(image_id), "path": str(project.paths.resolve(row[0])),
                               "width": row[1], "height": row[2], "neighbours": [],
                               "neighboursError": ""}
        try:
            emb = load_embeddings(project)
            if len(emb) > BUILD_INDEX_MAX and not (emb.path / "index" / "index.json").is_file():
                # never start a long index build behind a click: say what to run instead
                out["neighboursError"] = "no kNN index yet: run Index from the pipeline (`classkit index`)"
                return out
            res = neighbors(project, int(image_id), k + 1)
            out["neighbours"] = [n for n in res["neighbors"] if n["id"] != int(image_id)][:k]
        except ClassKitError as exc:
            out["neighboursError"] = str(exc)
        return out
