"""The label workbench's view model (offscreen): keys, auto-repeat, undo, accept, blind audit,
bulk review, class rename/merge, queue refresh after training, and LabelView.qml keys."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtQml import QQmlComponent, QQmlEngine
from PySide6.QtQuick import QQuickItem

from classkit.app.label.class_model import ClassModel
from classkit.app.label.label_model import LabelModel, reason_summary
from classkit.engine.demo import CLASSES, make_demo_data
from classkit.engine.embed.job import embed_project
from classkit.engine.embed.spec import resolve_model
from classkit.engine.ingest.pipeline import ingest
from classkit.engine.labels.events import add_labels, current_labels, label_history
from classkit.engine.labels.queue import build_queue
from classkit.engine.loop.rounds import train_round
from classkit.engine.loop.selection import select_for_project
from classkit.engine.project import Project


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 images per demo class, embedded (squeezenet), 8 per class labeled, trained, a batch."""
    root = tmp_path_factory.mktemp("label")
    tree = make_demo_data(root / "data", per_class=20)["imagefolder"]
    with Project.create(root / "p", classes=list(CLASSES)) as project:
        ingest(project, [tree])
        embed_project(project, resolve_model("squeezenet1.1"))
        truth = {int(i): Path(p).parent.name for i, p in project.db.execute("SELECT id, path FROM images")}
        for name in CLASSES:
            add_labels(project, sorted(i for i, c in truth.items() if c == name)[:8], name)
        train_round(project)
        select_for_project(project, 12, seed=0)
    return root / "p"


@pytest.fixture
def model(base: Path, tmp_path: Path, qtbot) -> Iterator[LabelModel]:
    path = tmp_path / "p"
    shutil.copytree(base, path)
    m = LabelModel()
    m.projectPath = str(path)
    qtbot.waitUntil(lambda: len(m.classes) == len(CLASSES), timeout=10_000)
    m.loadQueue("batch", "")
    qtbot.waitUntil(lambda: m.total > 0, timeout=10_000)
    yield m
    m.close()


def _labels(m: LabelModel) -> dict[int, str]:
    with Project.open(Path(m.projectPath)) as p:
        return current_labels(p)


def _wait_saved(m: LabelModel, qtbot) -> None:
    qtbot.waitUntil(lambda: m._writer is not None and m._writer.pending == 0, timeout=5_000)
    QCoreApplication.processEvents()


def test_keys_commit_advance_and_ignore_auto_repeat(model: LabelModel, qtbot) -> None:
    first = model.current["id"]
    key = model.classes[1]["key"]
    assert model.labelKey(key, False)
    assert model.position == 1
    assert model.labelKey(key, True)  # a held key: consumed, labels nothing
    assert model.position == 1
    assert not model.labelKey("q", False)  # not ours
    _wait_saved(model, qtbot)
    labels = _labels(model)
    assert labels[first] == model.classes[1]["name"]
    assert model.current["id"] not in labels or model.current["blind"]
    ev = [e for e in label_history(Project.open(Path(model.projectPath)), first)][-1]
    assert ev["source"] == "manual" and ev["lead_time_ms"] is not None and ev["lead_time_ms"] >= 0
    assert model.saveState.startswith("saved")
    model.labelKey("u", False)
    _wait_saved(model, qtbot)
    assert model.labelKey("backspace", False)  # undo: back to that item, label gone
    qtbot.waitUntil(lambda: model.position == 1, timeout=5_000)
    _wait_saved(model, qtbot)
    assert model.current["label"] is None
    model.labelKey("left", False)
    assert model.position == 0 and model.current["id"] == first
    qtbot.waitUntil(lambda: len(model.neighbours) > 0, timeout=10_000)
    nb = model.neighbours[0]
    assert {"id", "path", "similarity", "label"} <= set(nb)
    assert model.labelKey("neighbour0", False)  # Alt+1: the nearest neighbour, shown next
    assert model.position == 1 and model.current["id"] == nb["id"] and model.current["reason"] == "neighbour"


