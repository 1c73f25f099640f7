"""Qt fixtures for the app tier: offscreen by default, basic render loop, the repo's qml/.

Set ``QT_QPA_PLATFORM=xcb`` (under Xvfb) to render with Mesa's software OpenGL; the pixel
tests start their own Xvfb subprocess when ``xvfb-run`` is installed.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QSG_RENDER_LOOP", "basic")   # grabWindow() can deadlock with a render thread
os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "Basic")

import classkit.app  # noqa: E402,F401  (pins None: PySide6 6.12 on CPython 3.11 leaks references)

QML_DIR = Path(__file__).resolve().parents[2] / "qml"


@pytest.fixture(scope="session")
def qapp_cls():
    """QGuiApplication is enough for Qt Quick (no widgets)."""
    from PySide6.QtGui import QGuiApplication
    return QGuiApplication


@pytest.fixture
def qml_dir() -> Path:
    """The repository's qml/ folder (add it to an engine's import path)."""
    return QML_DIR


@pytest.fixture
def isolated_settings(tmp_path: Path, qapp) -> Iterator[None]:  # noqa: ANN001
    """QSettings in a temporary INI file, so recent projects and the theme never touch the
    user's; the format and app identity are restored afterwards."""
    from PySide6.QtCore import QCoreApplication, QSettings

    names = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    QCoreApplication.setOrganizationName("ClassKitTests")
    QCoreApplication.setApplicationName("shell")
    QSettings().clear()
    yield
    QSettings().clear()
    QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
    QCoreApplication.setOrganizationName(names[0])
    QCoreApplication.setApplicationName(names[1])


def embedded_shapes(base: Path, per_class: int) -> Path:
    """A real project under ``base``: the demo shapes (3 classes, ``per_class`` each, labeled
    by folder) ingested and embedded with squeezenet1.1 through the CLI, as a user would."""
    from classkit.cli.main import main
    from classkit.engine.demo import make_demo_data

    tree = make_demo_data(base / "data", per_class=per_class)["imagefolder"]
    proj = base / "p"
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(tree), "--kind", "imagefolder", "--json"]) == 0
    assert main(["embed", str(proj), "--model", "squeezenet1.1", "--json"]) == 0
    return proj
