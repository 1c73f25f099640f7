"""Qt adapter for the desktop app (view models, job runner, scatter item).

Only this package and qml/ may import PySide6; the engine never does.
"""
