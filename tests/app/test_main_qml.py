"""The main window loaded as ``classkit gui`` loads it (offscreen): navigation, theme, errors."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QObject, QPointF, Qt
from PySide6.QtQuick import QQuickItem, QQuickWindow
from PySide6.QtTest import QTest

from classkit.app.main import create_engine, qml_dir
from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project
from tests.conftest import make_image


def _load(qtbot, project: Path | None = None):
    engine = create_engine(project)
    roots = engine.rootObjects()
    assert roots, "Main.qml failed to load"
    window = roots[0]
    assert isinstance(window, QQuickWindow)
    qtbot.waitExposed(window)
    window.requestActivate()
    return engine, window


@pytest.fixture
def app_window(qtbot, isolated_settings) -> Iterator[QQuickWindow]:
    engine, window = _load(qtbot)
    yield window
    _close(engine, window)


def _close(engine, window: QQuickWindow) -> None:
    from classkit.app.main import shutdown

    shutdown(engine, 30_000)  # as the app does: jobs, the watch, the Label view's threads
    QCoreApplication.processEvents()
    window.close()
    window.deleteLater()
    QCoreApplication.processEvents()
    del engine


def item(window: QQuickWindow, name: str) -> QQuickItem:
    """An item by objectName, also among Repeater delegates (which have no QObject parent)."""
    found = window.findChild(QObject, name)
    todo = [window.contentItem()]
    while found is None and todo:
        current = todo.pop()
        if current.objectName() == name:
            found = current
        todo.extend(current.childItems())
    assert found is not None, f"no object named {name}"
    return found


def click(window: QQuickWindow, target: QQuickItem) -> None:
    centre = target.mapToScene(QPointF(target.width() / 2, target.height() / 2)).toPoint()
    QTest.mouseClick(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre)


def test_qml_dir_holds_the_module() -> None:
    assert (qml_dir() / "ClassKit" / "qmldir").is_file()


def test_window_loads_with_welcome_and_all_views(app_window: QQuickWindow) -> None:
    assert app_window.objectName() == "mainWindow"
    assert app_window.title() == "ClassKit"
    assert item(app_window, "welcomeOpen").isVisible()
    for name in ("view_explorer", "view_clusters", "view_label", "view_batch", "view_metrics",
                 "view_settings", "navBar", "contextPanel", "jobOverlay"):
        item(app_window, name)


def test_navigation_by_click_and_keys(qtbot, app_window: QQuickWindow) -> None:
    stack = item(app_window, "viewStack")
    assert stack.property("currentIndex") == 0
    click(app_window, item(app_window, "nav_clusters"))
    qtbot.waitUntil(lambda: stack.property("currentIndex") == 1)
    assert item(app_window, "view_clusters").isVisible()
    assert not item(app_window, "view_explorer").isVisible()
    click(app_window, item(app_window, "nav_settings"))
    qtbot.waitUntil(lambda: stack.property("currentIndex") == 5)
    QTest.keyClick(app_window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: app_window.property("currentView") == 2)
    assert item(app_window, "view_label").isVisible()


def test_review_suspects_opens_the_label_view_on_them(qtbot, app_window: QQuickWindow) -> None:
    """The Metrics view's "Review suspects" lands in the Label view with its suspects queue."""
    item(app_window, "view_metrics").reviewSuspects.emit()
    qtbot.waitUntil(lambda: app_window.property("currentView") == 2)
    assert item(app_window, "view_label").isVisible()
    assert item(app_window, "queueSource").property("currentText") == "Label-error suspects"


def test_start_labeling_opens_the_label_view_on_the_batch(qtbot, app_window: QQuickWindow) -> None:
    """The Batch view's "Start labeling" lands in the Label view with the batch queue, even when
    another queue was showing there; the queue menu says which queue it is."""
    item(app_window, "view_metrics").reviewSuspects.emit()
    qtbot.waitUntil(lambda: item(app_window, "queueSource").property("currentText") == "Label-error suspects")
    app_window.setProperty("currentView", 3)
    item(app_window, "view_batch").startLabeling.emit()
    qtbot.waitUntil(lambda: app_window.property("currentView") == 2)
    assert item(app_window, "view_label").isVisible()
    assert item(app_window, "queueSource").property("currentText") == "Current batch"
    item(app_window, "view_clusters").labelCluster.emit(7)  # and the Clusters view's cluster queue
    qtbot.waitUntil(lambda: item(app_window, "queueSource").property("currentText") == "Cluster")
    assert item(app_window, "clusterNo").property("value") == 7


