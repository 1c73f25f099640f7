"""Per-user folders: the platform's standard places, overridable, never the program folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from classkit.engine import userdirs


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("CLASSKIT_CACHE_DIR", "CLASSKIT_LOG_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME",
                "LOCALAPPDATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_linux_defaults_follow_xdg(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userdirs.sys, "platform", "linux")
    assert userdirs.cache_dir() == clean_env / ".cache" / "classkit"
    assert userdirs.log_dir() == clean_env / ".local" / "state" / "classkit"
    assert userdirs.numba_cache_dir() == clean_env / ".cache" / "classkit" / "numba"
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xc"))
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the XDG spec: relative is invalid
    assert userdirs.cache_dir() == clean_env / "xc" / "classkit"
    assert userdirs.log_dir() == clean_env / ".local" / "state" / "classkit"


def test_macos_and_windows_places(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userdirs.sys, "platform", "darwin")
    assert userdirs.cache_dir() == clean_env / "Library" / "Caches" / "ClassKit"
    assert userdirs.log_dir() == clean_env / "Library" / "Logs" / "ClassKit"
    monkeypatch.setattr(userdirs.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(clean_env / "Local"))
    assert userdirs.cache_dir() == clean_env / "Local" / "ClassKit" / "Cache"
    assert userdirs.log_dir() == clean_env / "Local" / "ClassKit" / "Logs"


def test_overrides_win(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSKIT_CACHE_DIR", str(clean_env / "c"))
    monkeypatch.setenv("CLASSKIT_LOG_DIR", str(clean_env / "l"))
    assert userdirs.cache_dir() == clean_env / "c"
    assert userdirs.log_dir() == clean_env / "l"
