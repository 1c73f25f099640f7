"""Read-side work of the label workbench on one background thread with its own project:
building queues, neighbours, review candidates, refreshed suggestions. No Qt."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from classkit.engine.labels.queue import _suggestions, build_queue
from classkit.engine.project import Project


class LabelReader:
    """Serial reads on a dedicated thread; results go to ``fn``'s caller as futures."""

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="label-reader")

    def _project(self) -> Project:
        p = getattr(self._local, "project", None)
        if p is None:
            p = self._local.project = Project.open(self._root)
        return p

    def submit(self, fn: Callable[[Project], Any]) -> Future:
        return self._pool.submit(lambda: fn(self._project()))

    def queue(self, kind: str, arg: Any) -> Future:
        return self.submit(lambda p: [i.to_dict() for i in build_queue(p, kind, arg)])

    def suggestions(self, ids: list[int]) -> Future:
        return self.submit(lambda p: _suggestions(p, ids))

    def neighbours(self, image_id: int, k: int) -> Future:
        from classkit.engine.similarity.project_layer import neighbors

        return self.submit(lambda p: neighbors(p, image_id, k)["neighbors"])

    def similar_unlabeled(self, image_id: int, n: int) -> Future:
        """The ``n`` nearest unlabeled images to ``image_id`` (for the review grid)."""
        from classkit.engine.similarity.project_layer import neighbors

        def work(p: Project) -> list[dict[str, Any]]:
            k = max(4 * n, n + 10)
            found = [x for x in neighbors(p, image_id, k)["neighbors"]
                     if x["label"] is None and x["id"] != image_id]
            return found[:n]
        return self.submit(work)

    def close(self) -> None:
        def shut() -> None:
            p = getattr(self._local, "project", None)
            if p is not None:
                p.close()
                self._local.project = None
        try:
            self._pool.submit(shut)
        except RuntimeError:  # interpreter shutdown
            return
        self._pool.shutdown(wait=True)
