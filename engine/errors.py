"""Exception types the engine raises on purpose.

Callers (CLI, app) catch :class:`ClassKitError` and show its message as one clear line;
anything else is a bug and is reported with its traceback.
"""
import errno
import sqlite3


class ClassKitError(Exception):
    """A handled, user-facing error: the message says what went wrong and what to do."""


class ConfigError(ClassKitError, ValueError):
    """A config value is invalid; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def __reduce__(self) -> tuple:  # picklable, so it can come back from a worker process
        return (type(self), (self.field, self.message))


class ProjectError(ClassKitError):
    """The project folder is missing, invalid, or from an unsupported newer version."""


class Cancelled(ClassKitError):
    """A job stopped because its cancel token was set."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


_SQLITE_HINTS = (
    ("disk is full", "the disk holding the project is full, so the project database could not save "
                     "this change (nothing of it was kept; earlier work is intact): free some space "
                     "and do it again"),
    ("database is locked", "the project database is busy: another ClassKit process is writing to "
                           "it; try again in a moment"),
    ("readonly database", "the project database is read-only: check the permissions of the project "
                          "folder and its state/classkit.db"),
    ("unable to open database", "cannot open the project database: check that the project folder "
                                "exists and is writable"),
    ("malformed", "the project database is damaged: restore the project folder from a backup"),
)


def describe_storage_error(exc: BaseException) -> str | None:
    """A user-facing sentence for a storage failure (SQLite error, full disk, no permission),
    or None when ``exc`` is not one. Used by the CLI and the app for one clear line."""
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        for needle, hint in _SQLITE_HINTS:
            if needle in text:
                return hint
        return f"project database error: {text}"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"no space left on the disk{where}: free some space and run it again"
    return None
