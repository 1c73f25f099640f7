"""Qt adapter for the desktop app (view models, job runner, scatter item).

Only this package and qml/ may import PySide6; the engine never does.
"""
from ._pyside_fix import pin_none

pin_none()  # before anything calls into Qt: PySide6 6.12 on CPython 3.11 leaks None references
