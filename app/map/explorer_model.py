"""ExplorerModel: the Explorer view's view model (colour modes, legend, filters,
hover/selection, neighbours, the batch basket). Loading runs on a private QThreadPool;
results come back through a queued signal, so the GUI thread never blocks on the project.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement

from classkit.engine.mapview import colors
from classkit.engine.mapview.layer import MapLayer
from classkit.engine.mapview.lod import front_first, shuffled_order
from classkit.engine.mapview.pick import PointGrid

from . import thumbs_provider
from .loader import MapData, NoMap, current_labels, image_details, load_map_data

QML_IMPORT_NAME = "ClassKit.Map"
QML_IMPORT_MAJOR_VERSION = 1
log = logging.getLogger(__name__)
LABEL_FILTERS = ("all", "labeled", "unlabeled", "marked")
SYNC_GRID_MAX = 100_000


@QmlElement
class ExplorerModel(QObject):
    """Holds the map's arrays; QML binds to its properties, ScatterItem reads ``layer()``."""

    layerChanged = Signal()
    highlightChanged = Signal()
    stateChanged = Signal()
    legendChanged = Signal()
    filtersChanged = Signal()
    hoverChanged = Signal()
    selectionChanged = Signal()
    basketChanged = Signal()
    _done = Signal(str, int, object)   # (kind, ticket, result or exception), queued to the GUI

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # One Python worker thread (project access is serialised). Not QRunnable.create: a
        # QThreadPool running Python closures corrupted the heap now and then at startup.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classkit-map")
        self._futures: list[Future] = []
        self._done.connect(self._finish)
        self._tickets = {"load": 0, "details": 0, "grid": 0, "labels": 0}
        self._status, self._message, self._path = "empty", "No project open.", ""
        self._data: MapData | None = None
        self._grid: PointGrid | None = None
        self._order = np.zeros(0, np.int64)
        self._shuffled = self._order
        self._row_of: dict[int, int] = {}
        self._mode = colors.LABEL
        self._coloring: colors.Coloring | None = None
        self._hidden: set[int] = set()
        self._layer: MapLayer | None = None
        self._cluster, self._label_filter, self._pred = -1, "all", -1
        self._umin, self._umax = 0.0, 1.0
        self._hover_row, self._sel_row = -1, -1
        self._details: dict[str, Any] = {}
        self._basket: list[int] = []

    # ---- background work --------------------------------------------------------------------
    def _run(self, kind: str, fn: Callable[[], Any]) -> None:
        self._tickets[kind] += 1
        ticket = self._tickets[kind]

        def job() -> None:
            try:
                res: Any = fn()
            except Exception as exc:  # noqa: BLE001 - handed to the GUI thread and shown
                res = exc
            self._done.emit(kind, ticket, res)

        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(job))

    def _finish(self, kind: str, ticket: int, res: object) -> None:
        if ticket != self._tickets[kind]:
            return  # superseded by a newer request
        if kind == "load":
            if isinstance(res, NoMap):
                self._set_status("nomap", str(res))
            elif isinstance(res, Exception):
                log.error("cannot load the map of %s: %s", self._path, res, exc_info=res)
                self._set_status("error", f"Cannot load the map: {res}")
            else:
                self.setData(res)
        elif kind == "labels":
            if isinstance(res, Exception):
                log.error("cannot refresh labels: %s", res, exc_info=res)
            elif res is not None and self._data is not None and len(res[1]) == len(self._data.ids):
                self._data.labels_mark, labels = res
                self._data.labels = labels
                self._order = front_first(self._shuffled, labels != -1)
                self._details = {**self._details, **self._info(self._sel_row)}
                self.selectionChanged.emit()
                self._recolor()
        elif kind == "grid":
            self._grid = res if isinstance(res, PointGrid) else None
            if self._layer is not None:
                self._layer.grid = self._grid
        elif kind == "details":
            if isinstance(res, Exception):
                self._details = {**self._details, "error": str(res)}
            else:
                self._details = {**self._details, **res}
            self.selectionChanged.emit()

    @Slot(result=bool)
    def waitForIdle(self) -> bool:  # noqa: N802
        """Block until queued background work finished (tests, benchmarks)."""
        return not wait(list(self._futures), timeout=60).not_done

    # ---- loading ------------------------------------------------------------------------------
    @Slot(str)
    def openProject(self, path: str) -> None:  # noqa: N802
        """Load the current map of the project at ``path`` off the GUI thread ('' closes)."""
        self._path = path or ""
        thumbs_provider.set_project(self._path or None)
        self._clear()
        if not self._path:
            self._set_status("empty", "No project open.")
            return
        self._set_status("loading", "Loading the map…")
        root = self._path
        self._run("load", lambda: load_map_data(root))

    @Slot()
    def reload(self) -> None:
        self.openProject(self._path)

    @Slot()
    def refreshLabels(self) -> None:  # noqa: N802
        """Re-read only the current labels (keeps the view, selection and basket)."""
        self._read_labels(None)

    @Slot()
    def refreshLabelsIfChanged(self) -> None:  # noqa: N802
        """:meth:`refreshLabels` when a label was given since the map's labels were read
        (the Explorer coming back into view after labeling elsewhere); else one indexed read."""
        if self._data is not None:
            self._read_labels(self._data.labels_mark)

    def _read_labels(self, since: int | None) -> None:
        d = self._data
        if d is not None and self._path:
            root, ids, classes = self._path, d.ids, list(d.classes)
            self._run("labels", lambda: current_labels(root, ids, classes, since))

    def setData(self, data: MapData) -> None:  # noqa: N802
        """Show ``data`` (also the entry point for tests and benchmarks with fake data)."""
        self._data = data
        self._shuffled = shuffled_order(len(data.ids))
        self._order = front_first(self._shuffled, np.asarray(data.labels) != -1)  # labeled on top
        if len(data.ids) > SYNC_GRID_MAX:   # ~0.1-0.5 s at 1M: built off the GUI thread
            self._grid = None
            coords = data.coords
            self._run("grid", lambda: PointGrid(coords))
        else:
            self._tickets["grid"] += 1      # a grid still being built for older data is dropped
            self._grid = PointGrid(data.coords)
        self._row_of = {int(i): r for r, i in enumerate(data.ids)}
        self._hover_row = self._sel_row = -1
        if self._mode in (colors.PREDICTED, colors.UNCERTAINTY) and data.probs is None:
            self._mode = colors.LABEL
        msg = "; ".join(data.notes)
        self._set_status("ready" if len(data.ids) else "nomap",
                         msg if len(data.ids) else "The map is empty: no embedded images.")
        self._recolor()

    def _clear(self) -> None:
        self._data, self._grid, self._layer, self._coloring = None, None, None, None
        self._hover_row = self._sel_row = -1
        self._details, self._basket, self._hidden = {}, [], set()
        for sig in (self.layerChanged, self.legendChanged, self.hoverChanged, self.selectionChanged,
                    self.basketChanged, self.highlightChanged):
            sig.emit()

    def _set_status(self, status: str, message: str) -> None:
        self._status, self._message = status, message
        self.stateChanged.emit()

    # ---- colours, legend, filters -------------------------------------------------------------
    def _recolor(self) -> None:
        d = self._data
        if d is None:
            return
        self._coloring = colors.build_coloring(self._mode, d.labels, d.classes, d.probs, d.clusters,
                                               d.class_colors)
        self._hidden = {h for h in self._hidden if h < len(self._coloring.names)}
        self.legendChanged.emit()
        self._refilter()

    def _refilter(self) -> None:
        d, c = self._data, self._coloring
        if d is None or c is None:
            return
        vis = c.shown(self._hidden)
        if self._cluster >= 0 and d.clusters is not None:
            vis &= d.clusters == self._cluster
        if self._label_filter != "all":
            vis &= {"labeled": d.labels >= 0, "unlabeled": d.labels == -1,
                    "marked": d.labels == -2}[self._label_filter]
        if d.probs is not None:
            if self._pred >= 0:
                vis &= d.probs.argmax(1) == self._pred
            if self._umin > 0 or self._umax < 1:
                u = colors.uncertainty_of(d.probs)
                vis &= (u >= self._umin) & (u <= self._umax)
        self._layer = MapLayer(d.coords, c, vis, self._order, self._grid)
        self.filtersChanged.emit()
        self.layerChanged.emit()

    def layer(self) -> MapLayer | None:
        return self._layer

    def _set_mode(self, mode: str) -> None:
        if mode != self._mode and mode in colors.MODES:
            self._mode, self._hidden = mode, set()
            self.stateChanged.emit()
            self._recolor()

    @Slot(int)
    def toggleLegend(self, key: int) -> None:  # noqa: N802
        """Hide or show the points of one legend entry."""
        self._hidden ^= {int(key)}
        self.legendChanged.emit()
        self._refilter()

    @Slot()
    def showAll(self) -> None:  # noqa: N802
        self._hidden = set()
        self.legendChanged.emit()
        self._refilter()

    def _setter(attr: str, cast: Callable[[Any], Any]) -> Callable[[ExplorerModel, Any], None]:  # noqa: N805
        def set_(self: ExplorerModel, value: Any) -> None:
            if value is None or cast(value) == getattr(self, attr):
                return
            if attr == "_label_filter" and value not in LABEL_FILTERS:
                raise ValueError(f"label filter must be one of {LABEL_FILTERS}")
            setattr(self, attr, cast(value))
            self._refilter()
        return set_

    colorMode = Property(str, lambda s: s._mode, _set_mode, notify=stateChanged)
    clusterFilter = Property(int, lambda s: s._cluster, _setter("_cluster", int), notify=filtersChanged)
    labelFilter = Property(str, lambda s: s._label_filter, _setter("_label_filter", str),
                           notify=filtersChanged)
    predictedFilter = Property(int, lambda s: s._pred, _setter("_pred", int), notify=filtersChanged)
    uncertaintyMin = Property(float, lambda s: s._umin, _setter("_umin", float), notify=filtersChanged)
    uncertaintyMax = Property(float, lambda s: s._umax, _setter("_umax", float), notify=filtersChanged)
    del _setter

    # ---- read-only state for QML ----------------------------------------------------------------
    status = Property(str, lambda s: s._status, notify=stateChanged)
    message = Property(str, lambda s: s._message, notify=stateChanged)
    projectPath = Property(str, lambda s: s._path, notify=stateChanged)
    pointCount = Property(int, lambda s: 0 if s._data is None else len(s._data.ids), notify=layerChanged)
    visibleCount = Property(int, lambda s: 0 if s._layer is None else s._layer.visible_count,
                            notify=layerChanged)
    legend = Property("QVariantList", lambda s: [] if s._coloring is None else s._coloring.legend(s._hidden),
                      notify=legendChanged)
    classNames = Property("QVariantList", lambda s: [] if s._data is None else list(s._data.classes),
                          notify=layerChanged)
    clusterCount = Property(int, lambda s: 0 if s._data is None or s._data.clusters is None
                            else int(s._data.clusters.max()) + 1, notify=layerChanged)
    hasPredictions = Property(bool, lambda s: s._data is not None and s._data.probs is not None,
                              notify=layerChanged)

    @Property("QVariantList", notify=stateChanged)
    def colorModes(self) -> list[dict[str, Any]]:  # noqa: N802
        d = self._data
        names = {colors.STATUS: "Labeled / unlabeled", colors.LABEL: "Label",
                 colors.PREDICTED: "Predicted class", colors.UNCERTAINTY: "Uncertainty",
                 colors.CLUSTER: "Cluster"}
        ok = {colors.PREDICTED: d is not None and d.probs is not None,
              colors.UNCERTAINTY: d is not None and d.probs is not None,
              colors.CLUSTER: d is not None and d.clusters is not None}
        return [{"key": m, "name": names[m], "available": ok.get(m, True)} for m in colors.MODES]

    # ---- hover, selection, basket ---------------------------------------------------------------
    def _info(self, row: int) -> dict[str, Any]:
        d = self._data
        if d is None or row < 0:
            return {}
        lab = int(d.labels[row])
        out: dict[str, Any] = {"id": int(d.ids[row]), "row": row,
                               "label": d.classes[lab] if lab >= 0 else ("marked" if lab == -2 else None),
                               "predicted": None, "confidence": None,
                               "cluster": None if d.clusters is None else int(d.clusters[row])}
        if d.probs is not None:
            p = d.probs[row]
            out["predicted"], out["confidence"] = d.classes[int(p.argmax())], round(float(p.max()), 4)
        return out

    def set_hovered_row(self, row: int) -> None:
        if row != self._hover_row:
            self._hover_row = row
            self.hoverChanged.emit()
            self.highlightChanged.emit()

    @Slot()
    def clearHover(self) -> None:  # noqa: N802
        self.set_hovered_row(-1)

    def select_row(self, row: int) -> None:
        if row == self._sel_row:
            return
        self._sel_row = row
        self._details = self._info(row)
        if row >= 0 and self._path:
            root, image_id = self._path, self._details["id"]
            self._run("details", lambda: image_details(root, image_id))
        self.selectionChanged.emit()
        self.highlightChanged.emit()

    @Slot(int)
    def selectId(self, image_id: int) -> None:  # noqa: N802
        self.select_row(self._row_of.get(int(image_id), -1))

    def add_rows_to_basket(self, rows: np.ndarray) -> None:
        if self._data is None:
            return
        have = set(self._basket)
        picked = dict.fromkeys(int(i) for i in self._data.ids[np.asarray(rows, np.int64)])
        new = [i for i in picked if i not in have]
        if new:
            self._basket += new
            self.basketChanged.emit()
            self.highlightChanged.emit()

    @Slot()
    def clearBasket(self) -> None:  # noqa: N802
        if self._basket:
            self._basket = []
            self.basketChanged.emit()
            self.highlightChanged.emit()

    def highlight_rows(self) -> np.ndarray:
        rows = [self._row_of[i] for i in self._basket[:20_000] if i in self._row_of]
        return np.array(rows + [r for r in (self._hover_row, self._sel_row) if r >= 0], np.int64)

    hoveredId = Property(int, lambda s: s._info(s._hover_row).get("id", -1), notify=hoverChanged)
    hoveredInfo = Property("QVariantMap", lambda s: s._info(s._hover_row), notify=hoverChanged)
    selectedId = Property(int, lambda s: s._details.get("id", -1), notify=selectionChanged)
    selectedInfo = Property("QVariantMap", lambda s: {k: v for k, v in s._details.items()
                                                      if k != "neighbours"}, notify=selectionChanged)
    neighbours = Property("QVariantList", lambda s: s._details.get("neighbours", []), notify=selectionChanged)
    basket = Property("QVariantList", lambda s: list(s._basket), notify=basketChanged)
    basketCount = Property(int, lambda s: len(s._basket), notify=basketChanged)
