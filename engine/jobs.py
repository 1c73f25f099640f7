"""Job plumbing shared by every long engine task: progress callbacks and cancel tokens.

A job is a plain function taking ``progress(done, total, msg)`` and a :class:`CancelToken`;
it calls ``token.raise_if_cancelled()`` between chunks. The CLI drives it with a progress bar,
the app wraps it in a QRunnable. Nothing here knows about either.
"""
from __future__ import annotations

import threading
from typing import Protocol

from .errors import Cancelled


class ProgressFn(Protocol):
    """``progress(done, total, msg)``: called from the job's thread, must be cheap."""

    def __call__(self, done: int, total: int, msg: str = "") -> None: ...


def no_progress(done: int, total: int, msg: str = "") -> None:
    """Progress sink that ignores everything."""


class CancelToken:
    """Thread-safe flag a caller sets to ask a running job to stop at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled()
