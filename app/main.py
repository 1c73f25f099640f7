"""Desktop app entry point: a QGuiApplication and a QQmlApplicationEngine loading ClassKit.Main.

View models register themselves with ``@QmlElement`` (module ``ClassKit.Backend``) when
their Python modules are imported; QML instantiates them; there are no context properties.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtQml import QQmlApplicationEngine

log = logging.getLogger(__name__)
ORG_NAME = "ClassKit"
APP_NAME = "ClassKit"
_style_set = False


def qml_dir() -> Path:
    """The QML import path holding ``ClassKit/qmldir``.

    ``classkit/app/../qml``: the repository's ``qml/`` in an editable install, and the
    package-data folder ``classkit/qml/`` in a normal install. ``CLASSKIT_QML_DIR`` overrides.
    """
    override = os.environ.get("CLASSKIT_QML_DIR")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent / "qml")
    for path in candidates:
        if (path / "ClassKit" / "qmldir").is_file():
            return path
    raise FileNotFoundError(f"ClassKit QML files not found (looked in {', '.join(map(str, candidates))})")


def _register_map(engine: QQmlApplicationEngine) -> bool:
    """The Explorer's image providers (and its QML types), when the map package is there."""
    try:
        from classkit.app.map import register_image_providers
    except ImportError as exc:
        log.warning("the Explorer map is not available: %s", exc)
        return False
    register_image_providers(engine)
    return True


def _register_label(engine: QQmlApplicationEngine) -> None:
    """The label workbench's QML types and its ``fullimage`` provider."""
    from .label import class_model, image_provider, label_model  # noqa: F401 - registers types

    image_provider.register(engine)


def create_engine(project: Path | None = None) -> QQmlApplicationEngine:
    """Load ``ClassKit.Main`` (a QGuiApplication must exist); opens ``project`` if given."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtQml import QQmlApplicationEngine
    from PySide6.QtQuickControls2 import QQuickStyle

    from . import batch_model, clusters_model, jobs, metrics_model, project_model  # noqa: F401 - registers the ClassKit.Backend types

    global _style_set
    if not _style_set and not os.environ.get("QT_QUICK_CONTROLS_STYLE"):
        QQuickStyle.setStyle("Basic")  # once, before Controls first load; themed by Theme.qml
        _style_set = True
    if not QCoreApplication.organizationName():  # QSettings (recent projects, theme) need it
        QCoreApplication.setOrganizationName(ORG_NAME)
        QCoreApplication.setApplicationName(APP_NAME)
    engine = QQmlApplicationEngine()
    engine.addImportPath(str(qml_dir()))
    _register_map(engine)
    _register_label(engine)
    engine.setInitialProperties({"initialProject": str(Path(project).absolute()) if project else ""})
    engine.loadFromModule("ClassKit", "Main")
    return engine


def shutdown(engine: QQmlApplicationEngine, timeout_ms: int = 10_000) -> None:
    """Cancel running jobs and wait for them, and write pending labels and stop the Label
    view's threads, so no worker outlives the window."""
    from classkit.app.label.label_model import close_all

    close_all()
    for root in engine.rootObjects():
        project = root.property("project")
        if project is not None:
            project.stopWatching()
        runner = root.property("runner")
        if runner is not None:
            runner.cancelAll()
            if not runner.wait(timeout_ms):
                log.warning("jobs still running at exit")


def _forward_qt_messages(install: bool) -> None:
    """Qt's own messages (QML errors and warnings) into Python logging, so they reach the
    app's log file as well as the terminal; ``install=False`` restores Qt's handler."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
    qt_log = logging.getLogger("classkit.qt")

    def handler(mode: QtMsgType, _context: object, message: str) -> None:
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler if install else None)


def run(argv: Sequence[str], project: Path | None = None, quit_after_ms: int | None = None,
        screenshot: Path | None = None) -> int:
    """Start the app (optionally on ``project``); returns the exit code.

    ``quit_after_ms`` quits after that long: a smoke test of startup and project loading.
    ``screenshot`` saves the window once the map is shown, then quits (app/snapshot.py).
    """
    t0 = time.perf_counter()
    # Before numpy/faiss/numba load: spinning OpenMP threads starve the GUI (DESIGN §8).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from PySide6.QtGui import QGuiApplication

    from classkit.engine import __version__

    app = QGuiApplication.instance() or QGuiApplication(list(argv))
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("classkit")  # matches classkit.desktop (Wayland window icon, grouping)
    icon = qml_dir() / "ClassKit" / "icons" / "classkit.png"
    if icon.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    if project is not None and not Path(project).exists():
        log.error("project folder not found: %s", project)
        return 1
    _forward_qt_messages(True)
    try:
        return _run_engine(app, project, quit_after_ms, screenshot, t0)
    finally:
        _forward_qt_messages(False)


def _run_engine(app: QGuiApplication, project: Path | None, quit_after_ms: int | None,
                screenshot: Path | None, t0: float) -> int:
    """Load the window and run the event loop; ``run`` without the application setup."""
    from PySide6.QtCore import QTimer

    engine = create_engine(project)
    if not engine.rootObjects():
        log.error("the main window failed to load (see the QML errors above)")
        return 1
    if quit_after_ms:
        QTimer.singleShot(quit_after_ms, app.quit)
    if screenshot is not None:
        from .snapshot import arm

        arm(app, engine, Path(screenshot), t0, with_project=project is not None)
    code = int(app.exec())
    shutdown(engine)
    for root in engine.rootObjects():  # windows go before their view models
        root.deleteLater()
    app.processEvents()
    del engine
    return code
