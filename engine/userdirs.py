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


def cache_dir() -> Path:
    """Where re-creatable data lives: compiled numba kernels and the like (not created here)."""
    if override := os.environ.get("CLASSKIT_CACHE_DIR"):
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / APP / "Cache"
    if sys.platform == "darwin":
        return _home() / "Library" / "Caches" / APP
    return _xdg("XDG_CACHE_HOME", ".cache") / "classkit"


def log_dir() -> Path:
    """Where the app's own log goes (project logs stay in each project's ``logs/``)."""
    if override := os.environ.get("CLASSKIT_LOG_DIR"):
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / APP / "Logs"
    if sys.platform == "darwin":
        return _home() / "Library" / "Logs" / APP
    return _xdg("XDG_STATE_HOME", ".local/state") / "classkit"


def numba_cache_dir() -> Path:
    """Compiled numba kernels of a packaged app (an installed one caches next to its sources)."""
    return cache_dir() / "numba"
