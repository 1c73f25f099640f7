"""``BatchModel``: the Batch view's summary of the current batch and "Select batch".

``refresh()`` reads the newest batch's composition (why its images were picked, their
predicted classes, how many visual modes, the shares used) on the job runner's light lane;
``select(budget, weights, cap)`` picks and stores a new batch on the heavy lane with the
recipe shares and cluster cap the Batch view shows (which it also saves as the project's
batch settings, so ``classkit select`` and "Next batch" use them too).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.jobs import CancelToken, ProgressFn

from .jobs import JobRunner, Ok, Result, runner_for

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1
log = logging.getLogger(__name__)


def _summary(project: Any, batch: int | None = None) -> dict[str, Any]:
    """A stored batch's summary with its lines for people (``{}``: no batch yet)."""
    from classkit.engine.loop.selection import batch_summary, composition_lines

    summary = batch_summary(project, batch)
    return {} if summary is None else {**summary, "lines": composition_lines(summary)}


def read_batch(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    """Worker: the newest batch's summary."""
    from classkit.engine.project import Project

    with Project.open(Path(path)) as project:
        return _summary(project)


def select_batch_job(path: str, budget: int, weights: dict[str, float], cap: int | None, *,
                     progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    """Worker: select and store a batch with these settings; its summary."""
    from classkit.engine.loop.selection import select_for_project
    from classkit.engine.project import Project

    with Project.open(Path(path)) as project:
        out = select_for_project(project, budget, weights=weights, cap_per_cluster=cap,
                                 progress=progress, cancel=cancel)
        return _summary(project, out["batch"])


@QmlElement
class BatchModel(QObject):
    """The current batch's summary (``summary``: batch, size, settings, composition, lines)."""

    projectPathChanged = Signal()
    runnerChanged = Signal()
    summaryChanged = Signal()
    busyChanged = Signal()
    selected = Signal(int)  # a new batch was stored (its id)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = ""
        self._runner: JobRunner | None = None
        self._own_runner: JobRunner | None = None
        self._summary: dict[str, Any] = {}
        self._busy = False
        self._ticket = 0

    def _set_path(self, path: str) -> None:
        if (path or "") != self._path:
            self._path = path or ""
            self._ticket += 1  # results for the previous project are dropped
            self._set_summary({})
            self.projectPathChanged.emit()

    def _set_runner(self, runner: JobRunner | None) -> None:
        self._runner = runner
        self.runnerChanged.emit()

    def _set_summary(self, summary: dict[str, Any]) -> None:
        if summary != self._summary:
            self._summary = summary
            self.summaryChanged.emit()

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit()

    projectPath = Property(str, lambda s: s._path, _set_path, notify=projectPathChanged)
    runner = Property(QObject, lambda s: s._runner, _set_runner, notify=runnerChanged)
    summary = Property("QVariantMap", lambda s: s._summary, notify=summaryChanged)
    busy = Property(bool, lambda s: s._busy, notify=busyChanged)

    def _jobs(self) -> JobRunner:
        return runner_for(self)

    @Slot()
    def refresh(self) -> None:
        """Read the newest batch's summary."""
        if not self._path:
            return
        ticket = self._ticket

        def done(result: Result) -> None:
            if ticket == self._ticket and isinstance(result, Ok):
                self._set_summary(result.value)
        self._jobs().start("Batch summary", read_batch, self._path, on_result=done, lane="light")

    @Slot(int, "QVariantMap", int)
    def select(self, budget: int, weights: dict[str, Any], cap: int) -> None:
        """Select a batch of ``budget`` with these recipe shares and cluster cap (-1 automatic,
        0 none); errors go to the runner's jobFailed (the window's error dialog)."""
        if not self._path or self._busy:
            return
        ticket = self._ticket
        shares = {str(k): float(v) for k, v in dict(weights).items()}
        self._set_busy(True)

        def done(result: Result) -> None:
            self._set_busy(False)
            if ticket == self._ticket and isinstance(result, Ok):
                self._set_summary(result.value)
                self.selected.emit(int(result.value.get("batch", 0)))
        self._jobs().start("Select batch", select_batch_job, self._path, int(budget), shares,
                           None if cap < 0 else int(cap), on_result=done)