def test_label_import_summary_is_shown(qtbot, app_window: QQuickWindow) -> None:
    """What a label CSV import did opens in a dialog (File > Import labels from CSV)."""
    app_window.property("project").labelsImported.emit("3 row(s): labeled 2, unmatched 1")
    dialog = item(app_window, "importDoneDialog")
    qtbot.waitUntil(lambda: dialog.property("visible"))
    assert item(app_window, "importSummary").property("text") == "3 row(s): labeled 2, unmatched 1"


def test_settings_offer_graph_features(app_window: QQuickWindow) -> None:
    """The Settings view lets a project opt in to graph features (off by default)."""
    box = item(app_window, "graphFeaturesBox")
    assert box.property("count") == 3 and box.property("currentText") == "off"
    box.setProperty("currentIndex", 1)
    assert box.property("currentText") == "auto"
    box.setProperty("currentIndex", 0)


def test_theme_toggle(qtbot, app_window: QQuickWindow) -> None:
    light = app_window.color().name()
    click(app_window, item(app_window, "nav_settings"))
    switch = item(app_window, "darkSwitch")
    qtbot.waitUntil(switch.isVisible)
    click(app_window, switch)
    qtbot.waitUntil(lambda: app_window.color().name() != light)
    assert app_window.color().lightness() < 80
    QTest.keyClick(app_window, Qt.Key.Key_D,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: app_window.color().name() == light)
    assert switch.property("checked") is False


def test_theme_choice_is_remembered(qtbot, isolated_settings) -> None:
    engine, window = _load(qtbot)
    light = window.color().name()
    QTest.keyClick(window, Qt.Key.Key_D,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.color().name() != light)
    dark = window.color().name()
    _close(engine, window)
    engine, window = _load(qtbot)
    try:
        assert window.color().name() == dark  # a new engine (own Theme singleton) reads it back
    finally:
        _close(engine, window)


def test_cancel_button_on_the_job_overlay(qtbot, app_window: QQuickWindow) -> None:
    runner = app_window.property("runner")

    def slow(*, progress, cancel) -> None:
        for i in range(2000):
            cancel.raise_if_cancelled()
            progress(i, 2000, "working")
            time.sleep(0.005)

    overlay = item(app_window, "jobOverlay")
    overlay.setProperty("showAfterMs", 60_000)  # a job's card shows once the job has lasted
    job_id = runner.start("Embed", slow)
    qtbot.waitUntil(lambda: _maybe(app_window, f"job_{job_id}") is not None, timeout=5_000)
    qtbot.wait(300)  # the overlay's clock ticks while jobs run
    assert not item(app_window, f"job_{job_id}").isVisible()
    overlay.setProperty("showAfterMs", 100)

    def laid_out() -> bool:  # the overlay grows upwards once its layout is polished
        button = _maybe(app_window, f"cancelJob_{job_id}")
        if button is None or not button.isVisible():
            return False
        bottom = button.mapToScene(QPointF(0, button.height())).y()
        return 0 < bottom <= app_window.height()

    qtbot.waitUntil(laid_out, timeout=5_000)
    with qtbot.waitSignal(runner.jobCancelled, timeout=10_000) as blocker:
        click(app_window, item(app_window, f"cancelJob_{job_id}"))
    assert blocker.args == [job_id, "Embed"]
    qtbot.waitUntil(lambda: _maybe(app_window, f"cancelJob_{job_id}") is None)
    assert not app_window.property("errorDialog").property("visible")  # a cancel is no error


def _maybe(window: QQuickWindow, name: str) -> QQuickItem | None:
    try:
        return item(window, name)
    except AssertionError:
        return None


def test_failing_job_shows_the_error_dialog(qtbot, app_window: QQuickWindow) -> None:
    runner = app_window.property("runner")

    def broken(*, progress, cancel) -> None:
        raise ClassKitError("the index is damaged: rebuild it")

    dialog = app_window.property("errorDialog")
    runner.start("Index", broken)
    qtbot.waitUntil(lambda: dialog.property("visible") is True, timeout=10_000)
    assert dialog.property("title") == "Index failed"
    assert item(app_window, "errorMessage").property("text") == "the index is damaged: rebuild it"
    assert "Traceback" in dialog.property("detail")


