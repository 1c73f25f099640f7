"""ClassModel: the class editor's view model (add, rename, recolour, rebind, describe, merge,
delete). Edits run on the label writer's thread, in order with label commits, then the
workbench reloads its classes and queue labels."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.config import ClassDef, default_class_defs
from classkit.engine.labels.class_ops import delete_class, merge_classes, rename_class
from classkit.engine.project import Project

from .label_model import LabelModel

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1


class _Bridge(QObject):
    done = Signal(object)


@QmlElement
class ClassModel(QObject):
    """Class edits for the open project, routed through a LabelModel's writer."""

    labelModelChanged = Signal()
    examplesChanged = Signal()
    messageChanged = Signal()
    edited = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._label: LabelModel | None = None
        self._examples: dict[str, list[int]] = {}
        self._message = ""
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._on_done)

    def _set_label(self, model: LabelModel | None) -> None:
        self._label = model
        self.labelModelChanged.emit()

    labelModel = Property(QObject, lambda s: s._label, _set_label, notify=labelModelChanged)
    examples = Property("QVariantMap", lambda s: dict(s._examples), notify=examplesChanged)
    message = Property(str, lambda s: s._message, notify=messageChanged)

    def _run(self, fn: Any) -> None:
        writer = None if self._label is None else self._label._writer
        if writer is None:
            return
        writer.call(fn).add_done_callback(lambda f: self._bridge.done.emit(f))

    def _on_done(self, fut: Any) -> None:
        out = fut.result()  # the writer's envelope never raises
        self._message = "" if out.get("ok") else str(out.get("error"))
        self.messageChanged.emit()
        if out.get("ok") and isinstance(out.get("result"), dict) and "examples" in out["result"]:
            self._examples = out["result"]["examples"]
            self.examplesChanged.emit()
        if self._label is not None:
            self._label.reloadClasses()
            self._label._refresh_labels()
        self.edited.emit()

    @Slot(str, str, str, str)
    def add(self, name: str, key: str, color: str, description: str) -> None:
        def work(p: Project) -> int:
            d = default_class_defs([name], {c.key for c in p.classes() if c.key},
                                   first_color=len(p.classes()))[0]
            return len(p.add_classes([ClassDef(name=name.strip(), key=key or d.key, color=color or d.color,
                                               description=description)]))
        self._run(work)

    @Slot(str, str)
    def rename(self, old: str, new: str) -> None:
        self._run(lambda p: rename_class(p, old, new))

    @Slot(str, str)
    def recolour(self, name: str, color: str) -> None:
        self._run(lambda p: p.update_class(name, color=color).name)

    @Slot(str, str)
    def setKey(self, name: str, key: str) -> None:  # noqa: N802
        self._run(lambda p: p.update_class(name, key=key).name)

    @Slot(str, str)
    def describe(self, name: str, description: str) -> None:
        self._run(lambda p: p.update_class(name, description=description).name)

    @Slot(str, str)
    def merge(self, source: str, target: str) -> None:
        self._run(lambda p: merge_classes(p, source, target))

    @Slot(str, bool)
    def remove(self, name: str, clear: bool) -> None:
        self._run(lambda p: delete_class(p, name, clear=clear))

    @Slot()
    def loadExamples(self) -> None:  # noqa: N802
        """Up to 6 example image ids per class (its most recent labels)."""
        def work(p: Project) -> dict[str, Any]:
            out: dict[str, list[int]] = {}
            for c in p.classes():
                out[c.name] = [int(r[0]) for r in p.db.execute(
                    "SELECT image_id FROM current_labels WHERE label=? ORDER BY created_at DESC LIMIT 6",
                    (c.name,))]
            return {"examples": out}
        self._run(work)
