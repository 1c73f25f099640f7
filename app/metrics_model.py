"""``MetricsModel``: model quality per training round, for the Metrics view.

Reading the ledger and restoring a round run as quick jobs on the :class:`JobRunner`
(the "light" lane); the worker opens its own ``Project`` and returns plain values. Every
round's details come back at once, so selecting a round needs no new job.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.jobs import CancelToken, ProgressFn

from .jobs import Err, JobRunner, Ok, Result, runner_for

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger(__name__)


def read_metrics_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    """Worker side: every round's summary and details (see ``metrics_overview``)."""
    from classkit.engine.loop.metrics_view import metrics_overview
    from classkit.engine.project import Project

    with Project.open(Path(path)) as project:
        return metrics_overview(project)


def restore_round_job(path: str, number: int, *, progress: ProgressFn,
                      cancel: CancelToken) -> dict[str, Any]:
    """Worker side: make round ``number`` current again, then read the metrics anew."""
    from classkit.engine.loop.ledger import restore_round
    from classkit.engine.loop.metrics_view import metrics_overview
    from classkit.engine.project import Project

    with Project.open(Path(path)) as project:
        restore_round(project, int(number))
        return metrics_overview(project)


@QmlElement
class MetricsModel(QObject):
    """View model of the Metrics view: the rounds ledger, one selected round's details."""

    projectPathChanged = Signal()
    runnerChanged = Signal()
    roundsChanged = Signal()
    selectedChanged = Signal()
    messageChanged = Signal()
    busyChanged = Signal()
    restored = Signal(int)  # round number, after a successful restore

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = ""
        self._runner: JobRunner | None = None
        self._own_runner: JobRunner | None = None
        self._rounds: list[dict[str, Any]] = []
        self._details: dict[str, dict[str, Any]] = {}
        self._current = 0
        self._selected = 0
        self._message = ""
        self._pending = 0  # jobs in flight
        self._generation = 0  # bumped on project switch: older results are dropped

    # ----------------------------------------------------------------- properties
    def _set_path(self, path: str) -> None:
        path = path or ""
        if path == self._path:
            return
        self._path = path
        self._generation += 1
        self._apply({"rounds": [], "details": {}, "current": 0}, keep_selection=False)
        self._set_message("")
        self.projectPathChanged.emit()
        if path:
            self.refresh()

    def _set_runner(self, runner: JobRunner | None) -> None:
        if runner is not self._runner:
            self._runner = runner
            self.runnerChanged.emit()

    projectPath = Property(str, lambda self: self._path, _set_path, notify=projectPathChanged)
    runner = Property(QObject, lambda self: self._runner, _set_runner, notify=runnerChanged)
    rounds = Property("QVariantList", lambda self: self._rounds, notify=roundsChanged)
    count = Property(int, lambda self: len(self._rounds), notify=roundsChanged)
    current = Property(int, lambda self: self._current, notify=roundsChanged)
    selected = Property(int, lambda self: self._selected, notify=selectedChanged)
    details = Property("QVariantMap", lambda self: self._details.get(str(self._selected), {}),
                       notify=selectedChanged)
    message = Property(str, lambda self: self._message, notify=messageChanged)
    busy = Property(bool, lambda self: self._pending > 0, notify=busyChanged)

    # ----------------------------------------------------------------- slots
    @Slot()
    def refresh(self) -> None:
        """Read the ledger again (off the GUI thread); the selection stays where it can."""
        if self._path:
            self._start("Read metrics", read_metrics_job, self._path)

    @Slot(int)
    def select(self, number: int) -> None:
        """Show round ``number`` (must be in the ledger)."""
        if str(number) in self._details and number != self._selected:
            self._selected = number
            self.selectedChanged.emit()

    @Slot(int)
    def restore(self, number: int) -> None:
        """Make round ``number``'s model and predictions current again."""
        if not self._path:
            self._set_message("open a project first")
        elif str(number) not in self._details:
            self._set_message(f"no round {number} in the ledger")
        else:
            self._start(f"Restore round {number}", restore_round_job, self._path, number,
                        restored=number)

    # ----------------------------------------------------------------- helpers
    def _job_runner(self) -> JobRunner:
        return runner_for(self)

    def _start(self, name: str, fn: Any, *args: Any, restored: int = 0) -> None:
        generation = self._generation

        def done(result: Result) -> None:
            self._pending -= 1
            if self._pending == 0:
                self.busyChanged.emit()
            if generation != self._generation:
                return  # the project changed meanwhile
            if isinstance(result, Ok):
                self._apply(result.value, keep_selection=True)
                if restored:
                    self._set_message(f"Round {restored} restored: its model and predictions are "
                                      "current again")
                    self.restored.emit(restored)
                elif not self._rounds:
                    self._set_message("")
            elif isinstance(result, Err) and not result.cancelled:
                self._set_message(f"{name} failed: {result.message}")

        self._pending += 1
        if self._pending == 1:
            self.busyChanged.emit()
        self._job_runner().start(name, fn, *args, on_result=done, lane="light")

    def _apply(self, value: dict[str, Any], keep_selection: bool) -> None:
        rounds, details = list(value.get("rounds", [])), dict(value.get("details", {}))
        latest = rounds[-1]["round"] if rounds else 0
        old_latest = self._rounds[-1]["round"] if self._rounds else 0
        # Stay on the chosen round; one who watched the latest round follows a new one.
        keep = keep_selection and str(self._selected) in details and self._selected != old_latest
        selected = self._selected if keep else latest
        changed = (rounds != self._rounds or value.get("current", 0) != self._current)
        old_details = self._details.get(str(self._selected))
        self._rounds, self._details, self._current = rounds, details, int(value.get("current", 0))
        if changed:
            self.roundsChanged.emit()
        if selected != self._selected or details.get(str(selected)) != old_details:
            self._selected = selected
            self.selectedChanged.emit()

    def _set_message(self, text: str) -> None:
        if text != self._message:
            self._message = text
            self.messageChanged.emit()
