"""Polls the open project for changes made outside the app (the CLI in a terminal) and
reports them on the GUI thread, so the views can show them without a restart.

The check itself (``engine.project.changes.Watch``) runs on one worker thread with its own
connection, every ``INTERVAL_MS``: a few indexed reads, well under a millisecond.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from classkit.engine.labels.events import label_counts
from classkit.engine.project import Project
from classkit.engine.project.changes import Watch, describe

from .label.project_thread import ProjectThread

log = logging.getLogger(__name__)
INTERVAL_MS = 2000
COUNT_EVERY_S = 2.0


class _WatchThread(ProjectThread):
    """The watch and its project live on this thread. Where labels changed (the app's own
    or others'), it also recounts the images per label, for the shell's counts: at most
    every ``COUNT_EVERY_S`` and never more than 5% of the time (the count reads every label
    event: ~2 s at a million)."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root, "project-watch")
        self._watch: Watch | None = None
        self._count_due = 0.0
        self._owed = False

    def _poll(self, project: Project) -> tuple[dict[str, Any] | None, dict[str, int] | None]:
        if self._watch is None:  # the first poll sets the baseline
            self._watch = Watch(project)
            return None, None
        change = self._watch.poll(project)
        self._owed |= bool(self._watch.own_labels or (change and (change["labels"] or change["classes"])))
        counts = None
        now = time.monotonic()
        if self._owed and now >= self._count_due:
            counts = label_counts(project)
            took = time.monotonic() - now
            self._owed, self._count_due = False, now + max(COUNT_EVERY_S, 20 * took)
        return change, counts

    def poll(self) -> Future:
        return self._pool.submit(lambda: self._poll(self._project()))

    def close(self, wait: bool = True) -> None:
        def stop() -> None:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        try:
            self._pool.submit(stop)
        except RuntimeError:
            return
        super().close(wait)


class ProjectWatcher(QObject):
    """``changed(summary)`` when something other than this app changed the project:
    ``summary`` holds ``labels`` (label events added elsewhere), a flag per part of
    ``engine.project.changes.PARTS`` and ``text``, one line for people.
    ``labelsCounted(counts)``: images per current label, after labels changed (anyone's)."""

    changed = Signal("QVariantMap")
    labelsCounted = Signal("QVariantMap")
    _result = Signal(int, object)  # generation, future (from the worker thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _WatchThread | None = None
        self._gen = 0
        self._in_flight = False
        self._failed = False
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._result.connect(self._on_result)

    def start(self, path: str) -> None:
        """Watch the project at ``path`` (stops watching the previous one)."""
        self.stop()
        self._thread = _WatchThread(path)
        self._failed = False
        self._tick()  # baseline now: what changes from here on is reported
        self._timer.start()

    def stop(self) -> None:
        """Stop polling; waits for a poll in flight (a millisecond, a recount at most ~1 s
        at a million labels), so no worker thread signals this object after it is gone."""
        self._timer.stop()
        self._gen += 1
        self._in_flight = False
        if self._thread is not None:
            self._thread.close(wait=True)
            self._thread = None

    def _tick(self) -> None:
        if self._thread is None or self._in_flight:
            return
        self._in_flight = True
        gen = self._gen
        self._thread.poll().add_done_callback(lambda f: self._result.emit(gen, f))

    def _on_result(self, gen: int, fut: Future) -> None:
        if gen != self._gen:
            return  # a project that is no longer watched
        self._in_flight = False
        try:
            change, counts = fut.result()
        except Exception as exc:  # noqa: BLE001 - a moved or damaged project: say it once
            if not self._failed:
                log.warning("cannot check the project for outside changes: %s", exc)
            self._failed = True
            return
        self._failed = False
        if counts is not None:
            self.labelsCounted.emit(counts)
        if change:
            self.changed.emit({**change, "text": describe(change)})
