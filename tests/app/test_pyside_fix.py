"""PySide6 6.12 on CPython 3.11 drops a reference to None per void-method call; importing
classkit.app must make that harmless (without it this process aborts with none_dealloc)."""
from __future__ import annotations

import subprocess
import sys

CODE = """
import classkit.app
from PySide6.QtCore import QObject
o = QObject()
for _ in range(50_000):
    o.setObjectName("x")
print("ok")
"""


def test_many_void_calls_do_not_abort() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
