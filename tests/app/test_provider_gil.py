"""Python image providers and async QML Images cannot deadlock (app/provider_prime.py).

Each case runs in a child process, so a deadlock fails the test instead of hanging it. The
child holds the GIL on the GUI thread across two image loads (a long switch interval and a
pure-Python wait), the worst case of a Python slot that makes QML start async loads: before
the priming, the second load waited for the pixmap reader's mutex while the reader waited
for the GIL inside the provider's ``imageType()`` (or a response's ``cancel()``).
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_HEAD = textwrap.dedent("""
    import faulthandler, os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"; os.environ["QSG_RENDER_LOOP"] = "basic"
    faulthandler.dump_traceback_later(30, exit=True)
    import classkit.app
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtQml import QQmlComponent, QQmlEngine
    from classkit.app.label import image_provider
    from classkit.app.map import register_image_providers
    real = image_provider._decode
    image_provider._decode = lambda path: (time.sleep(0.5), real(path))[1]  # keep loads in flight
    app = QGuiApplication([])
    engine = QQmlEngine()
    register_image_providers(engine)   # the app's own registration paths
    image_provider.register(engine)
    comp = QQmlComponent(engine)
    comp.setData(b"import QtQuick\\nItem { property string a; property string b\\n"
                 b" Image { asynchronous: true; source: parent.a }\\n"
                 b" Image { asynchronous: true; source: parent.b } }", "")
    root = comp.create()
    QCoreApplication.processEvents()

    def hold():  # keep the GIL: no blocking call, no switch
        t = time.perf_counter()
        while time.perf_counter() - t < 0.5:
            pass
""")

_CASES = {
    "thumbs": """
        sys.setswitchinterval(30)
        root.setProperty("a", "image://thumbs/1"); hold(); root.setProperty("b", "image://thumbs/2")
    """,
    "fullimage": """
        sys.setswitchinterval(30)
        root.setProperty("a", "image://fullimage/1"); hold(); root.setProperty("b", "image://fullimage/2")
    """,
    "fullimage_cancel": """
        root.setProperty("a", "image://fullimage/1")
        for _ in range(30):                      # the response is now in flight
            QCoreApplication.processEvents(); time.sleep(0.01)
        sys.setswitchinterval(30)
        root.setProperty("a", ""); hold(); root.setProperty("b", "image://fullimage/2")
    """,
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_async_loads_while_python_holds_the_gil(case: str) -> None:
    tail = 'sys.setswitchinterval(0.005)\nprint("ok", flush=True)\nos._exit(0)\n'
    code = _HEAD + textwrap.dedent(_CASES[case]) + tail
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