def test_accept_suggestion_and_blind_audit(model: LabelModel, qtbot) -> None:
    items = model.items
    assert any(i["suggestion"] for i in items)  # a model exists
    for pos, it in enumerate(items):
        model._show(pos)
        if it["blind"]:
            assert model.current["suggestion"] is None and model.current["confidence"] is None
            model.labelKey("a", False)  # no suggestion shown: A does nothing
            assert model.position == pos
        else:
            sugg = model.current["suggestion"]
            model.labelKey("a", False)
            _wait_saved(model, qtbot)
            assert _labels(model)[it["id"]] == sugg
            with Project.open(Path(model.projectPath)) as p:
                assert label_history(p, it["id"])[-1]["source"] == "accepted-suggestion"
    assert any(i["blind"] for i in items), "the batch has audit items"
    parts = [p.split(" ", 1) for p in model.reasonSummary.split(" · ")]
    assert sum(int(n) for n, _ in parts) == len(items) and "audit" in {r for _, r in parts}
    assert reason_summary([{"reason": "uncertainty:margin"}, {"reason": "audit:random audit"},
                           {"reason": "uncertainty:entropy"}, {"reason": None}]) == "2 uncertainty · 1 audit"


def test_bulk_review_grid(model: LabelModel, qtbot) -> None:
    model._show(0)
    cur = model.current["id"]
    name = model.classes[0]["name"]
    model.assign(name)
    _wait_saved(model, qtbot)
    model.previous()
    model.openSimilar(5)
    qtbot.waitUntil(lambda: len(model.reviewItems) == 5, timeout=10_000)
    before = _labels(model)
    assert not any(r["id"] in before for r in model.reviewItems)
    kept = [r["id"] for r in model.reviewItems][1:]  # the user removed one
    model.confirmSimilar(kept)
    _wait_saved(model, qtbot)
    after = _labels(model)
    assert all(after[i] == name for i in kept)
    dropped = [r for r in before] and None
    assert dropped is None
    with Project.open(Path(model.projectPath)) as p:
        hist = label_history(p, kept[0])[-1]
    assert hist["source"] == "bulk" and hist["reason"] == f"similar to {cur}"
    model.undo()  # the bulk action undoes as a whole
    _wait_saved(model, qtbot)
    assert not any(i in _labels(model) for i in kept)


def test_class_rename_merge_keep_labels(model: LabelModel, qtbot) -> None:
    editor = ClassModel()
    editor.labelModel = model
    a, b = model.classes[0]["name"], model.classes[1]["name"]
    n_a = sum(v == a for v in _labels(model).values())
    editor.rename(a, a + "_x")
    qtbot.waitUntil(lambda: any(c["name"] == a + "_x" for c in model.classes), timeout=5_000)
    assert sum(v == a + "_x" for v in _labels(model).values()) == n_a
    n_b = sum(v == b for v in _labels(model).values())
    editor.merge(a + "_x", b)
    qtbot.waitUntil(lambda: len(model.classes) == len(CLASSES) - 1, timeout=5_000)
    assert sum(v == b for v in _labels(model).values()) == n_a + n_b
    editor.remove(b, False)  # refused: images carry it
    qtbot.waitUntil(lambda: "image" in editor.message, timeout=5_000)
    assert len(model.classes) == len(CLASSES) - 1


def test_labels_given_elsewhere_show_in_place(model: LabelModel, qtbot) -> None:
    """Labels another process gave (the CLI) show on the queue's items without moving; a read
    that started before the user's own key press never undoes it on screen."""
    from concurrent.futures import Future

    from classkit.app.label.results import handle_result

    ids = [it["id"] for it in model.items]
    other, own = model.classes[0]["name"], model.classes[1]["name"]
    with Project.open(Path(model.projectPath)) as p:  # another connection, as the CLI's
        add_labels(p, ids[1:3], other, source="import")
    model.labelKey(model.classes[1]["key"], False)  # still committing as the refresh starts
    model.refreshFromDisk({"labels": 2})
    qtbot.waitUntil(lambda: [it["label"] for it in model.items[1:3]] == [other, other], timeout=5_000)
    assert model.items[0]["label"] == own and model.position == 1
    stale = Future()  # a read from before a key press: dropped, read again
    stale.set_result((model._writer.requested - 1, ids[:1], {}))
    handle_result(model, "labels", -1, stale)
    assert model.items[0]["label"] == own
    qtbot.wait(300)
    assert model.items[0]["label"] == own
    model.refreshFromDisk({"batches": True})
    assert "new batch" in model.message and model.position == 1


