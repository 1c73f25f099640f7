"""``classkit gui [PROJECT]``: open the desktop app (Qt loads only inside this command)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app (optionally on a project)")
    p.add_argument("project", nargs="?", type=Path, help="project folder to open")
    p.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
    p.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    # Lazy: the rest of the CLI must work (and start fast) without loading Qt.
    from classkit.app.main import run

    return run(sys.argv[:1], args.project, quit_after_ms=args.quit_after)


def main() -> None:
    """``classkit-gui [PROJECT]`` launcher."""
    from classkit.cli.main import main as cli_main

    sys.exit(cli_main(["gui", *sys.argv[1:]]))
