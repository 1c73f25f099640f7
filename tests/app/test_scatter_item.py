"""ExplorerView / ScatterItem interaction with pytest-qt (offscreen): keys, wheel, drag,
touch pinch, trackpad native zoom, lasso, rectangle, click-to-select, hover, LOD modes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QInputDevice, QMouseEvent, QNativeGestureEvent, QWheelEvent
from PySide6.QtQuick import QQuickView
from PySide6.QtTest import QTest

from classkit.app.map import register_image_providers
from classkit.app.map.loader import MapData
from classkit.app.map.scatter_item import FIT

W, H = 900, 600


def grid_data(n_side: int = 20, seed: int = 0) -> MapData:
    """n_side² points on a regular grid in [0.05, 0.95]², labels cycling through 3 classes."""
    g = np.linspace(0.05, 0.95, n_side, dtype=np.float32)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    n = len(xy)
    labels = (np.arange(n) % 4) - 1  # -1, 0, 1, 2
    return MapData(root=None, ids=np.arange(100, 100 + n, dtype=np.int64), coords=xy, labels=labels,
                   classes=["a", "b", "c"], clusters=np.arange(n) % 5)


@pytest.fixture
def view(qtbot, qml_dir):
    v = QQuickView()
    v.engine().addImportPath(str(qml_dir))
    register_image_providers(v.engine())
    v.setResizeMode(QQuickView.ResizeMode.SizeRootObjectToView)
    v.resize(W, H)
    v.loadFromModule("ClassKit.Map", "ExplorerView")
    assert not v.errors(), [e.toString() for e in v.errors()]
    root = v.rootObject()
    root.setProperty("showContextPanel", False)
    v.show()
    qtbot.waitExposed(v)
    yield v
    v.close()
    v.deleteLater()


def parts(view):
    root = view.rootObject()
    return root.findChild(QObject, "explorerModel"), root.findChild(QObject, "scatter")


def load(qtbot, view, data: MapData | None = None):
    model, scatter = parts(view)
    model.setData(data or grid_data())
    qtbot.waitUntil(lambda: model.status == "ready" and scatter.lodMode != "empty", timeout=5000)
    return model, scatter


def screen_of(scatter, x: float, y: float) -> QPoint:
    p = scatter.mapToScene(scatter.mapFromData(x, y))
    return QPoint(round(p.x()), round(p.y()))


def test_empty_state_without_project(qtbot, view):
    model, scatter = parts(view)
    assert model.status == "empty"
    label = view.rootObject().findChild(QObject, "emptyState")
    assert label.property("visible") and "No project" in label.property("text")
    assert not scatter.isVisible()


def test_keys_pan_zoom_reset(qtbot, view):
    _, scatter = load(qtbot, view)
    scatter.forceActiveFocus()
    z0 = scatter.zoom
    QTest.keyClick(view, Qt.Key.Key_Plus)
    assert scatter.zoom == pytest.approx(z0 * 1.25)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    assert scatter.zoom == pytest.approx(z0 * 0.8)
    cx = scatter.centerX
    QTest.keyClick(view, Qt.Key.Key_Right)
    assert scatter.centerX > cx
    cy = scatter.centerY
    QTest.keyClick(view, Qt.Key.Key_Up)
    assert scatter.centerY < cy
    QTest.keyClick(view, Qt.Key.Key_0)
    assert_fitted_clear_of_legend(scatter)


def assert_fitted_clear_of_legend(scatter) -> None:
    """The unit square fills the item minus the legend's inset, centred in what is left."""
    inset = scatter.property("fitInsetRight")
    assert inset > 100  # the legend is shown
    free = scatter.width() - inset
    left, right = scatter.mapFromData(0.0, 0.5).x(), scatter.mapFromData(1.0, 0.5).x()
    top, bottom = scatter.mapFromData(0.5, 0.0).y(), scatter.mapFromData(0.5, 1.0).y()
    assert -1 <= left and right <= free + 1 and abs((left + right) / 2 - free / 2) < 1
    assert -1 <= top and bottom <= scatter.height() + 1
    assert max(right - left, bottom - top) > 0.8 * min(free, scatter.height())  # and fills it


def test_fitted_view_follows_resizes_until_moved(qtbot, view):
    _, scatter = load(qtbot, view)
    assert_fitted_clear_of_legend(scatter)
    view.resize(W + 200, H + 100)
    qtbot.waitUntil(lambda: view.width() == W + 200)
    qtbot.wait(50)
    assert_fitted_clear_of_legend(scatter)
    scatter.panBy(40.0, 0.0)
    moved = (scatter.centerX, scatter.centerY, scatter.zoom)
    view.resize(W, H)
    qtbot.waitUntil(lambda: view.width() == W)
    qtbot.wait(50)
    assert (scatter.centerX, scatter.centerY, scatter.zoom) == moved


