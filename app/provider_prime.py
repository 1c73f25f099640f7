"""Keep Qt's pixmap reader thread from waiting for the GIL while it holds its own lock.

``Image { asynchronous: true; source: "image://..." }`` with a Python provider deadlocks
(measured, PySide6 6.12): the reader thread, holding the reader's mutex, calls the
provider's ``imageType()``; shiboken's wrapper of that virtual takes the GIL to look for a
Python override. If the GUI thread holds the GIL at that moment and starts another image
load (any Python code that makes QML create or re-point an async Image synchronously: a
Python-set ``contentY``, a notify signal emitted from a Python slot such as the map's
hover), it waits for that mutex: neither thread moves.

Shiboken remembers per wrapper that a virtual has no Python override, and from then on calls
the C++ base without the GIL. :func:`prime` makes that first ``imageType()`` call happen on
the GUI thread (a synchronous one-off load of ``image://<id>/__prime__``), before any
asynchronous load, so the reader thread never needs the GIL under its lock for it.
``requestImage``/``requestImageResponse`` still take the GIL, but the reader holds no lock
then. :func:`prime_cancel` does the same for a response's ``cancel()``, which the reader
calls under its lock for a cancelled in-flight response.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QCoreApplication, QMetaObject, QObject, QUrl
from PySide6.QtQml import QQmlComponent, QQmlEngine

PRIME_ID = "__prime__"  # providers answer it cheaply (not an image id): a placeholder


def prime(engine: QQmlEngine, provider_id: str, response: bool = False, timeout_s: float = 5.0) -> None:
    """Have Qt call the ``provider_id`` provider's ``imageType()`` once while this (GUI) thread
    does not hold the GIL under a Qt lock.

    A plain provider is loaded synchronously (Qt asks it on this thread). A ``response``
    provider (QQuickAsyncImageProvider) cannot be: a synchronous load would wait here, with
    the GIL, for a response finished by a Python worker. It is loaded asynchronously once
    instead, this thread sleeping (GIL released) until the reader thread has asked it.
    """
    comp = QQmlComponent(engine)
    comp.setData(("import QtQuick\nImage { property bool done: status !== Image.Loading\n"
                  f"  asynchronous: {'true' if response else 'false'}; cache: false\n"
                  f"  source: 'image://{provider_id}/{PRIME_ID}' }}\n").encode(), QUrl())
    item = comp.create()
    if item is None:
        raise RuntimeError(f"cannot prime image provider {provider_id!r}: {comp.errorString()}")
    deadline = time.monotonic() + timeout_s
    while not item.property("done") and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.002)  # releases the GIL for the reader thread
    item.setProperty("source", "")
    item.deleteLater()


def prime_cancel(response: QObject) -> None:
    """Call ``response.cancel()`` once through Qt's meta-object, from C++ (the base class's
    cancel does nothing), so that a later cancel from the reader thread needs no GIL."""
    QMetaObject.invokeMethod(response, "cancel")