def test_opens_the_project_given_on_the_command_line(qtbot, isolated_settings, tmp_path: Path) -> None:
    with Project.create(tmp_path / "proj", name="demo", classes=["a"]) as project:
        from classkit.engine.ingest import ingest

        for i in range(3):
            make_image(tmp_path / "src" / f"{i}.png", seed=i)
        ingest(project, [tmp_path / "src"])
    engine, window = _load(qtbot, tmp_path / "proj")
    try:
        model = window.property("project")
        qtbot.waitUntil(lambda: model.property("isOpen") is True, timeout=30_000)
        assert window.title() == "demo — ClassKit"
        assert item(window, "countImages").property("text") == "3"
        assert not item(window, "welcomeOpen").isVisible()
        if window.property("explorerAvailable"):  # the map module (ClassKit.Map) is embedded
            qtbot.waitUntil(lambda: window.property("explorer") is not None)
            explorer = window.property("explorer")
            assert explorer.property("projectPath") == str(tmp_path / "proj")
            assert not item(window, "contextPanel").isVisible()  # the Explorer has its own
            click(window, item(window, "nav_clusters"))
            qtbot.waitUntil(lambda: item(window, "contextPanel").isVisible())
        model.closeProject()
        window.setProperty("currentView", 0)
        qtbot.waitUntil(lambda: item(window, "welcomeOpen").isVisible())
        assert model.property("recentProjects") == [str(tmp_path / "proj")]
    finally:
        _close(engine, window)


