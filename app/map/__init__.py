"""The Explorer map: ScatterItem and ExplorerModel (QML module ``ClassKit.Map``), and the
``thumbs`` image provider.

Importing this package registers the QML types. The shell calls
:func:`register_image_providers` on its engine and adds the repository's ``qml/`` folder
to the engine's import path so that ``import ClassKit.Map`` finds ExplorerView.qml.
"""
from __future__ import annotations

import ctypes
import sys

from PySide6.QtQml import QQmlApplicationEngine, QQmlEngine

_pinned = False


def pin_none() -> None:
    """Work around a PySide6 6.12 (abi3 wheel) bug on CPython < 3.12: every call of a void
    C++ method drops one reference to ``None`` (it assumes None is immortal, as in 3.12+),
    and after ~10^4 calls CPython aborts with "none_dealloc". Give None a huge refcount."""
    global _pinned
    if sys.version_info < (3, 12) and not _pinned:
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
        _pinned = True


pin_none()

from . import explorer_model, scatter_item  # noqa: E402,F401  (registers the QML types)
from .thumbs_provider import ThumbsProvider  # noqa: E402


def register_image_providers(engine: QQmlApplicationEngine | QQmlEngine) -> None:
    """Add the ``thumbs`` provider (``image://thumbs/<image id>``) to ``engine``."""
    if engine.imageProvider("thumbs") is None:
        engine.addImageProvider("thumbs", ThumbsProvider())


__all__ = ["pin_none", "register_image_providers"]
