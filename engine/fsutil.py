"""Crash-safe file writes: write to a temporary file in the same folder, fsync, rename."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def open_atomic(path: Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """A file object whose contents replace ``path`` only when the ``with`` block ends
    without error (fsync, then rename); on any error, or Ctrl-C, the temporary file is
    removed and ``path`` is untouched. ``mode`` is "wb" or "w" (``kwargs`` go to ``open``)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic writes only ('wb' or 'w'), got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half."""
    with open_atomic(path, "wb") as fh:
        fh.write(data)


def write_csv_atomic(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Replace ``path`` with a UTF-8 CSV of ``rows`` (dicts) under a ``columns`` header."""
    import csv

    with open_atomic(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as pretty, key-sorted JSON (stable diffs)."""
    data = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, data.encode("utf-8"))
