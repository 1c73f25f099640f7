"""``classkit export PROJECT --format ... --out DIR``: a versioned, reproducible dataset export."""
from __future__ import annotations

import argparse
from pathlib import Path

from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project

from ..output import close_progress, emit_json, progress_for, say

FORMATS = ("imagefolder", "csv", "parquet", "ultralytics")
LINKS = ("copy", "hardlink", "symlink")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the labeled dataset (ImageFolder, CSV, Parquet, "
                                      "Ultralytics classify) as a new version folder")
    p.add_argument("project", type=Path)
    p.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="export root: each export is a new version folder inside it (DIR must be "
                        "new, empty, or an earlier export root)")
    p.add_argument("--link", choices=LINKS, default="copy",
                   help="imagefolder/ultralytics: copy files (default), hardlink them (falls back to "
                        "a copy across devices) or symlink them")
    p.add_argument("--include", default="", metavar="STATUSES",
                   help="also export these label statuses, comma-separated: unsure, junk, skip "
                        "(as folders of that name), unlabeled (csv/parquet only)")
    p.add_argument("--include-predicted", type=float, metavar="CONF",
                   help="give unlabeled images their predicted class when its calibrated confidence "
                        "is at least CONF (label_source=predicted; only ever in train)")
    p.add_argument("--snapshot", type=int, metavar="N",
                   help="export the labels as of label event N (default: now); the manifest "
                        "records it, so the same N exports the same dataset later")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed for splits given to labeled images that lack one (default 0)")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out images whose file is missing or unreadable (listed in the "
                        "manifest) instead of stopping")
    p.add_argument("--allow-empty-splits", action="store_true",
                   help="ultralytics: export even when a class has no images in a split (warns)")
    p.add_argument("--upright", action="store_true",
                   help="imagefolder/ultralytics with copied files: write photos that carry an EXIF "
                        "orientation with it applied to the pixels (re-encoded; JPEG at quality 95), "
                        "for loaders that ignore EXIF")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)


def _statuses(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))


def cmd_export(args: argparse.Namespace) -> int:
    from classkit.engine.export import ExportOptions, export_project

    if args.link != "copy" and args.fmt not in ("imagefolder", "ultralytics"):
        raise ClassKitError(f"--link applies to imagefolder and ultralytics exports, not {args.fmt}")
    options = ExportOptions(include=_statuses(args.include), include_predicted=args.include_predicted,
                            snapshot=args.snapshot, split_seed=args.split_seed, link=args.link,
                            skip_missing=args.skip_missing, allow_empty_splits=args.allow_empty_splits,
                            upright=args.upright)
    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            result = export_project(project, args.fmt, args.out, options, progress)
        finally:
            close_progress(progress)
    if args.json:
        emit_json({"version": result.version, "path": str(result.path),
                   "manifest": str(result.manifest), "format": result.format,
                   "snapshot": result.snapshot, "counts": result.counts, "folders": result.folders,
                   "warnings": result.warnings, "skipped_missing": result.skipped_missing,
                   "copied_instead": result.copied_instead,
                   "changed_since_ingest": result.changed_since_ingest})
        return 0
    c = result.counts
    say(f"exported {c['images']} image(s) as {result.format} to {result.path}")
    say(f"  label snapshot {result.snapshot}; manifest {result.manifest}")
    say("  per label: " + ", ".join(f"{k} {v}" for k, v in c["labels"].items()))
    say("  per split: " + ", ".join(f"{k} {v}" for k, v in c["splits"].items()))
    for label, folder in result.folders.items():
        if label != folder:
            say(f"  class {label!r} -> folder {folder!r} (made safe)")
    if result.skipped_missing:
        say(f"  skipped {len(result.skipped_missing)} missing or unreadable image(s) (see the manifest)")
    for w in result.warnings:
        say(f"  warning: {w}")
    return 0