def test_a_finished_batch_opens_on_its_end(model: LabelModel, qtbot) -> None:
    """Every image of the batch labeled: loading it again opens on Next batch / Train now (the
    audits it keeps stay one Left away), not on an already-labeled audit image."""
    for _ in range(model.total):
        model.labelKey(model.classes[2]["key"], False)
    _wait_saved(model, qtbot)
    model.loadQueue("batch", "")
    qtbot.waitUntil(lambda: "batch is done" in model.message, timeout=10_000)
    assert model.total > 0 and model.atEnd and model.done == model.total
    assert not model.messageIsError  # a note, not an error
    model.labelKey("left", False)
    assert not model.atEnd and model.current["label"] is not None


def test_a_label_that_could_not_be_saved_says_so_as_an_error(model: LabelModel, qtbot) -> None:
    """A failed commit (a full disk) shows as an error and the image does not look labeled."""
    from classkit.app.label.results import handle_result

    item = model.items[0]
    tag = {"pos": 0, "before": {item["id"]: None}}
    model._items[0]["label"] = "square"  # shown at once, as a key press does
    handle_result(model, "written", -1, {"kind": "label", "ok": False, "error": "the disk is full",
                                         "tag": tag, "ids": [item["id"]]})
    assert model.message == "not saved: the disk is full" and model.messageIsError
    assert model.items[0]["label"] is None


def test_train_now_refreshes_suggestions(model: LabelModel, qtbot) -> None:
    for _ in range(model.total):
        model.labelKey(model.classes[2]["key"], False)
    _wait_saved(model, qtbot)
    assert model.atEnd
    with Project.open(Path(model.projectPath)) as p:
        rounds = p.db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    for it in model._items:  # stale suggestions: training must refresh them
        it["suggestion"] = it["confidence"] = None
    model.trainNow()
    assert model.busy == "training"
    model.labelKey("left", False)  # labeling goes on while training runs
    model.labelKey(model.classes[0]["key"], False)
    qtbot.waitUntil(lambda: model.busy == "", timeout=120_000)
    qtbot.waitUntil(lambda: any(i["suggestion"] for i in model.items), timeout=10_000)
    with Project.open(Path(model.projectPath)) as p:
        assert p.db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == rounds + 1
    model.nextBatch(6)
    qtbot.waitUntil(lambda: model.busy == "" and model.total == 6 and not model.atEnd, timeout=120_000)
    assert model.done < model.total


