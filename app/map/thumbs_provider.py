"""``image://thumbs/<image id>``: thumbnails of the open project for QML Images.

The Explorer model calls :func:`set_project` when it opens a project; the provider builds
a missing thumbnail on demand through the engine's cache (``get_thumbnail``).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtQuick import QQuickImageProvider

from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project
from classkit.engine.thumbs.cache import get_thumbnail

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Project | None] = {"project": None}


def set_project(root: str | Path | None) -> None:
    """Serve thumbnails of the project at ``root`` (None: serve nothing)."""
    with _lock:
        old = _state["project"]
        if old is not None and root is not None and Path(root).resolve() == Path(old.root).resolve():
            return
        _state["project"] = None
        if old is not None:
            old.close()
        if root:
            try:
                _state["project"] = Project.open(Path(root))
            except (ClassKitError, OSError) as exc:
                log.warning("thumbnails unavailable for %s: %s", root, exc)


def _placeholder(size: QSize) -> QImage:
    img = QImage(max(size.width(), 1), max(size.height(), 1), QImage.Format.Format_RGB32)
    img.fill(QColor("#33363b"))
    return img


class ThumbsProvider(QQuickImageProvider):
    """Image provider "thumbs": ``image://thumbs/42`` is image 42's cached thumbnail."""

    def __init__(self) -> None:
        super().__init__(QQuickImageProvider.ImageType.Image)

    def requestImage(self, ident: str, size: QSize, requested: QSize) -> QImage:  # noqa: N802
        try:
            image_id = int(ident.split("?")[0].split("/")[0])
        except ValueError:
            image_id = -1
        with _lock:
            project = _state["project"]
            path = None
            if project is not None and image_id >= 0:
                try:
                    path = get_thumbnail(project, image_id)
                except ClassKitError as exc:
                    log.info("no thumbnail for image %s: %s", image_id, exc)
        img = QImage(str(path)) if path is not None else QImage()
        if img.isNull():
            img = _placeholder(requested if requested.isValid() else QSize(64, 64))
        if requested.isValid() and requested.width() > 0 and requested.height() > 0:
            img = img.scaled(requested, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        if size is not None:
            size.setWidth(img.width())
            size.setHeight(img.height())
        return img
