"""Terminal output helpers: progress bars on a TTY, one JSON object with --json."""
from __future__ import annotations

import json
import sys
from typing import Any

from classkit.engine.jobs import ProgressFn, no_progress


class ProgressBar:
    """A ``progress(done, total, msg)`` sink drawing a tqdm bar on stderr; one bar per phase."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._msg: str | None = None

    def __call__(self, done: int, total: int, msg: str = "") -> None:
        from tqdm import tqdm

        if msg != self._msg or self._bar is None or (total and self._bar.total != total):
            self.close()
            self._msg = msg
            self._bar = tqdm(total=total or None, desc=msg or None, unit="it",
                             file=sys.stderr, leave=False, dynamic_ncols=True)
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_for(json_mode: bool) -> ProgressBar | ProgressFn:
    """A progress bar when a person watches stderr; silence for --json or pipes."""
    if json_mode or not sys.stderr.isatty():
        return no_progress
    return ProgressBar()


def close_progress(progress: object) -> None:
    if isinstance(progress, ProgressBar):
        progress.close()


def emit_json(obj: Any) -> None:
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
