"""LabelModel: the keyboard-first labeling workbench's view model (QML ``ClassKit.Backend``).

Labels commit through :class:`LabelWriter` (its own thread and connection, in order) and
show at once; reads (queues, neighbours, review candidates, suggestions) run on
:class:`LabelReader`. Results come back to the GUI thread through queued signals.
"""
from __future__ import annotations

import logging
import time
import weakref
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import Property, QObject, QTimer, Signal, Slot
from PySide6.QtQml import QmlElement


from ..jobs import JobRunner, runner_for
from . import image_provider
from .reader import LabelReader
from .round_mixin import RoundMixin
from .results import handle_result
from .writer import LabelWriter

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1
log = logging.getLogger(__name__)
PREFETCH = 6
STRIP = 8
MARK_KEYS = {"u": "unsure", "j": "junk", "s": "skip"}


WARMUP_DELAY_MS = 1500
_warmup_scheduled = False
_LIVE: weakref.WeakSet[LabelModel] = weakref.WeakSet()  # open models, for close_all at exit


def load_training_stack() -> None:
    """Import torch and the training code, on the GUI thread.

    Why not a worker thread: importing torch in a background thread while Qt runs corrupted
    the heap (malloc abort or segfault in ~1 of 7 starts, reproduced 3/20 vs 0/20 without
    it). Done once per process, ``WARMUP_DELAY_MS`` after a project opens (the map is up by
    then): one ~1.25 s pause early on, so "Train now" later never imports on a worker."""
    import classkit.engine.loop.rounds  # noqa: F401
    import classkit.engine.loop.selection  # noqa: F401


