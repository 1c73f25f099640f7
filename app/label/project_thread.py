"""One dedicated worker thread with its own open project (SQLite connections are per thread)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from classkit.engine.project import Project


class ProjectThread:
    """Base of the workbench's reader and writer: work runs serially on one thread, which
    opens the project on first use and closes it on :meth:`close`."""

    def __init__(self, root: str | Path, name: str) -> None:
        self._root = Path(root)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    def _project(self) -> Project:
        p = getattr(self._local, "project", None)
        if p is None:
            p = self._local.project = Project.open(self._root)
        return p

    def close(self, wait: bool = True) -> None:
        """Close the thread's project on that thread, then stop the thread."""
        def shut() -> None:
            p = getattr(self._local, "project", None)
            if p is not None:
                p.close()
                self._local.project = None
        try:
            self._pool.submit(shut)
        except RuntimeError:  # interpreter shutdown: the thread is gone with its connection
            return
        self._pool.shutdown(wait=wait)