def test_label_view_qml_keys(base: Path, tmp_path: Path, qtbot, qml_dir: Path) -> None:
    from classkit.app import main  # registers the types and providers through create_engine's path
    from classkit.app.label import image_provider

    path = tmp_path / "p"
    shutil.copytree(base, path)
    with Project.open(path) as p:  # every image labeled, one wrongly: the out-of-fold heads catch it
        truth = {int(i): Path(f).parent.name for i, f in p.db.execute("SELECT id, path FROM images")}
        for name in CLASSES:
            add_labels(p, [i for i, c in truth.items() if c == name], name)
        victim = min(i for i, c in truth.items() if c == CLASSES[0])
        add_labels(p, [victim], CLASSES[1])
        train_round(p)
    engine = QQmlEngine()
    engine.addImportPath(str(qml_dir))
    main._register_label(engine)
    image_provider.register(engine)
    from classkit.app.map import register_image_providers
    register_image_providers(engine)
    comp = QQmlComponent(engine)
    comp.setData(b'import QtQuick\nimport QtQuick.Window\nimport ClassKit\n'
                 b'Window { width: 900; height: 600; visible: true; property Item view: v\n'
                 b'  property QtObject lm: v.model; property QtObject proj: proj\n'
                 b'  QtObject { id: proj; property string path: ""; property bool isOpen: path !== ""\n'
                 b'    property var runner: null; function refresh() {} }\n'
                 b'  LabelView { id: v; anchors.fill: parent; project: proj } }', "")
    win = comp.create()
    assert win is not None, comp.errorString()
    view, lm = win.property("view"), win.property("lm")
    win.property("proj").setProperty("path", str(path))
    qtbot.waitUntil(lambda: lm.property("total") > 0 and len(lm.property("classes")) == 3, timeout=10_000)
    view.forceActiveFocus()
    assert lm.property("atEnd")  # every image labeled: the finished batch opens on its end
    QCoreApplication.sendEvent(win, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Left,
                                              Qt.KeyboardModifier.NoModifier))
    assert lm.property("position") == 0  # Left: its audit, for a second look
    first = lm.property("current")["id"]
    key = lm.property("classes")[0]["key"]
    for auto in (False, True):
        ev = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_1 + int(key) - 1, Qt.KeyboardModifier.NoModifier,
                       key, auto)
        QCoreApplication.sendEvent(win, ev)
    assert lm.property("position") == 1
    QCoreApplication.sendEvent(win, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Z,
                                              Qt.KeyboardModifier.ControlModifier, "\x1a"))
    qtbot.waitUntil(lambda: lm.property("position") == 0, timeout=5_000)
    assert lm.property("current")["id"] == first
    big = view.findChild(QQuickItem, "bigImage")
    qtbot.waitUntil(lambda: big.property("progress") == 1.0 and big.property("paintedWidth") > 0,
                    timeout=10_000)  # decoded by the async "fullimage" provider
    # the queue menu's last entry: the current model's label-error suspects
    assert view.findChild(QObject, "queueSource").property("model")[-1] == "Label-error suspects"
    with Project.open(path) as p:
        want = [i.id for i in build_queue(p, "suspects")]
    assert victim in want
    view.loadSource(5)
    qtbot.waitUntil(lambda: lm.property("queueKind") == "suspects", timeout=10_000)
    assert lm.property("total") == len(want) and victim in [i["id"] for i in lm.property("upcoming")] + [
        lm.property("current")["id"]]
    counter = view.findChild(QObject, "counter")  # every suspect is labeled: the counter says where we are
    assert counter.property("text") == f"suspect 1 of {len(want)}"
    # labels changed elsewhere (File > Import labels): the same queue reloads, on the same image
    if lm.property("current")["id"] == victim and len(want) > 1:
        lm.next()
    here = lm.property("current")["id"]
    with Project.open(path) as p:
        add_labels(p, [victim], CLASSES[0], source="import")
    view.reloadQueue()
    qtbot.waitUntil(lambda: lm.property("total") == len(want) - 1, timeout=10_000)
    assert lm.property("queueKind") == "suspects"
    if here != victim:
        assert lm.property("current")["id"] == here
    lm.close()
    win.close()
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del engine


def test_main_window_label_view(base: Path, tmp_path: Path, qtbot, monkeypatch,
                                isolated_settings) -> None:  # noqa: ANN001
    """The real main window on a project: the Label view loads the batch and takes keys."""
    from classkit.app.main import create_engine, shutdown

    path = tmp_path / "p"
    shutil.copytree(base, path)
    engine = create_engine(path)
    win = engine.rootObjects()[0]
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.property("project").property("isOpen"), timeout=20_000)
    win.setProperty("currentView", 2)
    view = win.findChild(QQuickItem, "view_label")
    lm = view.property("model")
    assert lm.property("runner") is not None  # training goes to the app's job runner
    qtbot.waitUntil(lambda: lm.property("total") > 0, timeout=20_000)
    view.forceActiveFocus()
    key = lm.property("classes")[0]["key"]
    QCoreApplication.sendEvent(win, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_1 + int(key) - 1,
                                              Qt.KeyboardModifier.NoModifier, key, False))
    assert lm.property("position") == 1
    qtbot.waitUntil(lambda: lm.property("saveState").startswith("saved"), timeout=5_000)
    shutdown(engine, 30_000)  # as the app's exit does: jobs, the watch, the Label view's threads
    assert lm._writer is None and lm._reader is None
    win.close()
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del engine
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
