"""``classkit gui [PROJECT]``: open the desktop app (Qt loads only inside this command)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from classkit.engine.errors import ClassKitError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (optionally on a project)")
    p.add_argument("project", nargs="?", type=Path, help="project folder to open")
    p.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
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
    # Lazy: the rest of the CLI must work (and start fast) without loading Qt.
    from classkit.app.main import run

    return run(sys.argv[:1], args.project, quit_after_ms=args.quit_after)


def main() -> None:
    """``classkit-gui [PROJECT]`` launcher."""
    from classkit.cli.main import main as cli_main

    sys.exit(cli_main(["gui", *sys.argv[1:]]))
