"""``classkit thumbs PROJECT``: build (and optionally prune) the thumbnail cache."""
from __future__ import annotations

import argparse
from pathlib import Path

from classkit.engine.project import Project
from classkit.engine.thumbs import build_thumbnails, prune_thumbnails

from ..output import close_progress, emit_json, progress_for, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("thumbs", help="build the thumbnail cache")
    p.add_argument("project", type=Path)
    p.add_argument("--size", type=int, help="longest side in pixels (default: project setting, 256)")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    p.add_argument("--rebuild", action="store_true", help="rebuild thumbnails that exist")
    p.add_argument("--prune", action="store_true",
                   help="afterwards drop orphans and least-recently-used files over the cache limit")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_thumbs)


def cmd_thumbs(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            summary = build_thumbnails(project, size=args.size, workers=args.workers,
                                       progress=progress, only_missing=not args.rebuild)
        finally:
            close_progress(progress)
        if args.prune:
            summary["prune"] = prune_thumbnails(project)
    if args.json:
        emit_json(summary)
        return 0
    say(f"Thumbnails ({summary['size']} px): built {summary['built']}, already cached "
        f"{summary['skipped_existing']}, failed {summary['failed']} in {summary['elapsed_s']:.1f} s")
    failures = summary.get("failures", [])
    for f in failures:
        say(f"  - image {f['image_id']}: {f['path']}: {f['reason']}")
    if summary["failed"] > len(failures):
        say(f"  ... and {summary['failed'] - len(failures)} more")
    if "prune" in summary:
        say(f"Pruned: {summary['prune']}")
    return 0
