"""``ClustersModel``: the over-clusters ("visual modes") of the open project for QML.

``refresh()`` reads the current clustering, labels and predictions on the job runner's
light lane (a worker opens its own ``Project``); the rows come back as plain dicts and are
sorted here by ``sortKey``. Only the latest refresh is applied. A project without
embeddings or clusters is a ``message``, never an error dialog.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.errors import ClassKitError
from classkit.engine.jobs import CancelToken, ProgressFn

from .jobs import Err, JobRunner, Ok, Result

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger(__name__)
THUMBS = 5


def read_clusters(path: str, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None) -> dict[str, Any]:
    """Worker: ``{"rows": [...], "message": ""}`` or no rows and a message saying why."""
    from classkit.engine.project import Project
    from classkit.engine.similarity.cluster_view import cluster_rows

    try:
        with Project.open(Path(path)) as project:
            if project.current_artifact("clusters") is None:
                return {"rows": [], "state": "noclusters", "message": ""}
            return {"rows": cluster_rows(project, THUMBS), "state": "ready", "message": ""}
    except (ClassKitError, OSError) as exc:
        return {"rows": [], "state": "error", "message": f"Cannot read the clusters: {exc}"}


def _impure_below() -> float:
    from classkit.engine.similarity.cluster_view import IMPURE_BELOW

    return IMPURE_BELOW


@QmlElement
class ClustersModel(QObject):
    """Cluster rows (see ``engine.similarity.cluster_view.cluster_rows``), sortable."""

    projectPathChanged = Signal()
    runnerChanged = Signal()
    clustersChanged = Signal()
    sortKeyChanged = Signal()
    messageChanged = Signal()
    busyChanged = Signal()
    loaded = Signal()  # a refresh was applied (tests)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = ""
        self._runner: JobRunner | None = None
        self._rows: list[dict[str, Any]] = []
        self._sorted: list[dict[str, Any]] = []
        self._sort = "size"
        self._message = ""
        self._state = "empty"
        self._busy = False
        self._ticket = 0

    # ----------------------------------------------------------------- properties
    def _set_path(self, path: str) -> None:
        path = path or ""
        if path != self._path:
            self._path = path
            self._ticket += 1  # a refresh still running was for the old project
            self._set_busy(False)
            self._apply({"rows": [], "state": "empty", "message": ""})
            self.projectPathChanged.emit()

    def _set_runner(self, runner: JobRunner | None) -> None:
        if runner is not self._runner:
            self._runner = runner
            self.runnerChanged.emit()

    projectPath = Property(str, lambda s: s._path, _set_path, notify=projectPathChanged)
    runner = Property(QObject, lambda s: s._runner, _set_runner, notify=runnerChanged)
    clusters = Property("QVariantList", lambda s: list(s._sorted), notify=clustersChanged)
    count = Property(int, lambda s: len(s._sorted), notify=clustersChanged)
    state = Property(str, lambda s: s._state, notify=clustersChanged)
    hasPredictions = Property(bool, lambda s: any(r["predMixing"] is not None for r in s._rows),
                              notify=clustersChanged)
    summary = Property("QVariantMap", lambda s: s._summary(), notify=clustersChanged)
    impureBelow = Property(float, lambda s: _impure_below(), constant=True)
    sortKey = Property(str, lambda s: s._sort, notify=sortKeyChanged)
    message = Property(str, lambda s: s._message, notify=messageChanged)
    busy = Property(bool, lambda s: s._busy, notify=busyChanged)

    # ----------------------------------------------------------------- slots
    @Slot()
    def refresh(self) -> None:
        """Re-read the clusters of ``projectPath`` off the GUI thread."""
        if not self._path or self._runner is None:
            return
        self._ticket += 1
        ticket, target = self._ticket, self._path
        self._set_busy(True)

        def done(result: Result) -> None:
            if ticket != self._ticket or target != self._path:
                return
            self._set_busy(False)
            if isinstance(result, Ok):
                self._apply(result.value)
            elif isinstance(result, Err) and not result.cancelled:
                self._apply({"rows": [], "state": "error", "message": result.message})

        self._runner.start("Reading clusters", read_clusters, target, on_result=done, lane="light")

    @Slot(str)
    def sortBy(self, key: str) -> None:
        """Order the rows by "size", "unlabeled", "purity" or "disagreement"."""
        from classkit.engine.similarity.cluster_view import SORT_KEYS, sort_rows

        if key not in SORT_KEYS:
            log.warning("unknown cluster sort key %r", key)
            return
        if key != self._sort:
            self._sort = key
            self.sortKeyChanged.emit()
        self._sorted = sort_rows(self._rows, key)
        self.clustersChanged.emit()

    # ----------------------------------------------------------------- internals
    def _summary(self) -> dict[str, int]:
        from classkit.engine.similarity.cluster_view import summarize

        return summarize(self._rows)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit()

    def _apply(self, value: dict[str, Any]) -> None:
        from classkit.engine.similarity.cluster_view import sort_rows

        self._rows = list(value["rows"])
        self._sorted = sort_rows(self._rows, self._sort)
        self._state = value["state"]
        self.clustersChanged.emit()
        if value["message"] != self._message:
            self._message = value["message"]
            self.messageChanged.emit()
        self.loaded.emit()
