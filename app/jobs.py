"""The job runner: engine jobs on a QThreadPool, progress and results back on the GUI thread.

A job is any callable ``fn(*args, progress=..., cancel=...)`` following the engine's job
contract (``progress(done, total, msg)``, a :class:`CancelToken` checked between chunks).
Each run ends in exactly one of ``jobFinished`` (an :class:`Ok`), ``jobFailed`` (an
:class:`Err`, logged with its traceback) or ``jobCancelled``, always on the GUI thread.
"""
from __future__ import annotations

import itertools
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Property, QObject, QRunnable, QThreadPool, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.errors import Cancelled, ClassKitError, describe_storage_error
from classkit.engine.jobs import CancelToken

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.05  # at most 20 progress updates per second per job


@dataclass(frozen=True)
class Ok:
    """A job's successful result."""

    value: Any


@dataclass(frozen=True)
class Err:
    """A job's failure: a one-line message for the user and the detail (traceback)."""

    message: str
    detail: str = ""
    cancelled: bool = False


Result = Ok | Err
OnResult = Callable[[Result], None]


class _Bridge(QObject):
    """Lives on the GUI thread; worker threads emit on it (queued to the runner)."""

    progress = Signal(int, int, int, str)  # job id, done, total, message
    done = Signal(int, object)  # job id, Ok | Err


class _Job(QRunnable):
    """One engine job call, run on a pool thread."""

    def __init__(self, job_id: int, fn: Callable[..., Any], args: tuple, token: CancelToken,
                 bridge: _Bridge, interval: float) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._id, self._fn, self._args = job_id, fn, args
        self._token, self._bridge, self._interval = token, bridge, interval
        self._last = 0.0

    def _progress(self, done: int, total: int, msg: str = "") -> None:
        now = time.monotonic()
        if now - self._last >= self._interval or (total and done >= total):
            self._last = now
            self._bridge.progress.emit(self._id, int(done), int(total), str(msg))

    def run(self) -> None:
        result: Result
        try:
            self._token.raise_if_cancelled()  # cancelled while still queued
            result = Ok(self._fn(*self._args, progress=self._progress, cancel=self._token))
        except Cancelled:
            result = Err("cancelled", "", cancelled=True)
        except ClassKitError as exc:  # a handled error: the message says what to do
            result = Err(str(exc), traceback.format_exc())
        except BaseException as exc:  # noqa: B036 - a bug (traceback), or storage (disk full...)
            result = Err(describe_storage_error(exc) or f"{type(exc).__name__}: {exc}",
                         traceback.format_exc())
        self._bridge.done.emit(self._id, result)


