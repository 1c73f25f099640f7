"""``classkit`` entry point: argparse sub-commands, logging, exit codes.

Exit codes: 0 success, 1 handled error (one clear line on stderr), 2 usage, 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence

from classkit.engine import __version__
from classkit.engine.errors import Cancelled, ClassKitError, describe_storage_error

from .commands import (classes_cmd, demo_cmd, embed_cmds, export_cmd, gui_cmd, ingest_cmd, label_cmd,
                       loop_cmds, project_cmds, similarity_cmds, thumbs_cmd)

# Names later releases fill in; reserved now so nothing else takes them.
RESERVED: dict[str, str] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classkit", description="Build image-classification datasets with few labels, offline.")
    parser.add_argument("--version", action="version", version=f"classkit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output on stderr (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (project_cmds, classes_cmd, ingest_cmd, label_cmd, thumbs_cmd, embed_cmds,
                   similarity_cmds, loop_cmds, export_cmd, demo_cmd, gui_cmd):
        module.register(sub)
    for name, what in RESERVED.items():
        p = sub.add_parser(name, help=f"({what}: not in this version yet)", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_reserved, reserved=name, what=what)
    return parser


def _reserved(args: argparse.Namespace) -> int:
    sys.stderr.write(f"classkit: '{args.reserved}' ({args.what}) is not available in "
                     f"classkit {__version__} yet\n")
    return 2


def _setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)])
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("classkit")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        sys.stderr.write("classkit: cancelled; what was done is saved, run again to resume\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\nclasskit: interrupted; what was done is saved, run again to resume\n")
        return 130
    except ClassKitError as exc:
        sys.stderr.write(f"classkit: error: {exc}\n")
        return 1
    except BrokenPipeError:  # the reader went away (`classkit status | head`): no traceback
        _stdout_to_devnull()
        return 1
    except (OSError, sqlite3.Error) as exc:  # disk full, no permission, database busy...
        logging.getLogger("classkit").debug("storage error", exc_info=True)  # traceback with -vv
        text = describe_storage_error(exc)
        if text is None:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            text = f"{getattr(exc, 'strerror', None) or exc}{where}"
        sys.stderr.write(f"classkit: error: {text}\n")
        return 1


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # no real file descriptor (tests capture stdout): nothing will flush it


if __name__ == "__main__":
    sys.exit(main())
