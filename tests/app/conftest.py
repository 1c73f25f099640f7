"""Qt fixtures for the app tier: offscreen by default, basic render loop, the repo's qml/.

Set ``QT_QPA_PLATFORM=xcb`` (under Xvfb) to render with Mesa's software OpenGL; the pixel
tests start their own Xvfb subprocess when ``xvfb-run`` is installed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QSG_RENDER_LOOP", "basic")   # grabWindow() can deadlock with a render thread
os.environ.setdefault("QT_QUICK_CONTROLS_STYLE", "Basic")

from classkit.app.map import pin_none  # noqa: E402

pin_none()  # PySide6 6.12 on CPython 3.11 leaks a reference to None per void call

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
