"""How file paths are stored: relative to the project root when inside it, else absolute.

Relative paths make a moved project keep working; absolute paths outside the project are
rebased on open when the project and its data moved together.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


class PathMapper:
    """Convert between stored path strings and real paths for one project root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root_str = os.path.abspath(root)
        self._prefix = self._root_str.rstrip(os.sep) + os.sep

    def to_stored(self, path: Path | str) -> str:
        """Stored form of ``path``: posix, relative to the root when inside it, else absolute.

        String operations only: this runs once per file on every ingest.
        """
        s = os.path.abspath(path)
        if s.startswith(self._prefix):
            s = s[len(self._prefix):]
        elif s == self._root_str:
            return "."
        return s if os.sep == "/" else s.replace(os.sep, "/")

    def resolve(self, stored: str) -> Path:
        """The real path for a stored path string."""
        p = Path(stored)
        return p if p.is_absolute() else self.root / PurePosixPath(stored)

    def rebase(self, stored: str, old_root: Path) -> str | None:
        """New stored form for an absolute path that moved along with the project, else None.

        ``/old/data/x.jpg`` with old root ``/old/proj`` becomes ``../data/x.jpg`` from the
        new root, if that file exists and the old one does not.
        """
        p = Path(stored)
        if not p.is_absolute() or p.exists():
            return None
        try:
            rel = os.path.relpath(p, old_root)
        except ValueError:  # different drives
            return None
        candidate = Path(os.path.normpath(self.root / rel))
        if candidate.exists():
            return self.to_stored(candidate)
        return None