def reason_summary(items: list[dict[str, Any]]) -> str:
    """'40 uncertainty · 35 diversity · ...': why the queue's images were picked (the part of
    each reason before ':'), most common first; empty when no item carries a reason."""
    counts: dict[str, int] = {}
    for it in items:
        reason = str(it.get("reason") or "").split(":", 1)[0]
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
    return " · ".join(f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def schedule_warmup() -> None:
    """Queue :func:`load_training_stack` on the GUI thread, once per process."""
    global _warmup_scheduled
    if not _warmup_scheduled:
        _warmup_scheduled = True
        QTimer.singleShot(WARMUP_DELAY_MS, load_training_stack)


def close_all() -> None:
    """Close every open LabelModel: pending label commits are written, then the reader and
    writer threads stop. Called by the app's shutdown before the QML engine goes, so no
    worker thread signals a model that is being destroyed."""
    for m in list(_LIVE):
        m.close()


class _Bridge(QObject):
    result = Signal(str, int, object)  # kind, generation, payload (from worker threads)


@QmlElement
class LabelModel(RoundMixin, QObject):
    """Queue, current item, keys, commits, undo, neighbours, review grid, round closing."""

    projectPathChanged = Signal()
    runnerChanged = Signal()
    queueChanged = Signal()
    currentChanged = Signal()
    classesChanged = Signal()
    neighboursChanged = Signal()
    saveStateChanged = Signal()
    reviewChanged = Signal()
    busyChanged = Signal()
    messageChanged = Signal()
    committed = Signal("QVariantMap")  # one writer result (tests, benchmark)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._path = ""
        self._runner: JobRunner | None = None
        self._own_runner: JobRunner | None = None
        self._writer: LabelWriter | None = None
        self._reader: LabelReader | None = None
        self._items: list[dict[str, Any]] = []
        self._pos = 0
        self._kind = ""
        self._pending_kind = ""
        self._pending_focus: int | None = None  # the image a loading queue opens on
        self._classes: list[dict[str, Any]] = []
        self._neighbours: list[dict[str, Any]] = []
        self._review: list[dict[str, Any]] = []
        self._gen = 0
        self._shown = time.perf_counter()
        self._saved_at: float | None = None
        self._busy = ""
        self._message = ""
        self._message_error = False
        self.autosave_ms = 250  # a commit slower than this is reported (commits never wait)
        self._bridge = _Bridge(self)
        self._bridge.result.connect(self._on_result)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.saveStateChanged)
        self._timer.start()
        _LIVE.add(self)

    # ---- plumbing -----------------------------------------------------------------------------
    def _post(self, kind: str, fut: Future, gen: int | None = None) -> None:
        g = self._gen if gen is None else gen
        fut.add_done_callback(lambda f: self._bridge.result.emit(kind, g, f))

    def _writer_done(self, out: dict[str, Any]) -> None:  # writer thread
        self._bridge.result.emit("written", -1, out)

    def _set_path(self, path: str) -> None:
        if path == self._path:
            return
        self.close()
        self._path = path
        self._items, self._pos, self._neighbours, self._review = [], 0, [], []
        if path:
            self._writer = LabelWriter(path, self._writer_done)
            self._reader = LabelReader(path)
            self.reloadClasses()
            schedule_warmup()
        self.projectPathChanged.emit()
        self.queueChanged.emit()
        self.currentChanged.emit()

    def _set_runner(self, runner: JobRunner | None) -> None:
        self._runner = runner
        self.runnerChanged.emit()

    def _jobs(self) -> JobRunner:
        return runner_for(self)

    def _set_message(self, text: str, error: bool = False) -> None:
        """A line for the user: ``error`` for what went wrong (shown as an error), else a note."""
        self._message, self._message_error = text, error
        self.messageChanged.emit()

    def close(self) -> None:
        """Finish pending commits and release the connections."""
        for part in (self._writer, self._reader):
            if part is not None:
                part.close()
        self._writer = self._reader = None

    # ---- properties ---------------------------------------------------------------------------
    def _current(self) -> dict[str, Any]:
        if not (0 <= self._pos < len(self._items)):
            return {}
        it = self._items[self._pos]
        return {**it, "source": f"image://fullimage/{it['id']}",
                "suggestion": None if it["blind"] else it["suggestion"],
                "confidence": None if it["blind"] else it["confidence"]}

    def _save_state(self) -> str:
        if self._writer is not None and self._writer.pending:
            return "saving"
        if self._saved_at is None:
            return "nothing to save yet"
        return f"saved {int(time.time() - self._saved_at)}s ago"

    projectPath = Property(str, lambda s: s._path, _set_path, notify=projectPathChanged)
    runner = Property(QObject, lambda s: s._runner, _set_runner, notify=runnerChanged)
    current = Property("QVariantMap", _current, notify=currentChanged)
    position = Property(int, lambda s: s._pos, notify=currentChanged)
    atEnd = Property(bool, lambda s: bool(s._kind) and s._pos >= len(s._items), notify=currentChanged)
    upcoming = Property("QVariantList", lambda s: [{"id": i["id"], "label": i["label"]}
                                                   for i in s._items[s._pos + 1:s._pos + 1 + STRIP]],
                        notify=currentChanged)
    total = Property(int, lambda s: len(s._items), notify=queueChanged)
    done = Property(int, lambda s: sum(i["label"] is not None for i in s._items), notify=currentChanged)
    queueKind = Property(str, lambda s: s._kind, notify=queueChanged)
    items = Property("QVariantList", lambda s: list(s._items), notify=queueChanged)
    reasonSummary = Property(str, lambda s: reason_summary(s._items), notify=queueChanged)
    classes = Property("QVariantList", lambda s: list(s._classes), notify=classesChanged)
    neighbours = Property("QVariantList", lambda s: list(s._neighbours), notify=neighboursChanged)
    reviewItems = Property("QVariantList", lambda s: list(s._review), notify=reviewChanged)
    saveState = Property(str, _save_state, notify=saveStateChanged)
    busy = Property(str, lambda s: s._busy, notify=busyChanged)
    message = Property(str, lambda s: s._message, notify=messageChanged)
    messageIsError = Property(bool, lambda s: s._message_error, notify=messageChanged)
    autosaveMs = Property(int, lambda s: s.autosave_ms, lambda s, v: setattr(s, "autosave_ms", int(v)),
                          notify=saveStateChanged)

    # ---- queue and navigation -----------------------------------------------------------------
    @Slot(str, "QVariant")
    def loadQueue(self, kind: str, arg: Any = None) -> None:
        """Load a queue: "batch" (arg: batch id or ""), "ids" (list), "cluster" (int), "filter"."""
        self.loadQueueAt(kind, arg, -1)

    @Slot(str, "QVariant", int)
    def loadQueueAt(self, kind: str, arg: Any, imageId: int) -> None:  # noqa: N803
        """Load a queue like :meth:`loadQueue` and show ``imageId`` first where the queue holds it
        (e.g. a cluster's thumbnail clicked: that cluster's queue, on that image); -1: its start."""
        if self._reader is None:
            return
        self._gen += 1
        self._post("queue", self._reader.queue(kind, arg.toVariant() if hasattr(arg, "toVariant") else arg))
        self._pending_kind = kind
        self._pending_focus = imageId if imageId >= 0 else None

    @Slot()
    def reloadClasses(self) -> None:
        if self._reader is not None:
            self._post("classes", self._reader.submit(
                lambda p: [{**c.to_dict()} for c in p.classes()]), gen=-1)

    def _show(self, pos: int) -> None:
        self._pos = max(0, min(pos, len(self._items)))
        self._shown = time.perf_counter()
        self._neighbours = []
        self._gen += 1
        cur = self._items[self._pos] if self._pos < len(self._items) else None
        if cur is not None and self._reader is not None:
            self._post("neighbours", self._reader.neighbours(cur["id"], 8))
        image_provider.prefetch(i["id"] for i in self._items[self._pos:self._pos + PREFETCH])
        self.currentChanged.emit()
        self.neighboursChanged.emit()

    @Slot()
    def next(self) -> None:
        self._show(self._pos + 1)

    @Slot()
    def previous(self) -> None:
        self._show(self._pos - 1)

    @Slot(int)
    def markShown(self, image_id: int) -> None:
        """The view painted ``image_id``: lead time counts from now."""
        cur = self._current()
        if cur and cur["id"] == image_id:
            self._shown = time.perf_counter()

    @Slot(int)
    def jumpToNeighbour(self, index: int) -> None:
        """Insert neighbour ``index`` right after the current item and show it."""
        if not (0 <= index < len(self._neighbours)):
            return
        n = self._neighbours[index]
        item = {"id": n["id"], "path": n["path"], "reason": "neighbour", "score": n["similarity"],
                "suggestion": None, "confidence": None, "blind": False, "label": n["label"]}
        image_provider.remember([(n["id"], n["path"])])
        self._items.insert(self._pos + 1, item)
        self.queueChanged.emit()
        self._show(self._pos + 1)

    # ---- keys and labels ----------------------------------------------------------------------
    @Slot(str, bool, result=bool)
    def labelKey(self, key: str, isAutoRepeat: bool) -> bool:  # noqa: N803
        """Handle a key ("1".."9", class keys, u/j/s/a, "undo", "left", "right", "neighbourN");
        True if used.

        Labeling keys ignore auto-repeat: holding a key labels one image, not a run."""
        k = key.lower()
        if k.startswith("neighbour") and k[9:].isdigit():
            if not isAutoRepeat:
                self.jumpToNeighbour(int(k[9:]))
            return True
        nav = {"left": self.previous, "right": self.next, "undo": self.undo, "backspace": self.undo}
        if k in nav:
            if not (isAutoRepeat and k in ("undo", "backspace")):
                nav[k]()
            return True
        by_key = {c["key"].lower(): c["name"] for c in self._classes if c.get("key")}
        if k not in by_key and k not in MARK_KEYS and k != "a":
            return False
        if isAutoRepeat:
            return True
        if k in by_key:
            self._commit(by_key[k], "manual")
        elif k in MARK_KEYS:
            self._commit(MARK_KEYS[k], "manual")
        else:
            self.accept()
        return True

    def _commit(self, label: str, source: str) -> None:
        t_key = time.perf_counter()
        if self._writer is None or not (0 <= self._pos < len(self._items)):
            return
        item = self._items[self._pos]
        lead = (t_key - self._shown) * 1000
        tag = {"pos": self._pos, "before": {item["id"]: item["label"]}}
        self._writer.label([item["id"]], label, source, reason=item["reason"], lead_time_ms=round(lead, 1),
                           tag=tag, t_key=t_key)
        item["label"] = label
        self.saveStateChanged.emit()
        self._show(self._pos + 1)

    @Slot()
    def accept(self) -> None:
        """Take the suggested label (not on blind audit items)."""
        cur = self._current()
        if cur and cur.get("suggestion"):
            self._commit(cur["suggestion"], "accepted-suggestion")

    @Slot()
    def unsure(self) -> None:
        self._commit("unsure", "manual")

    @Slot()
    def junk(self) -> None:
        self._commit("junk", "manual")

    @Slot()
    def skip(self) -> None:
        self._commit("skip", "manual")

    @Slot(str)
    def assign(self, label: str) -> None:
        """Label the current item (a class button)."""
        self._commit(label, "manual")

    @Slot()
    def undo(self) -> None:
        """Undo this session's latest labeling action (a bulk action as a whole)."""
        if self._writer is not None:
            self._writer.undo()
            self.saveStateChanged.emit()

    def _on_result(self, kind: str, gen: int, payload: Any) -> None:
        handle_result(self, kind, gen, payload)