def _wheel(view, pos: QPoint, dy: int, mods=Qt.KeyboardModifier.NoModifier):
    ev = QWheelEvent(QPointF(pos), QPointF(view.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, dy),
                     Qt.MouseButton.NoButton, mods, Qt.ScrollPhase.NoScrollPhase, False)
    QCoreApplication.sendEvent(view, ev)


def test_wheel_pans_and_ctrl_wheel_zooms_about_cursor(qtbot, view):
    _, scatter = load(qtbot, view)
    pos = QPoint(300, 200)
    cy, z = scatter.centerY, scatter.zoom
    _wheel(view, pos, -240)                       # scroll down: content moves up
    assert scatter.zoom == z and scatter.centerY > cy
    anchor = scatter.mapToData(pos.x(), pos.y())
    _wheel(view, pos, 240, Qt.KeyboardModifier.ControlModifier)
    assert scatter.zoom > z
    after = scatter.mapToData(pos.x(), pos.y())
    assert after.x() == pytest.approx(anchor.x(), abs=1e-6)
    assert after.y() == pytest.approx(anchor.y(), abs=1e-6)


def test_drag_pans(qtbot, view):
    _, scatter = load(qtbot, view)
    cx, cy = scatter.centerX, scatter.centerY
    start = QPoint(400, 300)
    QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 11):
        QTest.mouseMove(view, start + QPoint(10 * i, 5 * i))
        QTest.qWait(5)
    end = start + QPoint(100, 50)
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    s = scatter.zoom * FIT * min(scatter.width(), scatter.height())
    # the drag threshold eats a few pixels before the handler activates
    assert cx - scatter.centerX == pytest.approx(100 / s, rel=0.25)
    assert cy - scatter.centerY == pytest.approx(50 / s, rel=0.35)


def test_touch_pinch_zooms(qtbot, view):
    _, scatter = load(qtbot, view)
    dev = QTest.createTouchDevice()
    z = scatter.zoom
    c = QPoint(400, 300)
    QTest.touchEvent(view, dev).press(0, c - QPoint(40, 0), view).press(1, c + QPoint(40, 0), view).commit()
    for i in range(1, 11):
        QTest.qWait(10)
        QTest.touchEvent(view, dev).move(0, c - QPoint(40 + 8 * i, 0), view).move(
            1, c + QPoint(40 + 8 * i, 0), view).commit()
    QTest.touchEvent(view, dev).release(0, c - QPoint(120, 0), view).release(
        1, c + QPoint(120, 0), view).commit()
    assert z * 1.5 < scatter.zoom < z * 3.5   # 80 px -> 240 px apart, less the drag threshold


def test_native_zoom_gesture_zooms(qtbot, view):
    _, scatter = load(qtbot, view)
    pad = QTest.createTouchDevice(QInputDevice.DeviceType.TouchPad)
    z = scatter.zoom
    pos = QPointF(450, 300)
    gpos = QPointF(view.mapToGlobal(pos.toPoint()))

    def send(kind: Qt.NativeGestureType, value: float) -> None:
        ev = QNativeGestureEvent(kind, pad, 2, pos, pos, gpos, value, QPointF(0, 0))
        QCoreApplication.sendEvent(view, ev)
        QTest.qWait(5)

    send(Qt.NativeGestureType.BeginNativeGesture, 0)
    for _ in range(5):
        send(Qt.NativeGestureType.ZoomNativeGesture, 0.1)
    send(Qt.NativeGestureType.EndNativeGesture, 0)
    assert scatter.zoom > z * 1.3


def test_click_selects_and_hover_reports(qtbot, view):
    model, scatter = load(qtbot, view)
    data = grid_data()
    row = 57
    p = screen_of(scatter, *data.coords[row])
    QTest.mouseMove(view, p)
    qtbot.waitUntil(lambda: model.hoveredId == int(data.ids[row]), timeout=3000)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p)
    qtbot.waitUntil(lambda: model.selectedId == int(data.ids[row]), timeout=3000)
    assert model.selectedInfo["label"] == "a"     # labels cycle -1, 0, 1, 2: row 57 -> 0
    step = 0.9 / 19                              # grid spacing: click between four points
    far = screen_of(scatter, 0.05 + 9.5 * step, 0.05 + 9.5 * step)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, far)
    qtbot.waitUntil(lambda: model.selectedId == -1, timeout=3000)