def test_opening_a_project_logs_no_qml_errors(qtbot, qtlog, isolated_settings, tmp_path: Path) -> None:
    # the Batch view's share boxes once read a delegate that did not exist yet, and the
    # Explorer's drag band and hover tip read their handlers after them at exit (TypeError)
    import numpy as np

    from tests.app.conftest import embedded_shapes
    from tests.app.test_explorer_model import _write_map

    proj = embedded_shapes(tmp_path, per_class=3)
    with Project.open(proj) as p:
        _write_map(p, np.array([r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")]))
    engine, window = _load(qtbot, proj)
    try:
        if window.property("explorerAvailable"):
            _map_ready(qtbot, window)
        for name in ("nav_batch", "nav_label", "nav_metrics", "nav_clusters"):
            click(window, item(window, name))
            QTest.qWait(50)
        assert item(window, "batchShare_3").property("value") == 10
    finally:
        _close(engine, window)
    errors = [r.message for r in qtlog.records  # while open and while closing
              if any(e in r.message for e in ("TypeError", "ReferenceError", "is not defined"))]
    assert errors == []


def test_export_dataset_from_the_file_menu(qtbot, isolated_settings, tmp_path: Path) -> None:
    from classkit.engine.ingest import ingest

    for i in range(6):
        make_image(tmp_path / "src" / ("cat" if i % 2 else "dog") / f"{i}.png", seed=i)
    with Project.create(tmp_path / "proj", name="pets") as project:
        ingest(project, [tmp_path / "src"], kind="imagefolder")
    engine, window = _load(qtbot, tmp_path / "proj")
    try:
        model = window.property("project")
        qtbot.waitUntil(lambda: model.property("isOpen") is True, timeout=30_000)
        dialog = item(window, "exportDialog")
        dialog.open()
        qtbot.waitUntil(lambda: dialog.property("visible") is True)
        item(window, "exportOut").setProperty("text", str(tmp_path / "out dir #1"))
        formats = dialog.property("formats")
        item(window, "exportFormat").setProperty("currentIndex", formats.index("ultralytics"))
        assert dialog.property("tree") is True
        done = item(window, "exportDoneDialog")
        dialog.accept()
        qtbot.waitUntil(lambda: done.property("visible") is True, timeout=60_000)
        summary = item(window, "exportSummary").property("text")
        assert summary.startswith("Exported 6 image(s) as ultralytics"), summary
        folder = Path(done.property("folder"))
        assert folder.parent == tmp_path / "out dir #1" and (folder / "manifest.json").is_file()
        assert sorted(p.name for p in (folder / "train").iterdir()) == ["cat", "dog"]
    finally:
        _close(engine, window)


def _label_view_on_new_images(qtbot, tmp_path: Path, n: int):
    """The window on a new project of ``n`` unlabeled images (classes cat, dog), showing the
    Label view on all of them: (engine, window, project model, label model)."""
    from classkit.engine.ingest import ingest

    for i in range(n):
        make_image(tmp_path / "src" / f"{i}.png", seed=i)
    with Project.create(tmp_path / "proj", name="pets", classes=["cat", "dog"]) as project:
        ingest(project, [tmp_path / "src"])
    engine, window = _load(qtbot, tmp_path / "proj")
    model = window.property("project")
    qtbot.waitUntil(lambda: model.property("isOpen") is True, timeout=30_000)
    window.setProperty("currentView", 2)
    lm = item(window, "view_label").property("model")
    lm.loadQueue("filter", {"status": "unlabeled"})
    qtbot.waitUntil(lambda: lm.property("total") == n, timeout=10_000)
    return engine, window, model, lm


def test_labels_given_with_the_cli_show_while_the_app_is_open(qtbot, isolated_settings, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`classkit label --csv` in a terminal while the window is open: a notice says what was
    loaded, the Label view's queue shows the new labels in place. Labels given in the app
    itself raise no notice."""
    import subprocess
    import sys

    from classkit.app import project_watch

    monkeypatch.setattr(project_watch, "INTERVAL_MS", 100)
    engine, window, model, lm = _label_view_on_new_images(qtbot, tmp_path, 4)
    try:
        note = item(window, "outsideNote")
        revision = model.property("labelRevision")
        lm.labelKey("1", False)  # own label: no notice, but the counts follow
        qtbot.waitUntil(lambda: item(window, "countLabeled").property("text") == "1", timeout=10_000)
        assert model.property("labelRevision") > revision
        assert next(c["count"] for c in model.property("classes") if c["name"] == "cat") == 1
        QTest.qWait(300)
        assert not note.property("visible")

        first = [it["path"] for it in lm.property("items")][1:3]
        (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"{p},dog\n" for p in first))
        exe = Path(sys.executable).with_name("classkit")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "classkit.cli"]
        subprocess.run([*cmd, "label", str(tmp_path / "proj"), "--csv", str(tmp_path / "labels.csv")],
                       check=True, capture_output=True, timeout=120)
        qtbot.waitUntil(lambda: note.property("visible"), timeout=10_000)
        assert note.property("text") == "Loaded changes made outside the app: 2 label changes"
        qtbot.waitUntil(lambda: [it["label"] for it in lm.property("items")] == ["cat", "dog", "dog", None],
                        timeout=10_000)
        qtbot.waitUntil(lambda: item(window, "countLabeled").property("text") == "3", timeout=10_000)
    finally:
        _close(engine, window)


def _map_ready(qtbot, window: QQuickWindow):
    """The Explorer's model once its map is drawn (skips where the map module is missing)."""
    if not window.property("explorerAvailable"):
        pytest.skip("the map module is not in this build")
    qtbot.waitUntil(lambda: window.property("explorer") is not None, timeout=30_000)
    em = window.property("explorer").property("model")
    qtbot.waitUntil(lambda: em.property("status") == "ready", timeout=30_000)
    return em


def test_labels_given_in_the_label_view_show_on_the_map(qtbot, isolated_settings, tmp_path: Path) -> None:
    """Back in the Explorer after labeling, the map shows the new labels (no retrain needed)."""
    import numpy as np

    from classkit.engine.labels import add_labels
    from tests.app.conftest import embedded_shapes
    from tests.app.test_explorer_model import _write_map

    proj = embedded_shapes(tmp_path, per_class=6)
    with Project.open(proj) as p:
        ids = np.array([r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")], np.int64)
        _write_map(p, ids)
        add_labels(p, [int(i) for i in ids[:4]], None)  # four images unlabeled again
    engine, window = _load(qtbot, proj)
    try:
        em = _map_ready(qtbot, window)
        def unlabeled() -> int:
            return next(e["count"] for e in em.property("legend") if e["name"] == "unlabeled")
        assert unlabeled() == 4
        window.setProperty("currentView", 2)
        lm = item(window, "view_label").property("model")
        lm.loadQueue("filter", {"status": "unlabeled"})
        qtbot.waitUntil(lambda: lm.property("total") == 4, timeout=10_000)
        lm.labelKey("1", False)
        lm.labelKey("2", False)
        qtbot.waitUntil(lambda: lm.property("saveState").startswith("saved"), timeout=10_000)
        window.setProperty("currentView", 0)
        qtbot.waitUntil(lambda: unlabeled() == 2, timeout=10_000)
    finally:
        _close(engine, window)


def test_a_map_reloaded_behind_another_view_stays_hidden(qtbot, isolated_settings, tmp_path: Path) -> None:
    """The map reloaded while the Label view is in front (after training, or labels given with
    the CLI) must not paint its points over the Label view."""
    import numpy as np
    from PySide6.QtGui import QImage

    from tests.app.conftest import embedded_shapes
    from tests.app.test_explorer_model import _write_map

    proj = embedded_shapes(tmp_path, per_class=6)
    with Project.open(proj) as p:
        _write_map(p, np.array([r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")], np.int64))
    engine, window = _load(qtbot, proj)

    def grab() -> np.ndarray:
        img = window.grabWindow().convertToFormat(QImage.Format.Format_RGBA8888)
        a = np.array(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
        return a[120:620, 200:760, :3].copy()  # the Label view's image area

    try:
        em = _map_ready(qtbot, window)
        window.setProperty("currentView", 2)
        lm = item(window, "view_label").property("model")
        lm.loadQueue("ids", [])  # an empty queue: a still Label view

        def settled() -> np.ndarray:  # the same picture twice in a row, 200 ms apart
            shots = [grab()]
            for _ in range(50):
                QTest.qWait(200)
                shots.append(grab())
                if (shots[-1] == shots[-2]).all():
                    return shots[-1]
            return shots[-1]

        before = settled()
        em.reload()
        qtbot.waitUntil(lambda: em.property("status") == "ready", timeout=30_000)
        em.waitForIdle()
        assert (settled() != before).any(axis=2).sum() == 0, "map points painted over the Label view"
        window.setProperty("currentView", 0)  # shown again: its points are drawn
        qtbot.waitUntil(lambda: len(np.unique(grab().reshape(-1, 3), axis=0)) > 3, timeout=10_000)
    finally:
        _close(engine, window)


def test_class_edits_in_the_app_show_in_the_side_panel(qtbot, isolated_settings, tmp_path: Path) -> None:
    """The class editor's rename and recolour reach the shell's class list (with the labels'
    counts) and the map's legend."""
    engine, window, model, lm = _label_view_on_new_images(qtbot, tmp_path, 3)
    try:
        lm.labelKey("1", False)
        lm.labelKey("1", False)
        qtbot.waitUntil(lambda: item(window, "countLabeled").property("text") == "2", timeout=10_000)
        item(window, "classModel").rename("cat", "kitty")

        def counts() -> dict:
            return {c["name"]: c["count"] for c in model.property("classes")}
        qtbot.waitUntil(lambda: counts() == {"kitty": 2, "dog": 0}, timeout=10_000)
        QTest.qWait(2500)  # a later label recount keeps the new name
        assert counts() == {"kitty": 2, "dog": 0}
        item(window, "classModel").recolour("dog", "#123456")  # no label event: the edit itself
        qtbot.waitUntil(lambda: next(c["color"] for c in model.property("classes") if c["name"] == "dog")
                        == "#123456", timeout=10_000)
    finally:
        _close(engine, window)


def test_select_a_batch_from_the_batch_view(qtbot, isolated_settings, tmp_path: Path) -> None:
    """The Batch view picks a batch of the size and shares it shows, lists it with what it is
    made of, and keeps those settings for the project ("Next batch", `classkit select`)."""
    from classkit.engine.labels import add_labels
    from tests.app.conftest import embedded_shapes

    proj = embedded_shapes(tmp_path, per_class=6)
    with Project.open(proj) as p:
        add_labels(p, [r[0] for r in p.db.execute("SELECT id FROM images")], None)
    engine, window = _load(qtbot, proj)
    try:
        model = window.property("project")
        qtbot.waitUntil(lambda: model.property("isOpen") is True, timeout=30_000)
        window.setProperty("currentView", 3)
        view = item(window, "view_batch")
        assert view.property("model").property("total") == 0
        qtbot.waitUntil(lambda: item(window, "batchShare_0").property("value") == 40, timeout=5_000)
        item(window, "batchBudget").setProperty("value", 7)
        for i in range(4):  # no share at all: nothing to pick by
            item(window, "batchShare_" + str(i)).setProperty("value", 0)
        assert not item(window, "selectBatch").property("enabled")
        item(window, "batchShare_1").setProperty("value", 100)  # diversity only
        assert item(window, "selectBatch").property("enabled")
        click(window, item(window, "selectBatch"))
        qtbot.waitUntil(lambda: view.property("model").property("total") == 7, timeout=60_000)
        qtbot.waitUntil(lambda: "by reason: diversity 7" in item(window, "batchComposition").property("text"),
                        timeout=10_000)
        qtbot.waitUntil(lambda: model.property("settings").get("batch_size") == 7, timeout=10_000)
        assert model.property("settings")["weight_diversity"] == 1.0
        assert model.property("settings")["weight_uncertainty"] == 0.0
    finally:
        _close(engine, window)
