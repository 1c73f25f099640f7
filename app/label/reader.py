"""Read-side work of the label workbench on one background thread with its own project:
building queues, neighbours, review candidates, refreshed suggestions. No Qt."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from classkit.engine.errors import ClassKitError
from classkit.engine.labels.queue import suggestions_for, build_queue
from classkit.engine.project import Project

from .project_thread import ProjectThread


class LabelReader(ProjectThread):
    """Serial reads on a dedicated thread; results go to ``fn``'s caller as futures."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, "label-reader")

    def submit(self, fn: Callable[[Project], Any]) -> Future:
        return self._pool.submit(lambda: fn(self._project()))

    def queue(self, kind: str, arg: Any) -> Future:
        return self.submit(lambda p: [i.to_dict() for i in build_queue(p, kind, arg)])

    def suggestions(self, ids: list[int]) -> Future:
        return self.submit(lambda p: suggestions_for(p, ids))

    def _near(self, p: Project, image_id: int, k: int) -> list[dict[str, Any]]:
        """``k`` nearest neighbours (id, path, similarity, label): the kNN index stays loaded
        (per embedding version) and only the neighbours' rows are read, so this stays a few
        milliseconds per image at a million images."""
        from classkit.engine.similarity.project_layer import ensure_index

        version = str(p.current_artifact("embeddings"))
        if getattr(self._local, "index_version", None) != version:
            self._local.index, self._local.index_version = ensure_index(p), version
        try:
            ids, sims = self._local.index.neighbors_of_ids(np.array([image_id], np.int64), k + 1)
        except ClassKitError:
            return []  # no embedding for this image
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True)
                 if i >= 0 and int(i) != image_id][:k]
        if not pairs:
            return []
        marks = ",".join("?" * len(pairs))
        keys = [i for i, _ in pairs]
        paths = dict(p.db.execute(f"SELECT id, path FROM images WHERE id IN ({marks})", keys).fetchall())
        labels = dict(p.db.execute(f"SELECT image_id, label FROM current_labels WHERE image_id IN ({marks})",
                                   keys).fetchall())
        return [{"id": i, "path": str(p.paths.resolve(paths[i])), "similarity": round(s, 6),
                 "label": labels.get(i)} for i, s in pairs if i in paths]

    def neighbours(self, image_id: int, k: int) -> Future:
        return self.submit(lambda p: self._near(p, image_id, k))

    def similar_unlabeled(self, image_id: int, n: int) -> Future:
        """The ``n`` nearest unlabeled images to ``image_id`` (for the review grid)."""
        def work(p: Project) -> list[dict[str, Any]]:
            found = [x for x in self._near(p, image_id, max(4 * n, n + 10)) if x["label"] is None]
            return found[:n]
        return self.submit(work)