def _drag_path(view, points, mods):
    """Press, move through ``points`` and release, every event carrying ``mods``
    (QTest.mouseMove cannot send modifiers)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, p: QPoint, button: Qt.MouseButton, buttons: Qt.MouseButton) -> None:
        pos = QPointF(p)
        ev = QMouseEvent(kind, pos, pos, QPointF(view.mapToGlobal(p)), button, buttons, mods)
        QCoreApplication.sendEvent(view, ev)
        QTest.qWait(5)

    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        send(QEvent.Type.MouseMove, p, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def test_lasso_and_rectangle_fill_the_basket(qtbot, view):
    model, scatter = load(qtbot, view)
    data = grid_data()
    # a lasso (Shift+drag) around the data square [0.3, 0.5]²: a ring of points
    corners = [(0.3, 0.3), (0.5, 0.3), (0.5, 0.5), (0.3, 0.5), (0.3, 0.3)]
    path = []
    for (ax, ay), (bx, by) in zip(corners, corners[1:], strict=False):
        path += [screen_of(scatter, ax + (bx - ax) * t / 6, ay + (by - ay) * t / 6) for t in range(6)]
    path.append(path[0])
    _drag_path(view, path, Qt.KeyboardModifier.ShiftModifier)
    inside = ((data.coords >= 0.3) & (data.coords <= 0.5)).all(1)
    qtbot.waitUntil(lambda: model.basketCount > 0, timeout=3000)
    got = set(model.basket)
    want = set(data.ids[inside].tolist())
    strict = set(data.ids[((data.coords > 0.31) & (data.coords < 0.49)).all(1)].tolist())
    assert strict <= got <= want, (len(got), len(want))
    model.clearBasket()
    # a rectangle (Ctrl+drag) over [0.6, 0.8]²
    a, b = screen_of(scatter, 0.6, 0.6), screen_of(scatter, 0.8, 0.8)
    _drag_path(view, [a + QPoint(0, 0), a + QPoint(20, 20), b], Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: model.basketCount > 0, timeout=3000)
    rect_in = set(data.ids[((data.coords >= 0.6) & (data.coords <= 0.8)).all(1)].tolist())
    assert len(set(model.basket) ^ rect_in) <= 8  # pixel rounding at the edges
    model.clearBasket()
    view.rootObject().setProperty("tool", "lasso")   # the toolbar's lasso tool: no modifier
    _drag_path(view, path, Qt.KeyboardModifier.NoModifier)
    qtbot.waitUntil(lambda: model.basketCount > 0, timeout=3000)
    assert strict <= set(model.basket) <= want


def test_level_of_detail_modes(qtbot, view):
    rng = np.random.default_rng(0)
    n = 60_000
    xy = np.clip(rng.normal(0.5, 0.1, (n, 2)), 0, 1).astype(np.float32)
    data = MapData(None, np.arange(n, dtype=np.int64), xy, rng.integers(-1, 3, n), ["a", "b", "c"])
    model, scatter = parts(view)
    scatter.setProperty("pointBudget", 5000)
    model.setData(data)
    qtbot.waitUntil(lambda: scatter.lodMode == "density", timeout=10_000)
    assert 0 < scatter.drawnPoints <= 5000
    scatter.setProperty("interacting", True)
    scatter.panBy(10, 0)
    qtbot.waitUntil(lambda: scatter.lodMode == "subsample", timeout=3000)
    assert scatter.drawnPoints <= 5000
    scatter.setProperty("interacting", False)
    for _ in range(6):
        scatter.zoomAt(2.0, scatter.width() / 2, scatter.height() / 2)
    qtbot.waitUntil(lambda: scatter.lodMode == "points" and not scatter.busy, timeout=10_000)
    assert 0 < scatter.drawnPoints <= 5000


def test_software_backend_fallback_draws_points(qtbot, view):
    """Offscreen Qt Quick uses the software backend (no custom geometry): the item splats
    its points into a texture instead, so screenshots and headless runs still show the map."""
    from PySide6.QtGui import QImage
    from PySide6.QtQuick import QSGRendererInterface
    if view.rendererInterface().graphicsApi() != QSGRendererInterface.GraphicsApi.Software:
        pytest.skip("this run renders with a GPU API; the pixel test covers it")
    model, scatter = load(qtbot, view)
    data = grid_data()
    qtbot.wait(50)
    img = view.grabWindow().convertToFormat(QImage.Format.Format_RGBA8888)
    a = np.array(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    bg = a[5, W // 2, :3].astype(int)  # no point near the top edge
    hits = 0
    for x, y in data.coords:
        p = screen_of(scatter, float(x), float(y))
        hits += int(np.abs(a[p.y(), p.x(), :3].astype(int) - bg).max() > 30)
    assert hits == len(data.coords)


def test_legend_and_colour_mode_controls_follow_the_model(qtbot, view):
    model, _ = load(qtbot, view)
    root = view.rootObject()
    legend = root.findChild(QObject, "legendList")
    combo = root.findChild(QObject, "colorMode")
    qtbot.waitUntil(lambda: legend.property("count") == 5, timeout=3000)   # a, b, c, unlabeled, marked
    assert combo.property("count") == 5 and combo.property("currentText") == "Label"
    model.colorMode = "status"
    qtbot.waitUntil(lambda: legend.property("count") == 3, timeout=3000)
    assert combo.property("currentText") == "Labeled / unlabeled"
    model.colorMode = "cluster"
    qtbot.waitUntil(lambda: legend.property("count") == 6, timeout=3000)   # 5 clusters + "no cluster"
    assert model.legend[-1]["name"] == "no cluster" and model.legend[-1]["count"] == 0

