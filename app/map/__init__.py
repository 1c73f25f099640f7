"""The Explorer map: ScatterItem and ExplorerModel (QML module ``ClassKit.Map``), and the
``thumbs`` image provider.

Importing this package registers the QML types. The shell calls
:func:`register_image_providers` on its engine and adds the repository's ``qml/`` folder
to the engine's import path so that ``import ClassKit.Map`` finds ExplorerView.qml.
"""
from __future__ import annotations

from PySide6.QtQml import QQmlApplicationEngine, QQmlEngine

from .._pyside_fix import pin_none

pin_none()  # also done by classkit.app itself; kept for direct imports

from . import explorer_model, scatter_item  # noqa: E402,F401  (registers the QML types)
from ..provider_prime import prime  # noqa: E402
from .thumbs_provider import ThumbsProvider  # noqa: E402


def register_image_providers(engine: QQmlApplicationEngine | QQmlEngine) -> None:
    """Add the ``thumbs`` provider (``image://thumbs/<image id>``) to ``engine``."""
    if engine.imageProvider("thumbs") is None:
        engine.addImageProvider("thumbs", ThumbsProvider())
        prime(engine, "thumbs")  # before any async load: see provider_prime


__all__ = ["pin_none", "register_image_providers"]
