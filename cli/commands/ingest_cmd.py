"""``classkit ingest PROJECT SOURCE... [--kind ...]``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError, ConfigError
from classkit.engine.ingest import ingest
from classkit.engine.ingest.model import SOURCE_KINDS
from classkit.engine.project import Project

from ..output import close_progress, emit_json, progress_for, say


# IngestConfig field -> the option that sets it, so errors name what the user typed.
FLAGS = {"workers": "--workers", "video_every_n": "--every-n", "video_fps": "--fps",
         "video_max_frames": "--max-frames", "bbox_pad_frac": "--pad", "max_pixels": "--max-pixels",
         "check": "--check"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add images from folders, videos, datasets, PoseKit projects")
    p.add_argument("project", type=Path)
    p.add_argument("sources", nargs="+", type=Path, metavar="SOURCE")
    p.add_argument("--kind", default="auto", choices=("auto", *SOURCE_KINDS),
                   help="source kind (auto never guesses imagefolder: pass it to import "
                        "folder names as labels)")
    p.add_argument("--workers", type=int, help="decode processes (default: all cores)")
    p.add_argument("--every-n", type=int, dest="video_every_n",
                   help="videos: take every Nth frame")
    p.add_argument("--fps", type=float, dest="video_fps",
                   help="videos: frames per second to take (default 1)")
    p.add_argument("--max-frames", type=int, dest="video_max_frames",
                   help="videos: at most this many frames per video")
    p.add_argument("--pad", type=float, dest="bbox_pad_frac",
                   help="PoseKit: box padding as a fraction of the box (default: the project's)")
    p.add_argument("--max-pixels", type=int, dest="max_pixels",
                   help="report images with more pixels than this as too large")
    p.add_argument("--check", choices=("decode", "quick"),
                   help="decode: decode every image fully (default, catches most damage); "
                        "quick: check JPEG structure only, ~10x faster on JPEGs")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        overrides = {k: getattr(args, k) for k in (
            "workers", "video_every_n", "video_fps", "video_max_frames", "bbox_pad_frac",
            "max_pixels", "check") if getattr(args, k) is not None}
        if overrides.get("video_fps") is not None and "video_every_n" not in overrides:
            overrides["video_every_n"] = 0
        try:
            config = IngestConfig.from_dict({**project.ingest_config.to_dict(), **overrides})
        except ConfigError as exc:
            if exc.field not in overrides:
                raise
            raise ClassKitError(f"{FLAGS.get(exc.field, exc.field)}: {exc.message}") from None
        progress = progress_for(args.json)
        try:
            summary = ingest(project, args.sources, kind=args.kind, config=config,
                             progress=progress)
        finally:
            close_progress(progress)
    if args.json:
        emit_json(summary)
    else:
        _print_summary(summary)
    return 0


def _print_summary(s: dict[str, Any]) -> None:
    for src in s["sources"]:
        extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in src.items()
                          if k not in ("path", "kind", "source_id", "found", "issues"))
        say(f"{src['kind']:<12} {src['path']}: {src['found']} item(s)" + (f" ({extra})" if extra else ""))
    say(f"Added {s['added']}, unchanged {s['unchanged']}, changed {s['changed']}, "
        f"exact duplicates {s['duplicates']}, labels imported {s['labels_imported']} "
        f"in {s['elapsed_s']:.1f} s")
    if s.get("classes_created"):
        say(f"Created {s['classes_created']} class(es) from the dataset's labels (classkit classes)")
    if s["issues"]:
        say(f"{s['issues']} ingest issue(s), recorded in the project (classkit status):")
        for reason, n in s["issues_by_reason"].items():
            say(f"  {reason:<20} {n}")
    for hint in s["hints"]:
        say(f"hint: {hint}")
