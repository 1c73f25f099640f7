"""The export root: the folder given as ``--out``, holding one version folder per export.

``DIR/classkit_exports.json`` marks a folder as a ClassKit export root and lists its
exports (version, format, time, counts) with the latest one. A folder that exists, is not
empty and has no marker is refused: an export never mixes into someone else's files.
Each export is written to ``DIR/.tmp-<version>/`` and renamed to ``DIR/<version>/`` at the
end (same folder, so one atomic rename): a crash, cancel or full disk never leaves a
half export that looks complete.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ClassKitError
from ..fsutil import write_json_atomic

MARKER = "classkit_exports.json"
TMP_PREFIX = ".tmp-"


@dataclass
class ExportRoot:
    """An export root; remembers what this run created so a failed run can take it back."""

    path: Path
    created_dir: bool = False
    created_marker: bool = False

    @property
    def marker(self) -> Path:
        return self.path / MARKER


def _read_marker(marker: Path) -> dict[str, Any]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClassKitError(f"cannot read the export folder marker {marker}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("exports"), list):
        raise ClassKitError(f"{marker} is not a ClassKit export folder marker")
    return data


def check_root(out: Path) -> ExportRoot:
    """Validate ``out`` as an export root without changing anything."""
    path = Path(os.path.abspath(out))
    if path.exists() and not path.is_dir():
        raise ClassKitError(f"export folder {path} exists and is not a folder")
    if path.is_dir():
        if (path / MARKER).is_file():
            _read_marker(path / MARKER)
        elif any(path.iterdir()):
            raise ClassKitError(
                f"export folder {path} exists, is not empty and is not a ClassKit export folder "
                f"(no {MARKER}); choose a new or empty folder")
    return ExportRoot(path)


def open_root(root: ExportRoot) -> None:
    """Create the root folder and its marker where missing."""
    if not root.path.exists():
        try:
            root.path.mkdir(parents=True)
        except OSError as exc:
            raise ClassKitError(f"cannot create export folder {root.path}: {exc}") from exc
        root.created_dir = True
    if not root.marker.exists():
        write_json_atomic(root.marker, {"classkit_exports": 1, "exports": [], "latest": None})
        root.created_marker = True


def new_temp(root: ExportRoot) -> tuple[str, Path]:
    """A fresh version name and its (created, empty) temporary folder inside the root."""
    while True:
        version = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = root.path / f"{TMP_PREFIX}{version}"
        if (root.path / version).exists():
            continue
        try:
            tmp.mkdir()
            return version, tmp
        except FileExistsError:
            continue


def publish(root: ExportRoot, tmp: Path, version: str, entry: dict[str, Any]) -> Path:
    """Flush, rename the temporary folder into place, record it in the marker."""
    if hasattr(os, "sync"):
        os.sync()  # file data on disk before the rename makes the export look complete
    final = root.path / version
    os.rename(tmp, final)
    data = _read_marker(root.marker)
    data["exports"].append({"version": version, **entry})
    data["latest"] = version
    write_json_atomic(root.marker, data)
    return final


def discard(root: ExportRoot, tmp: Path | None) -> None:
    """Remove the temporary folder, and the root/marker if this run made them and nothing else."""
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    if root.created_marker:
        with contextlib.suppress(OSError, ClassKitError):
            data = _read_marker(root.marker)
            if not data["exports"]:
                root.marker.unlink()
    if root.created_dir:
        with contextlib.suppress(OSError):
            root.path.rmdir()  # only when empty
