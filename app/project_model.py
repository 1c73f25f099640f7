"""``ProjectModel``: the open project, recent projects, settings and pipeline actions.

Every action snapshots its inputs (the project path, plain values) and runs as a job on the
:class:`JobRunner`; the worker opens its own ``Project`` and returns a snapshot that this
model applies on the GUI thread. Properties notify only when their value changes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Property, QObject, QSettings, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtQml import QmlElement

from classkit.engine.config import RESERVED_LABELS

from . import project_jobs as jobs
from .jobs import Err, JobRunner, Ok, Result
from .project_watch import ProjectWatcher

QML_IMPORT_NAME = "ClassKit.Backend"
QML_IMPORT_MAJOR_VERSION = 1

log = logging.getLogger(__name__)
RECENT_KEY = "recentProjects"
MAX_RECENT = 10
_ARTIFACTS = ("hasEmbeddings", "hasIndex", "hasMap", "hasClusters")


def local_path(text: str) -> str:
    """A local path from what QML hands over: a plain path or a ``file:`` URL."""
    text = (text or "").strip()
    return QUrl(text).toLocalFile() if text.startswith("file:") else text


@QmlElement
class ProjectModel(QObject):
    """View model of the shell: project lifecycle, status, settings, pipeline jobs."""

    runnerChanged = Signal()
    pathChanged = Signal()
    statusChanged = Signal()
    settingsChanged = Signal()
    artifactsChanged = Signal()
    recentProjectsChanged = Signal()
    revisionChanged = Signal()
    labelRevisionChanged = Signal()  # labels changed (the app's own or others'), counted again
    artifactsUpdated = Signal()  # a new embeddings/map/clusters version of the same project
    errorOccurred = Signal(str, str)  # message, detail (for problems found before a job starts)
    projectOpened = Signal(str)
    exportFinished = Signal(str, str)  # export folder, summary (counts and warnings)
    labelsImported = Signal(str)  # what a label CSV import did, for people
    # another process (the CLI) changed the project: labels (count), a flag per part, text
    changedOutside = Signal("QVariantMap")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner: JobRunner | None = None
        self._path = ""
        self._name = ""
        self._status: dict[str, Any] = {}
        self._settings: dict[str, Any] = {}
        self._artifacts = dict.fromkeys(_ARTIFACTS, False)
        self._versions: dict[str, str] = {}
        self._switches = 0  # open/create requests so far: a slower, older one never wins
        self._revision = 0
        self._label_revision = 0
        self._models: list[str] | None = None
        self._watcher = ProjectWatcher(self)
        self._watcher.changed.connect(self._changed_outside)
        self._watcher.labelsCounted.connect(self._labels_counted)

    # ----------------------------------------------------------------- properties
    def _get_runner(self) -> JobRunner | None:
        return self._runner

    def _set_runner(self, runner: JobRunner | None) -> None:
        if runner is not self._runner:
            self._runner = runner
            self.runnerChanged.emit()

    runner = Property(QObject, _get_runner, _set_runner, notify=runnerChanged)
    path = Property(str, lambda self: self._path, notify=pathChanged)
    name = Property(str, lambda self: self._name, notify=pathChanged)
    isOpen = Property(bool, lambda self: bool(self._path), notify=pathChanged)
    status = Property("QVariantMap", lambda self: self._status, notify=statusChanged)
    classes = Property("QVariantList", lambda self: self._status.get("classes", []), notify=statusChanged)
    def _get_counts(self) -> dict[str, int]:
        out = {k: int(self._status.get(k, 0)) for k in ("images", "labeled", "duplicates", "ingest_issues")}
        out["sources"] = len(self._status.get("sources", []))  # status lists the sources
        return out

    counts = Property("QVariantMap", _get_counts, notify=statusChanged)
    settings = Property("QVariantMap", lambda self: self._settings, notify=settingsChanged)
    hasEmbeddings = Property(bool, lambda self: self._artifacts["hasEmbeddings"], notify=artifactsChanged)
    hasIndex = Property(bool, lambda self: self._artifacts["hasIndex"], notify=artifactsChanged)
    hasMap = Property(bool, lambda self: self._artifacts["hasMap"], notify=artifactsChanged)
    hasClusters = Property(bool, lambda self: self._artifacts["hasClusters"], notify=artifactsChanged)
    revision = Property(int, lambda self: self._revision, notify=revisionChanged)
    labelRevision = Property(int, lambda self: self._label_revision, notify=labelRevisionChanged)

    def _get_models(self) -> list[str]:
        if self._models is None:
            try:
                self._models = jobs.model_names()
            except Exception as exc:  # a broken registry: say so, offer no models
                log.exception("cannot list the bundled models")
                self._models = []
                self.errorOccurred.emit(f"cannot list the bundled models: {exc}", "")
        return self._models

    models = Property("QVariantList", _get_models, constant=True)
    sourceKinds = Property("QVariantList", lambda self: jobs.source_kinds(), constant=True)
    exportFormats = Property("QVariantList", lambda self: jobs.export_formats(), constant=True)

    def _get_recent(self) -> list[str]:
        value = QSettings().value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    recentProjects = Property("QVariantList", _get_recent, notify=recentProjectsChanged)

    # ----------------------------------------------------------------- project lifecycle
    @Slot(str)
    def openProject(self, folder: str) -> None:
        """Open the project in ``folder`` (a path or file URL); errors go to ``jobFailed``."""
        path = local_path(folder)
        if not path:
            self.errorOccurred.emit("choose a project folder to open", "")
            return
        self._start("Open project", jobs.open_job, path, switch=True, then=self.refresh, lane="light")

    @Slot(str, str, str)
    def createProject(self, folder: str, name: str, classesCsv: str) -> None:
        """Create a project in ``folder`` with comma-separated classes, then open it."""
        path = local_path(folder)
        if not path:
            self.errorOccurred.emit("choose a folder for the new project", "")
            return
        classes = [c.strip() for c in classesCsv.split(",") if c.strip()]
        self._start("Create project", jobs.create_job, path, name.strip(), classes, switch=True,
                    lane="light")

    @Slot()
    def closeProject(self) -> None:
        self._apply({"path": "", "name": "", "status": {}, "settings": {},
                     **dict.fromkeys(_ARTIFACTS, False)})

    @Slot()
    def refresh(self) -> None:
        if self._require_open():
            self._start("Project status", jobs.open_job, self._path, True, lane="light")

    @Slot()
    def stopWatching(self) -> None:
        """Stop checking for changes made outside the app (at shutdown)."""
        self._watcher.stop()

    def _labels_counted(self, counts: dict[str, int]) -> None:
        """Fresh label counts (labels given in the app or elsewhere): the shell's "Labeled"
        and per-class counts follow without a full status refresh."""
        if not self._status:
            return
        known = {c.get("name") for c in self._status.get("classes", [])} | set(RESERVED_LABELS)
        if set(counts) - known:  # a class added or renamed since the status was read
            self.refresh()
            return
        status = {**self._status, "labeled": sum(counts.values()),
                  "classes": [{**c, "count": counts.get(c.get("name"), 0)}
                              for c in self._status.get("classes", [])]}
        if "status_labels" in status:
            status["status_labels"] = {k: n for k, n in counts.items() if k in RESERVED_LABELS}
        if status != self._status:
            self._status = status
            self.statusChanged.emit()
        self._label_revision += 1
        self.labelRevisionChanged.emit()

    def _changed_outside(self, change: dict[str, Any]) -> None:
        self.refresh()  # counts, settings, artifact versions (the Explorer reloads on new ones)
        self.changedOutside.emit(change)

    @Slot(str)
    def removeRecent(self, path: str) -> None:
        recent = [p for p in self._get_recent() if p != path]
        QSettings().setValue(RECENT_KEY, recent)
        self.recentProjectsChanged.emit()

    # ----------------------------------------------------------------- pipeline
    @Slot("QVariantList", str)
    def ingest(self, sources: list[Any], kind: str) -> None:
        paths = [local_path(str(s)) for s in sources if str(s).strip()]
        if not paths:
            self.errorOccurred.emit("choose at least one source to ingest", "")
        elif self._require_open():
            self._start("Ingest", jobs.ingest_job, self._path, paths, kind or "auto")

    @Slot(str)
    def embed(self, modelName: str) -> None:
        if self._require_open():
            self._start(f"Embed ({modelName or 'default model'})", jobs.embed_job, self._path, modelName)

    @Slot()
    def buildThumbnails(self) -> None:
        if self._require_open():
            self._start("Thumbnails", jobs.thumbs_job, self._path)

    @Slot()
    def buildIndex(self) -> None:
        if self._require_embeddings():
            self._start("Index", jobs.index_job, self._path)

    @Slot()
    def computeMap(self) -> None:
        if self._require_embeddings():
            self._start("Map", jobs.map_job, self._path)

    @Slot()
    def cluster(self) -> None:
        if self._require_embeddings():
            self._start("Cluster", jobs.cluster_job, self._path)

    @Slot(str, str, "QVariantMap")
    def exportDataset(self, fmt: str, out: str, options: dict[str, Any]) -> None:
        """``classkit export`` from the app. ``options``: link (copy/hardlink/symlink),
        include (list of unsure/junk/skip/unlabeled), includePredicted (confidence, 0 = off),
        skipMissing, allowEmptySplits, upright. Ends with ``exportFinished`` or the runner's jobFailed."""
        folder = local_path(out) if out.strip() else ""
        if fmt not in jobs.export_formats():
            self.errorOccurred.emit(f"unknown export format {fmt!r}", "")
            return
        if not folder:
            self.errorOccurred.emit("choose a folder to export into", "")
            return
        if not self._require_open():
            return
        opts = dict(options)
        conf = float(opts.get("includePredicted") or 0.0)
        tree = jobs.is_tree_format(fmt)
        kwargs = {"link": str(opts.get("link") or "copy") if tree else "copy",
                  "include": tuple(str(s) for s in opts.get("include") or ()),
                  "include_predicted": conf if conf > 0 else None,
                  "skip_missing": bool(opts.get("skipMissing")),
                  "allow_empty_splits": bool(opts.get("allowEmptySplits")),
                  "upright": bool(opts.get("upright")) and tree}

        def finished(result: dict[str, Any]) -> None:
            lines = [f"Exported {result['images']} image(s) as {result['format']} "
                     f"(label snapshot {result['snapshot']}) to {result['path']}"]
            if result["skipped"]:
                lines.append(f"{result['skipped']} missing or unreadable image(s) left out "
                             "(see the manifest)")
            lines += result["warnings"]
            self.exportFinished.emit(result["path"], "\n".join(lines))

        self._start(f"Export ({fmt})", jobs.export_job, self._path, fmt, folder, kwargs, on_value=finished)

    @Slot(str)
    def importLabels(self, csv_file: str) -> None:
        """``classkit label --csv`` from the app: label images from a CSV (columns path or id,
        and label). Ends with ``labelsImported`` or the runner's jobFailed (nothing written)."""
        path = local_path(csv_file)
        if not path:
            self.errorOccurred.emit("choose a CSV file with path (or id) and label columns", "")
            return
        if not self._require_open():
            return

        def finished(summary: dict[str, Any]) -> None:
            from classkit.engine.labels import summary_lines

            self.labelsImported.emit("\n".join(summary_lines(summary)))

        self._start("Import labels", jobs.import_labels_job, self._path, path, on_value=finished)

    @Slot(str, bool)
    def exportPredictions(self, csv_file: str, allImages: bool) -> None:  # noqa: N803
        """``classkit predict --out``: the current predictions (unlabeled images unless
        ``allImages``) as ``id,path,predicted,confidence``; ends with ``exportFinished``."""
        path = local_path(csv_file)
        if not path:
            self.errorOccurred.emit("choose a file to write the predictions to", "")
            return
        if not self._require_open():
            return

        def finished(result: dict[str, Any]) -> None:
            lines = [f"Wrote {result['count']} prediction(s) (version {result['version']}) "
                     f"to {result['out']}"]
            lines += [f"{name}: {n}" for name, n in result["by_class"].items()]
            self.exportFinished.emit(str(Path(result["out"]).parent), "\n".join(lines))

        self._start("Export predictions", jobs.predictions_job, self._path, path, bool(allImages),
                    on_value=finished)

    @Slot(str)
    def openFolder(self, folder: str) -> None:
        """Show a folder in the desktop's file manager (any characters in its path)."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    @Slot("QVariantMap")
    def saveSettings(self, changes: dict[str, Any]) -> None:
        """Validate and store changed settings in the project (bad values show an error)."""
        changes = {k: v for k, v in dict(changes).items() if self._settings.get(k) != v}
        changes = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in changes.items()}
        if changes and self._require_open():
            self._start("Save settings", jobs.settings_job, self._path, changes, lane="light")

    # ----------------------------------------------------------------- helpers
    def _require_open(self) -> bool:
        if not self._path:
            self.errorOccurred.emit("open or create a project first", "")
        return bool(self._path)

    def _require_embeddings(self) -> bool:
        if self._require_open() and not self._artifacts["hasEmbeddings"]:
            self.errorOccurred.emit("this project has no embeddings yet: run Embed first"
                                    if int(self._status.get("images", 0)) else
                                    "this project has no images yet: add some with Pipeline > Ingest… "
                                    "first, then Embed", "")
            return False
        return bool(self._path)

    def _start(self, name: str, fn: Any, *args: Any, switch: bool = False,
               then: Callable[[], None] | None = None, lane: str = "heavy",
               on_value: Callable[[Any], None] | None = None) -> int:
        if self._runner is None:
            self.errorOccurred.emit("internal error: no job runner is connected", "")
            return -1
        target = self._path
        if switch:
            self._switches += 1
        ticket = self._switches

        def done(result: Result) -> None:
            if isinstance(result, Ok):
                snap = result.value["snapshot"]
                # Only the latest open/create switches; others apply to the project they ran on.
                if (switch and ticket == self._switches) or (not switch and target == self._path):
                    self._apply(snap)
                    if then is not None:
                        then()
                if on_value is not None:  # the job's own result, whichever project is open now
                    on_value(result.value["result"])
            elif isinstance(result, Err) and switch and not result.cancelled:
                log.warning("could not open %s: %s", args[0], result.message)

        return self._runner.start(name, fn, *args, on_result=done, lane=lane)

    def _apply(self, snap: dict[str, Any]) -> None:
        """Take over a snapshot; each property group notifies only if it changed."""
        opened = snap["path"] and snap["path"] != self._path
        same_project = snap["path"] == self._path
        if (snap["path"], snap["name"]) != (self._path, self._name):
            if snap["path"] != self._path:
                if snap["path"]:
                    self._watcher.start(snap["path"])
                else:
                    self._watcher.stop()
            self._path, self._name = snap["path"], snap["name"]
            self.pathChanged.emit()
        if snap["status"] != self._status:
            self._status = snap["status"]
            self.statusChanged.emit()
        if snap["settings"] != self._settings:
            self._settings = snap["settings"]
            self.settingsChanged.emit()
        artifacts = {k: bool(snap[k]) for k in _ARTIFACTS}
        if artifacts != self._artifacts:
            self._artifacts = artifacts
            self.artifactsChanged.emit()
        versions = snap.get("versions", {})
        if versions != self._versions:
            self._versions = versions
            if same_project:
                self.artifactsUpdated.emit()
        self._revision += 1
        self.revisionChanged.emit()
        if opened:
            self._remember(snap["path"])
            self.projectOpened.emit(snap["path"])

    def _remember(self, path: str) -> None:
        recent = [path, *[p for p in self._get_recent() if p != path]][:MAX_RECENT]
        if recent != self._get_recent():
            QSettings().setValue(RECENT_KEY, recent)
            self.recentProjectsChanged.emit()
