"""``classkit gui [PROJECT]``: open the desktop app (Qt loads only inside this command)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from classkit.engine.errors import ClassKitError
from classkit.engine.userdirs import log_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (optionally on a project)")
    p.add_argument("project", nargs="?", type=Path, help="project folder to open")
    p.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="save the window once the map is shown, then quit (works offscreen: "
                        "QT_QPA_PLATFORM=offscreen); prints the timings as JSON")
    p.set_defaults(func=cmd_gui)


def no_display() -> bool:
    """True on Linux when no display is reachable and no Qt platform was chosen (Qt would
    abort with a misleading message about missing xcb libraries)."""
    env = os.environ
    return (sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")
            and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"))


def cmd_gui(args: argparse.Namespace) -> int:
    if no_display():
        raise ClassKitError("no display found (DISPLAY and WAYLAND_DISPLAY are not set): run "
                            "`classkit gui` in a desktop session, or over ssh -X; for a headless "
                            "check, set QT_QPA_PLATFORM=offscreen")
    _log_to_file()
    # Lazy: the rest of the CLI must work (and start fast) without loading Qt.
    from classkit.app.main import run

    return run(sys.argv[:1], args.project, quit_after_ms=args.quit_after, screenshot=args.screenshot)


def _log_to_file() -> None:
    """The app's log, Qt's messages included, also goes to the user's log folder: an app
    started from the desktop menu has no terminal to show them."""
    logger = logging.getLogger("classkit")
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / "classkit-gui.log", maxBytes=2_000_000, backupCount=2,
                                      encoding="utf-8")
    except OSError as exc:  # a read-only home must not stop the app
        logger.warning("no app log file in %s: %s", folder, exc)
        return
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(min(logger.level or logging.INFO, logging.INFO))


def main() -> None:
    """``classkit-gui [PROJECT]`` launcher."""
    from classkit.cli.main import main as cli_main

    sys.exit(cli_main(["gui", *sys.argv[1:]]))