@QmlElement
class JobRunner(QObject):
    """Runs engine jobs off the GUI thread; ``jobs`` lists the queued and running ones."""

    jobsChanged = Signal()
    busyChanged = Signal()
    jobFinished = Signal(int, str, "QVariant")  # id, name, result value
    jobFailed = Signal(int, str, str, str)  # id, name, message, detail
    jobCancelled = Signal(int, str)  # id, name

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Two lanes: one heavy job at a time (engine jobs use every core, and OpenMP pools
        # must not overlap), and quick jobs (open, status, settings) that never wait behind it.
        self._pools = {"heavy": QThreadPool(self), "light": QThreadPool(self)}
        self._pools["heavy"].setMaxThreadCount(1)
        self._pools["light"].setMaxThreadCount(2)
        self._bridge = _Bridge(self)
        self._bridge.progress.connect(self._on_progress)
        self._bridge.done.connect(self._on_done)
        self._ids = itertools.count(1)
        self._jobs: dict[int, dict[str, Any]] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._callbacks: dict[int, OnResult | None] = {}
        self.progress_interval = PROGRESS_INTERVAL_S

    # ----------------------------------------------------------------- Python API
    def start(self, name: str, fn: Callable[..., Any], *args: Any,
              on_result: OnResult | None = None, lane: str = "heavy") -> int:
        """Queue ``fn(*args, progress=, cancel=)``; returns the job id.

        ``args`` should be a snapshot (plain values): they are read on the worker thread.
        ``on_result`` is called on the GUI thread with the :class:`Ok` or :class:`Err`.
        ``lane``: "heavy" (one at a time) or "light" (quick jobs that must not queue).
        """
        pool = self._pools[lane]
        job_id = next(self._ids)
        token = CancelToken()
        self._tokens[job_id] = token
        self._callbacks[job_id] = on_result
        was_busy = self.busy
        self._jobs[job_id] = {"id": job_id, "name": name, "done": 0, "total": 0,
                              "message": "waiting", "state": "queued",
                              "queued_ms": time.time() * 1000.0}  # wall clock, as QML's Date.now()
        pool.start(_Job(job_id, fn, args, token, self._bridge, self.progress_interval))
        self.jobsChanged.emit()
        if not was_busy:
            self.busyChanged.emit()
        log.info("job %d (%s) queued", job_id, name)
        return job_id

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle (tests, shutdown); results still arrive via events."""
        end = time.monotonic() + msecs / 1000
        done = True
        for pool in self._pools.values():
            done &= pool.waitForDone(-1 if msecs < 0 else max(0, int((end - time.monotonic()) * 1000)))
        return done

    # ----------------------------------------------------------------- QML API
    @Slot(int)
    def cancel(self, job_id: int) -> None:
        """Ask a job to stop at its next check (a queued job never starts)."""
        token = self._tokens.get(job_id)
        if token is None:
            return
        token.cancel()
        job = self._jobs.get(job_id)
        if job is not None and job["state"] != "cancelling":
            job["state"] = "cancelling"
            job["message"] = "cancelling…"
            self.jobsChanged.emit()

    @Slot()
    def cancelAll(self) -> None:
        for job_id in list(self._tokens):
            self.cancel(job_id)

    def _get_jobs(self) -> list[dict[str, Any]]:
        return [dict(job) for job in self._jobs.values()]

    def _get_busy(self) -> bool:
        return bool(self._jobs)

    jobs = Property("QVariantList", _get_jobs, notify=jobsChanged)
    busy = Property(bool, _get_busy, notify=busyChanged)

    # ----------------------------------------------------------------- GUI-thread handlers
    def _on_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or job["state"] == "cancelling":
            return
        new = {"done": done, "total": total, "message": message or job["message"],
               "state": "running"}
        if any(job[k] != v for k, v in new.items()):
            job.update(new)
            self.jobsChanged.emit()

    def _on_done(self, job_id: int, result: Result) -> None:
        job = self._jobs.pop(job_id, None)
        self._tokens.pop(job_id, None)
        callback = self._callbacks.pop(job_id, None)
        name = job["name"] if job else "?"
        self.jobsChanged.emit()
        if not self._jobs:
            self.busyChanged.emit()
        if isinstance(result, Ok):
            log.info("job %d (%s) finished", job_id, name)
        elif result.cancelled:
            log.info("job %d (%s) cancelled", job_id, name)
        else:
            log.error("job %d (%s) failed: %s\n%s", job_id, name, result.message, result.detail)
        if callback is not None:
            try:
                callback(result)
            except Exception:  # a bug in the view model: report it like a failed job
                detail = traceback.format_exc()
                log.exception("result handler of job %d (%s) failed", job_id, name)
                result = Err(f"handling the result of {name} failed", detail)
        if isinstance(result, Ok):
            self.jobFinished.emit(job_id, name, result.value)
        elif result.cancelled:
            self.jobCancelled.emit(job_id, name)
        else:
            self.jobFailed.emit(job_id, name, result.message, result.detail)


def runner_for(model: Any) -> JobRunner:
    """The job runner a view model runs on: the window's shared one (``model._runner``), or,
    for a view on its own (tests, benchmarks), one of its own, created once
    (``model._own_runner``)."""
    if model._runner is not None:
        return model._runner
    if model._own_runner is None:
        model._own_runner = JobRunner(model)
    return model._own_runner
