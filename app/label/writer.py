"""The label writer: one thread with its own SQLite connection commits label events in
order (labels, bulk labels, undos), so the GUI thread never waits on an fsync.

No Qt here: the app bridges ``on_done`` to a signal; the durability test drives it from a
plain subprocess. A label counts as saved once its ``on_done`` ran (it is committed).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from classkit.engine.errors import describe_storage_error
from classkit.engine.labels.events import add_labels, undo_events
from classkit.engine.project import Project

from .project_thread import ProjectThread

log = logging.getLogger(__name__)
Done = Callable[[dict[str, Any]], None]


class LabelWriter(ProjectThread):
    """Serial label commits on a dedicated thread; keeps this session's undo stack."""

    def __init__(self, root: str | Path, on_done: Done | None = None) -> None:
        super().__init__(root, "label-writer")
        self._on_done = on_done
        self._undo: list[tuple[list[int], Any]] = []  # (event ids, caller's tag); writer thread only
        self._pending = 0
        self.requested = 0  # commits asked for so far (GUI thread): a read can tell it is stale
        self._lock = threading.Lock()
        self.last_commit_ms = 0.0

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _run(self, kind: str, fn: Callable[[Project], dict[str, Any]], t_key: float,
             extra: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            out = {"kind": kind, **extra, "ok": True, **fn(self._project())}
        except Exception as exc:  # reported to the GUI, never swallowed silently
            log.exception("label write failed")
            out = {"kind": kind, **extra, "ok": False, "error": describe_storage_error(exc) or str(exc)}
        t1 = time.perf_counter()
        self.last_commit_ms = (t1 - t0) * 1000
        out.update(commit_ms=round(self.last_commit_ms, 3), since_key_ms=round((t1 - t_key) * 1000, 3),
                   at=time.time())
        with self._lock:
            self._pending -= 1
        if self._on_done is not None:
            self._on_done(out)
        return out

    def _submit(self, kind: str, fn: Callable[[Project], dict[str, Any]],
                t_key: float | None, extra: dict[str, Any] | None = None) -> Future:
        with self._lock:
            self._pending += 1
            self.requested += 1
        return self._pool.submit(self._run, kind, fn, time.perf_counter() if t_key is None else t_key,
                                 extra or {})

    def label(self, ids: Sequence[int], label: str | None, source: str = "manual", reason: str = "",
              lead_time_ms: float | None = None, tag: Any = None, t_key: float | None = None) -> Future:
        """Commit one labeling action (undoable as a whole); ``tag`` comes back on undo."""
        ids = [int(i) for i in ids]

        def work(project: Project) -> dict[str, Any]:
            events = add_labels(project, ids, label, source=source, reason=reason,
                                lead_time_ms=lead_time_ms)
            self._undo.append((events, tag))
            return {"ids": ids, "label": label, "source": source, "events": events, "tag": tag}
        return self._submit("label", work, t_key, {"tag": tag, "ids": ids, "label": label,
                                                  "source": source})

    def undo(self, t_key: float | None = None) -> Future:
        """Undo this session's latest labeling action; ``tag`` of the undone one comes back."""
        def work(project: Project) -> dict[str, Any]:
            if not self._undo:
                return {"undone": False}
            events, tag = self._undo[-1]
            undo_events(project, events)
            self._undo.pop()
            return {"undone": True, "tag": tag, "events": events}
        return self._submit("undo", work, t_key)

    def call(self, fn: Callable[[Project], Any]) -> Future:
        """Run ``fn(project)`` in order with the label commits (class edits)."""
        return self._submit("call", lambda p: {"result": fn(p)}, None)
