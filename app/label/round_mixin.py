"""The label workbench's review grid ("label similar N") and round closing (next batch,
train now), mixed into LabelModel."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Slot

from classkit.engine.config import RESERVED_LABELS
from classkit.engine.labels import labels_of

from ..jobs import Ok
from .jobs import select_job, train_job


class RoundMixin:
    """Slots and helpers of :class:`LabelModel` beyond single labels (see there for state)."""

    # ---- review grid (label similar N) --------------------------------------------------------
    @Slot(int)
    def openSimilar(self, n: int) -> None:
        """Fill ``reviewItems`` with the ``n`` nearest unlabeled images to the current one."""
        cur = self._current()
        if not cur or self._reader is None:
            return
        if not cur.get("label") or cur["label"] in RESERVED_LABELS:
            self._set_message("label this image with a class first")
            return
        self._review = []
        self._post("review", self._reader.similar_unlabeled(cur["id"], int(n)), gen=-1)

    @Slot("QVariantList")
    def confirmSimilar(self, idsKept: list[Any]) -> None:  # noqa: N803
        """Label the kept review images like the current one (source "bulk")."""
        cur = self._current()
        ids = [int(i) for i in idsKept]
        if not cur or not ids or self._writer is None:
            return
        tag = {"pos": self._pos, "before": {r["id"]: None for r in self._review}}
        self._writer.label(ids, cur["label"], "bulk", reason=f"similar to {cur['id']}", tag=tag)
        self._review = []
        self.reviewChanged.emit()

    # ---- closing the round --------------------------------------------------------------------
    @Slot(int)
    def nextBatch(self, budget: int = 50) -> None:
        """Select the next batch in the background, then label it."""
        self._start("selecting the next batch", select_job, self._path, int(budget),
                    then=lambda v: self.loadQueue("batch", ""))

    @Slot()
    def trainNow(self) -> None:
        """Train a round in the background; labeling goes on; suggestions refresh after."""
        from .label_model import load_training_stack

        load_training_stack()  # torch is imported on the GUI thread only (no-op once loaded)
        self._start("training", train_job, self._path, then=lambda v: self._refresh_suggestions())

    def _start(self, what: str, fn: Any, *args: Any, then: Any) -> None:
        if not self._path or self._busy:
            return
        self._busy = what
        self.busyChanged.emit()

        def done(result: Any) -> None:
            self._busy = ""
            self.busyChanged.emit()
            if isinstance(result, Ok):
                then(result.value)
        self._jobs().start(what, fn, *args, on_result=done)

    def _refresh_suggestions(self) -> None:
        if self._reader is not None:
            self._post("suggestions", self._reader.suggestions([i["id"] for i in self._items]), gen=-1)

    def _refresh_labels(self, tries: int = 25) -> None:
        """Re-read the queue items' current labels (after a class rename or merge, or labels
        given outside the app).

        The read starts only when no own label is waiting to commit, and its result is
        dropped (and the read repeated) if a label was given meanwhile: a stale read must
        never show an image as it was before the user's own key press."""
        if self._reader is None:
            return
        writer = self._writer
        if writer is not None and writer.pending:
            if tries > 0:
                QTimer.singleShot(200, lambda: self._refresh_labels(tries - 1))
            return
        mark = writer.requested if writer is not None else 0
        ids = [i["id"] for i in self._items]
        self._post("labels", self._reader.submit(lambda p: (mark, ids, labels_of(p, ids))), gen=-1)

    @Slot("QVariantMap")
    def refreshFromDisk(self, change: dict[str, Any]) -> None:
        """Show what changed outside the app (``ProjectModel.changedOutside``) without moving:
        the queue's labels, the classes, fresh suggestions after a new round. The queue itself
        stays; a new batch is announced, not swapped in under the user's hands."""
        change = dict(change)
        if change.get("classes"):
            self.reloadClasses()
        if change.get("labels") or change.get("classes"):
            self._refresh_labels()
        if change.get("rounds"):
            self._refresh_suggestions()
        if change.get("batches") and self._kind == "batch":
            self._set_message("a new batch was selected outside the app: choose the current batch "
                              "in the queue menu to label it")
