"""``image://fullimage/<image id>``: full-resolution images for the label workbench.

An asynchronous provider: decoding runs on a small thread pool, never on the GUI or render
thread. Decoded images stay in a small LRU, and :func:`prefetch` decodes the next items of
the queue ahead of time, so showing the next image is a cache hit. The label model tells
the provider where each id lives (:func:`remember`).
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage, QImageReader
from PySide6.QtQuick import QQuickAsyncImageProvider, QQuickImageResponse, QQuickTextureFactory

from ..provider_prime import prime, prime_cancel

log = logging.getLogger(__name__)
MAX_SIDE = 2048  # decode no larger than this (a screen's worth); keeps decode + upload quick
LRU_SIZE = 16
_lock = threading.Lock()
_paths: dict[int, str] = {}
_cache: OrderedDict[int, QImage] = OrderedDict()
_loading: dict[int, Future] = {}
_pool = ThreadPoolExecutor(2, thread_name_prefix="fullimage")


def remember(items: Iterable[tuple[int, str]]) -> None:
    """Record image paths by id (the queue's items)."""
    with _lock:
        _paths.update((int(i), str(p)) for i, p in items)


def clear() -> None:
    with _lock:
        _paths.clear()
        _cache.clear()


def _placeholder() -> QImage:
    img = QImage(64, 64, QImage.Format.Format_RGB32)
    img.fill(QColor("#33363b"))
    return img


def _decode(path: str) -> QImage:
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > MAX_SIDE:
        reader.setScaledSize(size.scaled(MAX_SIDE, MAX_SIDE, Qt.AspectRatioMode.KeepAspectRatio))
    img = reader.read()
    if img.isNull():
        log.info("cannot decode %s: %s", path, reader.errorString())
        img = _placeholder()
    return img


def _load(image_id: int) -> QImage:
    with _lock:
        hit = _cache.get(image_id)
        if hit is not None:
            _cache.move_to_end(image_id)
            return hit
        path = _paths.get(image_id)
    if not path:  # not (yet) told where it lives, or the provider's prime: nothing to cache
        with _lock:
            _loading.pop(image_id, None)
        return _placeholder()
    img = _decode(path)
    with _lock:
        _cache[image_id] = img
        while len(_cache) > LRU_SIZE:
            _cache.popitem(last=False)
        _loading.pop(image_id, None)
    return img


def load_async(image_id: int) -> Future:
    """The decoded image (a future): from the LRU, an in-flight prefetch, or a new decode."""
    with _lock:
        fut = _loading.get(image_id)
        if fut is None:
            fut = _loading[image_id] = _pool.submit(_load, image_id)
        return fut


def prefetch(ids: Iterable[int]) -> None:
    """Decode these images in the background (they land in the LRU)."""
    for i in ids:
        with _lock:
            if int(i) in _cache:
                continue
        load_async(int(i))


def cached(image_id: int) -> bool:
    with _lock:
        return image_id in _cache


class _Response(QQuickImageResponse):
    def __init__(self, fut: Future, requested: QSize) -> None:
        super().__init__()
        self._image = QImage()
        self._requested = requested
        fut.add_done_callback(self._done)

    def _done(self, fut: Future) -> None:
        try:
            img = fut.result()
        except Exception:  # noqa: BLE001 - a broken file shows the placeholder
            log.exception("full image load failed")
            img = QImage()
        r = self._requested
        if r.isValid() and r.width() > 0 and r.height() > 0 and not img.isNull():
            img = img.scaled(r, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        self._image = img
        self.finished.emit()

    def textureFactory(self) -> QQuickTextureFactory:  # noqa: N802
        return QQuickTextureFactory.textureFactoryForImage(self._image)


class FullImageProvider(QQuickAsyncImageProvider):
    """Image provider "fullimage": ``image://fullimage/42`` is image 42, decoded off-thread."""

    def __init__(self) -> None:
        super().__init__()
        self._live: set[_Response] = set()  # keep the Python wrappers alive until Qt is done

    def requestImageResponse(self, ident: str, requested: QSize) -> QQuickImageResponse:  # noqa: N802
        try:
            image_id = int(ident.split("?")[0].split("/")[0])
        except ValueError:
            image_id = -1
        resp = _Response(load_async(image_id), requested)
        prime_cancel(resp)  # Qt may cancel it later under its reader lock: see provider_prime
        self._live.add(resp)
        resp.destroyed.connect(lambda *_: self._live.discard(resp))
        if len(self._live) > 64:  # Qt destroyed them without our signal reaching us
            self._live = set(list(self._live)[-32:])
        return resp


def register(engine) -> None:  # noqa: ANN001 - QQmlEngine
    """Add the ``fullimage`` provider to ``engine`` (once)."""
    if engine.imageProvider("fullimage") is None:
        engine.addImageProvider("fullimage", FullImageProvider())
        prime(engine, "fullimage", response=True)  # before any async load: see provider_prime
