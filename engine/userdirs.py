"""Per-user folders for caches and logs, in each platform's standard place.

Nothing the app writes on its own goes next to the program: a packaged (read-only) bundle
stays untouched, and projects live only where the user puts them. Settings are Qt's
(QSettings: ~/.config/ClassKit/ on Linux). ``CLASSKIT_CACHE_DIR`` and ``CLASSKIT_LOG_DIR``
override each folder (tests, portable use).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "ClassKit"


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    # The XDG spec: a relative path in these variables is invalid and must be ignored.
    return Path(value) if value and os.path.isabs(value) else _home() / default


def _place(override: str, windows: str, macos: str, xdg_var: str, xdg_default: str) -> Path:
    """One per-user folder: the override variable, else the platform's standard place."""
    if value := os.environ.get(override):
        return Path(value)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / APP / windows
    if sys.platform == "darwin":
        return _home() / "Library" / macos / APP
    return _xdg(xdg_var, xdg_default) / "classkit"


def cache_dir() -> Path:
    """Where re-creatable data lives: compiled numba kernels and the like (not created here)."""
    return _place("CLASSKIT_CACHE_DIR", "Cache", "Caches", "XDG_CACHE_HOME", ".cache")


def log_dir() -> Path:
    """Where the app's own log goes (project logs stay in each project's ``logs/``)."""
    return _place("CLASSKIT_LOG_DIR", "Logs", "Logs", "XDG_STATE_HOME", ".local/state")


def numba_cache_dir() -> Path:
    """Compiled numba kernels of a packaged app (an installed one caches next to its sources)."""
    return cache_dir() / "numba"
