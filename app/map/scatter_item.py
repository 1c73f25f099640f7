"""ScatterItem: the Explorer map as a QQuickItem drawing scenegraph points with LOD.

Pan and zoom change only the transform node's matrix. What is drawn follows the level of
detail in :mod:`classkit.engine.mapview.lod`: every visible point when they fit the
budget; otherwise a fixed shuffled subsample while the view moves, and once the view has
been idle for ``IDLE_MS`` a plan for that view (density image + sparse points, or the
points in view up to the cap) computed on a worker thread.
The item reads its data from ``model`` (an ExplorerModel: ``layer()``, ``highlight_rows()``,
``layerChanged``, ``highlightChanged``) and reports hover/click/lasso back to it.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PySide6.QtCore import Property, QObject, QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QMatrix4x4
from PySide6.QtQml import QmlElement
from PySide6.QtQuick import QQuickItem, QSGNode, QSGRendererInterface, QSGTransformNode

from classkit.engine.mapview.layer import MapLayer
from classkit.engine.mapview.lod import VERTEX_DTYPE, LodParams

from .material import PointMaterial
from .nodes import image_from_rgba, points_node, splat_image, texture_node

QML_IMPORT_NAME = "ClassKit.Map"
QML_IMPORT_MAJOR_VERSION = 1

IDLE_MS = 150
MIN_ZOOM, MAX_ZOOM = 0.25, 20_000.0
FIT = 0.86  # at zoom 1 the unit square spans this fraction of the shorter side
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classkit-map-lod")


@QmlElement
class ScatterItem(QQuickItem):
    """Round points with level of detail; view = (centerX, centerY, zoom)."""

    viewChanged = Signal()
    modelChanged = Signal()
    renderStateChanged = Signal()
    pointSizeChanged = Signal()
    interactingChanged = Signal()
    fitInsetChanged = Signal()
    _planReady = Signal(object)

    def __init__(self, parent: QQuickItem | None = None) -> None:
        super().__init__(parent)
        self.setFlag(QQuickItem.Flag.ItemHasContents, True)
        self.setFlag(QQuickItem.Flag.ItemIsFocusScope, True)
        self.setActiveFocusOnTab(True)
        self._model: QObject | None = None
        self._layer: MapLayer | None = None
        self._cx, self._cy, self._zoom = 0.5, 0.5, 1.0
        self._fit_inset = 0.0    # px on the right kept clear by the fitted view (the legend)
        self._fitted = True      # the view is the fit (re-fitted on resize) until the user moves it
        self._point_px = 5.0
        self._params = LodParams()
        self._interacting = False
        self._moving = False
        self._gen = 0            # bumps whenever the layer changes
        self._plan: dict[str, Any] | None = None    # {gen, view, vertices, image, rect, in_view}
        self._base: np.ndarray | None = None        # all points (small layers) or the subsample
        self._pending = False
        self._shown: tuple[Any, ...] = ()           # what the current child nodes display
        self._nodes: list[Any] = []                 # Python-owned child nodes and textures
        self._hl_nodes: list[Any] = []
        self._main: QSGNode | None = None           # group nodes under the transform
        self._hl: QSGNode | None = None
        self._highlight: np.ndarray = np.zeros(0, np.int64)
        self._highlight_dirty = True
        self._hl_version = 0
        self._lod_mode = "empty"
        self._drawn = 0
        self._materials = (PointMaterial(self._point_px), PointMaterial(self._point_px + 5, 0.3))
        self._idle = QTimer(self, singleShot=True, interval=IDLE_MS)
        self._idle.timeout.connect(self._on_idle)
        self._planReady.connect(self._on_plan, Qt.ConnectionType.QueuedConnection)
        self.widthChanged.connect(self._on_geometry)
        self.heightChanged.connect(self._on_geometry)
        self.visibleChanged.connect(self.update)

    # ---- properties ------------------------------------------------------------------
    def _get_model(self) -> QObject | None:
        return self._model

    def _set_model(self, model: QObject | None) -> None:
        if model is self._model:
            return
        if self._model is not None:
            try:
                self._model.layerChanged.disconnect(self._on_layer)
                self._model.highlightChanged.disconnect(self._on_highlight)
            except RuntimeError:  # the model was destroyed first (view teardown)
                pass
        self._model = model
        if model is not None:
            model.layerChanged.connect(self._on_layer)
            model.highlightChanged.connect(self._on_highlight)
        self.modelChanged.emit()
        self._on_layer()

    model = Property(QObject, _get_model, _set_model, notify=modelChanged)

    def _get_point_size(self) -> float:
        return self._point_px

    def _set_point_size(self, px: float) -> None:
        if px != self._point_px:
            self._point_px = float(px)
            self._shown = ()
            self.pointSizeChanged.emit()
            self.update()

    pointSize = Property(float, _get_point_size, _set_point_size, notify=pointSizeChanged)

    def _get_budget(self) -> int:
        return self._params.point_cap

    def _set_budget(self, cap: int) -> None:
        self._params = LodParams(int(cap), min(self._params.interact_cap, int(cap)),
                                 self._params.sparse_max, self._params.bin_px)
        self._on_layer()

    pointBudget = Property(int, _get_budget, _set_budget, notify=renderStateChanged)

    def _get_interacting(self) -> bool:
        return self._interacting

    def _set_interacting(self, on: bool) -> None:
        if on != self._interacting:
            self._interacting = bool(on)
            self.interactingChanged.emit()
            if on:
                self._start_moving()
            else:
                self._idle.start()

    interacting = Property(bool, _get_interacting, _set_interacting, notify=interactingChanged)

    def _get_fit_inset(self) -> float:
        return self._fit_inset

    def _set_fit_inset(self, px: float) -> None:
        px = max(0.0, float(px))
        if px != self._fit_inset:
            self._fit_inset = px
            self.fitInsetChanged.emit()
            if self._fitted:
                self._set_view(*self._fit_view())

    fitInsetRight = Property(float, _get_fit_inset, _set_fit_inset, notify=fitInsetChanged)
    centerX = Property(float, lambda s: s._cx, notify=viewChanged)
    centerY = Property(float, lambda s: s._cy, notify=viewChanged)
    zoom = Property(float, lambda s: s._zoom, notify=viewChanged)
    lodMode = Property(str, lambda s: s._lod_mode, notify=renderStateChanged)
    drawnPoints = Property(int, lambda s: s._drawn, notify=renderStateChanged)
    busy = Property(bool, lambda s: s._pending or s._idle.isActive(), notify=renderStateChanged)

    # ---- view math ---------------------------------------------------------------------
    def _scale(self) -> float:
        return self._zoom * FIT * max(min(self.width(), self.height()), 1.0)

    def view_rect(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the view in data coordinates."""
        s = self._scale()
        hw, hh = self.width() / 2 / s, self.height() / 2 / s
        return self._cx - hw, self._cy - hh, self._cx + hw, self._cy + hh

    @Slot(float, float, result=QPointF)
    def mapToData(self, x: float, y: float) -> QPointF:  # noqa: N802
        s = self._scale()
        return QPointF(self._cx + (x - self.width() / 2) / s, self._cy + (y - self.height() / 2) / s)

    @Slot(float, float, result=QPointF)
    def mapFromData(self, x: float, y: float) -> QPointF:  # noqa: N802
        s = self._scale()
        return QPointF((x - self._cx) * s + self.width() / 2, (y - self._cy) * s + self.height() / 2)

    def _matrix(self) -> QMatrix4x4:
        s = self._scale()
        m = QMatrix4x4()
        m.translate(self.width() / 2 - self._cx * s, self.height() / 2 - self._cy * s)
        m.scale(s, s)
        return m

    # ---- navigation slots ---------------------------------------------------------------
    @Slot(float, float)
    def panBy(self, dx: float, dy: float) -> None:  # noqa: N802
        """Move the content by (dx, dy) item pixels."""
        self._fitted = False
        s = self._scale()
        self._set_view(self._cx - dx / s, self._cy - dy / s, self._zoom)

    @Slot(float, float, float)
    def zoomAt(self, factor: float, x: float, y: float) -> None:  # noqa: N802
        """Zoom by ``factor`` keeping the data point under item pixel (x, y) fixed."""
        if factor <= 0:
            return
        self._fitted = False
        p = self.mapToData(x, y)
        z = min(max(self._zoom * factor, MIN_ZOOM), MAX_ZOOM)
        s = z * FIT * max(min(self.width(), self.height()), 1.0)
        self._set_view(p.x() - (x - self.width() / 2) / s, p.y() - (y - self.height() / 2) / s, z)

    @Slot()
    def resetView(self) -> None:  # noqa: N802
        """Fit the whole map, clear of ``fitInsetRight`` (the legend), and keep it fitted
        through resizes until the user pans or zooms."""
        self._fitted = True
        self._set_view(*self._fit_view())

    def _fit_view(self) -> tuple[float, float, float]:
        """(cx, cy, zoom) that shows the unit square in the item minus the right inset (at
        most half the width), centred there."""
        w, h = max(self.width(), 1.0), max(self.height(), 1.0)
        free = max(w - self._fit_inset, 0.5 * w)
        base = min(w, h)
        zoom = min(free, h) / base
        return 0.5 + (w - free) / (2 * zoom * FIT * base), 0.5, zoom

    def geometryChange(self, new: QRectF, old: QRectF) -> None:  # noqa: N802
        super().geometryChange(new, old)
        if self._fitted:
            self._set_view(*self._fit_view())

    def _set_view(self, cx: float, cy: float, zoom: float) -> None:
        if (cx, cy, zoom) == (self._cx, self._cy, self._zoom):
            return
        self._cx, self._cy, self._zoom = cx, cy, zoom
        self.viewChanged.emit()
        self._start_moving()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        step = 0.1 * max(min(self.width(), self.height()), 1.0)
        key, cx, cy = event.key(), self.width() / 2, self.height() / 2
        moves = {Qt.Key.Key_Left: (step, 0), Qt.Key.Key_Right: (-step, 0),
                 Qt.Key.Key_Up: (0, step), Qt.Key.Key_Down: (0, -step)}
        if key in moves:
            self.panBy(*moves[key])
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoomAt(1.25, cx, cy)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoomAt(0.8, cx, cy)
        elif key == Qt.Key.Key_0:
            self.resetView()
        else:
            event.ignore()
            return
        event.accept()

    # ---- picking and selection ------------------------------------------------------------
    def pick_row(self, x: float, y: float, radius_px: float | None = None) -> int:
        """Row of the visible point under item pixel (x, y), or -1."""
        if self._layer is None:
            return -1
        p = self.mapToData(x, y)
        r = (radius_px if radius_px is not None else max(self._point_px, 6.0)) / self._scale()
        return self._layer.pick(p.x(), p.y(), r)

    @Slot(float, float, result=int)
    def hoverAt(self, x: float, y: float) -> int:  # noqa: N802
        row = self.pick_row(x, y)
        if self._model is not None:
            self._model.set_hovered_row(row)
        return row

    @Slot(float, float, result=int)
    def clickAt(self, x: float, y: float) -> int:  # noqa: N802
        row = self.pick_row(x, y)
        if self._model is not None:
            self._model.select_row(row)
        return row

    @Slot("QVariantList", result=int)
    def lassoSelect(self, points: list) -> int:  # noqa: N802
        """Add the visible points inside the polygon (item pixels) to the basket; how many."""
        if self._layer is None or len(points) < 3:
            return 0
        poly = np.array([[self.mapToData(p.x(), p.y()).x(), self.mapToData(p.x(), p.y()).y()]
                         for p in points], np.float64)
        return self._add_rows(self._layer.lasso(poly))

    @Slot(float, float, float, float, result=int)
    def rectSelect(self, x0: float, y0: float, x1: float, y1: float) -> int:  # noqa: N802
        if self._layer is None:
            return 0
        a, b = self.mapToData(x0, y0), self.mapToData(x1, y1)
        return self._add_rows(self._layer.rect((a.x(), a.y(), b.x(), b.y())))

    def _add_rows(self, rows: np.ndarray) -> int:
        if self._model is not None and rows.size:
            self._model.add_rows_to_basket(rows)
        return int(rows.size)

    # ---- level of detail ------------------------------------------------------------------
    def _small(self) -> bool:
        return self._layer is not None and self._layer.visible_count <= self._params.point_cap

    def _on_layer(self) -> None:
        self._layer = self._model.layer() if self._model is not None else None
        self._gen += 1
        self._plan, self._base, self._shown = None, None, ()
        if self._layer is not None:
            lay = self._layer
            self._base = lay.vertices(lay.all_visible() if self._small()
                                      else lay.subsample(self._params.interact_cap))
            if not self._small():
                self._request_plan()
        self._on_highlight()

    def _on_highlight(self) -> None:
        rows = self._model.highlight_rows() if self._model is not None else np.zeros(0, np.int64)
        self._highlight = np.asarray(rows, np.int64)
        self._highlight_dirty = True
        self._hl_version += 1
        self.update()

    def _on_geometry(self) -> None:
        self._start_moving()

    def _start_moving(self) -> None:
        if not self._small():
            self._moving = True
        self._idle.start()
        self.renderStateChanged.emit()
        self.update()

    def _on_idle(self) -> None:
        if self._interacting:
            self._idle.start()
            return
        self._moving = False
        if self._layer is not None and not self._small():
            self._request_plan()
        self.renderStateChanged.emit()
        self.update()

    def _request_plan(self) -> None:
        lay, view, gen, params = self._layer, self.view_rect(), self._gen, self._params
        viewport = (max(int(self.width()), 1), max(int(self.height()), 1))
        self._pending = True

        def work() -> None:
            try:
                plan = lay.plan(view, viewport, params)
                out = {"gen": gen, "view": view, "vertices": lay.vertices(plan.indices),
                       "image": None if plan.image is None else image_from_rgba(plan.image),
                       "rect": plan.rect, "in_view": plan.in_view}
            except Exception as exc:  # noqa: BLE001 - reported on the GUI thread, never lost
                out = {"gen": gen, "error": exc}
            self._planReady.emit(out)

        _WORKER.submit(work)

    def _on_plan(self, plan: dict[str, Any]) -> None:
        if plan["gen"] != self._gen:
            return
        self._pending = False
        if "error" in plan:
            raise plan["error"]
        if plan["view"] == self.view_rect():
            self._plan = plan
            self._moving = False
        elif not self._idle.isActive() and not self._interacting:
            self._request_plan()  # the view moved while computing: plan again for the new one
        self.renderStateChanged.emit()
        self.update()

    def _choose(self) -> tuple[str, Any, np.ndarray | None]:
        """(mode, key, vertices) of what to draw now."""
        if self._layer is None or self._base is None:
            return "empty", None, None
        if self._small():
            return "points", ("base", self._gen), self._base
        plan = self._plan
        if not self._moving and plan is not None and plan["gen"] == self._gen:
            mode = "density" if plan["image"] is not None else "points"
            return mode, ("plan", id(plan)), plan["vertices"]
        return "subsample", ("base", self._gen), self._base

    # ---- scenegraph -----------------------------------------------------------------------
    def updatePaintNode(self, old: QSGNode | None, _data: Any) -> QSGNode:  # noqa: N802
        root = old if isinstance(old, QSGTransformNode) else QSGTransformNode()
        if not self.isVisible():
            # Hidden behind another view: draw nothing. Qt's software renderer painted nodes
            # built while hidden (a reload after training) over the view in front; the nodes
            # are rebuilt when the map is shown again (``visibleChanged`` asks for it).
            root.removeAllChildNodes()
            self._main = self._hl = None
            self._nodes, self._hl_nodes, self._shown = [], [], ()
            self._highlight_dirty = True
            return root
        software = (self.window().rendererInterface().graphicsApi()
                    == QSGRendererInterface.GraphicsApi.Software)
        # the software renderer loses textures under a scaling transform inside a clip:
        # there everything is drawn in item pixels instead
        root.setMatrix(QMatrix4x4() if software else self._matrix())
        dpr = self.window().effectiveDevicePixelRatio() if self.window() else 1.0
        self._materials[0].set_size(self._point_px, dpr)
        self._materials[1].set_size(self._point_px + 5, dpr)
        mode, key, verts = self._choose()
        shown = (key, self._point_px, dpr)
        if root.childCount() == 0:
            self._main, self._hl = QSGNode(), QSGNode()
            self._shown = ()              # a new scenegraph (e.g. another window): rebuild
            for group in (self._main, self._hl):
                group.setFlag(QSGNode.Flag.OwnedByParent, False)
                root.appendChildNode(group)
        if software:                      # no custom geometry there: redraw an image per view
            shown = (*shown, self.view_rect(), self._hl_version)
        if shown != self._shown:          # what the view draws changed: rebuild the main nodes
            self._main.removeAllChildNodes()
            self._nodes = []
            if mode == "density" and self._plan is not None:
                rect = self._plan["rect"]
                if software:
                    a, b = self.mapFromData(rect[0], rect[1]), self.mapFromData(rect[2], rect[3])
                    rect = (a.x(), a.y(), b.x(), b.y())
                tex_node, tex = texture_node(self.window(), self._plan["image"], rect)
                self._nodes += [tex_node, tex]
            if software:
                self._nodes += list(self._software_nodes(verts))
            elif verts is not None and len(verts):
                self._nodes.append(points_node(verts, self._materials[0]))
            for n in self._nodes:
                if isinstance(n, QSGNode):
                    self._main.appendChildNode(n)
            self._shown = shown
            self._highlight_dirty = True
            drawn = 0 if verts is None else len(verts)
            if (mode, drawn) != (self._lod_mode, self._drawn):
                self._lod_mode, self._drawn = mode, drawn
                self.renderStateChanged.emit()  # queued to the GUI thread under a threaded loop
        if self._highlight_dirty and not software:  # hover / selection / basket: the small node
            self._hl.removeAllChildNodes()
            self._hl_nodes = []
            hl = self._highlight_vertices()
            if len(hl):
                self._hl_nodes.append(points_node(hl, self._materials[1]))
                self._hl.appendChildNode(self._hl_nodes[0])
            self._highlight_dirty = False
        return root

    def _highlight_vertices(self) -> np.ndarray:
        rows = self._highlight[self._highlight >= 0]
        if self._layer is None or not rows.size:
            return np.zeros(0, VERTEX_DTYPE)
        return self._layer.vertices(rows[rows < len(self._layer)])

    def _software_nodes(self, verts: np.ndarray | None) -> tuple[Any, ...]:
        """Qt's software backend: the points (and highlights) splatted into one texture."""
        view = self.view_rect()
        main = verts if verts is not None else np.zeros(0, VERTEX_DTYPE)
        image = splat_image(view, (int(self.width()), int(self.height())),
                            [(main, self._point_px, 0.0),
                             (self._highlight_vertices(), self._point_px + 5, 0.3)])
        return texture_node(self.window(), image, (0.0, 0.0, self.width(), self.height()))
