"""BatchView.qml (offscreen): the batch list's first row is whole at the top of the list, on the
first show and when the view comes back after the list was scrolled (the batch reloads then)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPointF
from PySide6.QtQml import QQmlComponent, QQmlEngine
from PySide6.QtQuick import QQuickItem

from classkit.engine.demo import CLASSES, make_demo_data
from classkit.engine.ingest.pipeline import ingest
from classkit.engine.project import Project


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 demo images, all in one active-learning batch (rows as ``select`` writes them)."""
    root = tmp_path_factory.mktemp("batch")
    tree = make_demo_data(root / "data", per_class=10)["imagefolder"]
    with Project.create(root / "p", classes=list(CLASSES)) as p:
        ingest(p, [tree])
        ids = [int(r[0]) for r in p.db.execute("SELECT id FROM images ORDER BY id")]
        with p.db:
            batch = p.db.execute("INSERT INTO batches(round, created_at) VALUES (1, ?)",
                                 (time.time(),)).lastrowid
            p.db.executemany("INSERT INTO batch_items(batch_id, rank, image_id, reason, score) "
                             "VALUES (?,?,?,?,?)",
                             [(batch, r, i, "uncertainty: margin", 0.5) for r, i in enumerate(ids)])
    return root / "p"


@pytest.fixture
def batch_view(batched: Path, qtbot, qml_dir: Path) -> Iterator[QQuickItem]:
    """A window holding only a (hidden) BatchView on ``batched``. The view is held here for the
    whole test: a wrapper from ``property()`` that Python drops takes the item with it."""
    from classkit.app import batch_model, main  # noqa: F401 - registers the types and providers
    from classkit.app.label import image_provider
    from classkit.app.map import register_image_providers

    engine = QQmlEngine()
    engine.addImportPath(str(qml_dir))
    main._register_label(engine)
    image_provider.register(engine)
    register_image_providers(engine)
    comp = QQmlComponent(engine)
    comp.setData(b'import QtQuick\nimport QtQuick.Window\nimport ClassKit\n'
                 b'Window { width: 900; height: 500; visible: true; property Item view: v\n'
                 b'  property QtObject proj: proj\n'
                 b'  QtObject { id: proj; property string path: ""; property bool isOpen: path !== "" }\n'
                 b'  BatchView { id: v; anchors.fill: parent; project: proj; visible: false }\n'
                 b'  property Item scrollTarget: null; property real scrollTo: 0\n'
                 b'  Timer { objectName: "scroller"; interval: 0\n'
                 b'          onTriggered: scrollTarget.contentY = scrollTo } }',
                 "")
    win = comp.create()
    assert win is not None, comp.errorString()
    qtbot.waitExposed(win)
    win.property("proj").setProperty("path", str(batched))
    view = win.property("view")
    yield view
    qtbot.waitUntil(lambda: not _loading(view), timeout=10_000)  # no image read left in flight
    view.property("model").close()
    win.close()
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del engine


def _loading(root: QQuickItem) -> bool:
    """Whether a thumbnail under ``root`` is still loading (its status enum does not convert)."""
    todo = [root]
    while todo:
        it = todo.pop()
        if it.objectName() == "batchThumb" and it.property("progress") < 1.0:
            return True
        todo.extend(it.childItems())
    return False


def _show(view: QQuickItem, qtbot) -> tuple[QQuickItem, QObject]:
    """Show the view (which reloads the batch); the list and its model once rows are laid out."""
    model = view.property("model")
    with qtbot.waitSignal(model.queueChanged, timeout=20_000):
        view.setProperty("visible", True)
    lst = view.findChild(QQuickItem, "batchList")
    qtbot.waitUntil(lambda: lst.property("count") == model.property("total") > 0, timeout=10_000)
    for _ in range(5):  # let the deferred positioning and the layouts settle
        QCoreApplication.processEvents()
        qtbot.wait(20)
    qtbot.waitUntil(lambda: not _loading(view), timeout=10_000)
    return lst, model


def _scroll(view: QQuickItem, lst: QQuickItem, y: float, qtbot) -> None:
    """Scroll ``lst`` from QML's event loop, as user input does. (Setting contentY from Python
    once deadlocked against the pixmap reader thread; app/provider_prime.py fixed that and
    tests/app/test_provider_gil.py covers it.)"""
    win = view.window()
    win.setProperty("scrollTarget", lst)
    win.setProperty("scrollTo", y)
    win.findChild(QObject, "scroller").setProperty("running", True)
    qtbot.waitUntil(lambda: lst.property("contentY") == y, timeout=5_000)


def _row0(lst: QQuickItem) -> tuple[QQuickItem, QQuickItem]:
    """The first row and its thumbnail."""
    todo = list(lst.childItems())
    while todo:
        it = todo.pop()
        if it.objectName() == "batchRow_0":
            return it, next(c for c in it.childItems() if c.objectName() == "batchThumb")
        todo.extend(it.childItems())
    raise AssertionError("row 0 is not instantiated: the list is not at its start")


def _assert_first_row_whole(lst: QQuickItem) -> None:
    row, thumb = _row0(lst)
    top = thumb.mapToItem(lst, QPointF(0, 0)).y()
    assert lst.property("atYBeginning")
    assert top >= 0, f"the first thumbnail starts {-top:.0f} px above the list's visible top"
    assert row.mapToItem(lst, QPointF(0, 0)).y() >= 0
    assert top + thumb.height() <= lst.height()


def test_first_row_whole_on_first_show(batch_view: QQuickItem, qtbot) -> None:
    lst, _ = _show(batch_view, qtbot)
    _assert_first_row_whole(lst)


def test_first_row_whole_when_the_view_comes_back(batch_view: QQuickItem, qtbot) -> None:
    lst, _ = _show(batch_view, qtbot)
    assert lst.property("contentHeight") > lst.height()  # the batch scrolls
    _scroll(batch_view, lst, 5.5 * 40, qtbot)  # half-way into a row
    batch_view.setProperty("visible", False)
    lst, _ = _show(batch_view, qtbot)  # the reloaded batch opens at its start, first row whole
    _assert_first_row_whole(lst)
