"""Exception types the engine raises on purpose.

Callers (CLI, app) catch :class:`ClassKitError` and show its message as one clear line;
anything else is a bug and is reported with its traceback.
"""


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
