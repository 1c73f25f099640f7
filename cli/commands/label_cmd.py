"""``classkit label PROJECT``: import labels from a CSV, set labels by image id, undo, history."""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project

from ..output import emit_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="import labels from a CSV, label images by id, undo, history")
    p.add_argument("project", type=Path)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--csv", type=Path, metavar="FILE",
                      help="CSV with a path (as ingested, absolute, or relative to the CSV, the "
                           "project or the current folder) or id column and a label column")
    what.add_argument("--id", type=int, action="append", metavar="ID", dest="ids",
                      help="image id to label with --set or --clear (repeatable)")
    what.add_argument("--undo", action="store_true",
                      help="undo the latest label a person gave (again to walk back), or --event N")
    what.add_argument("--history", type=int, metavar="ID", help="label events of one image")
    p.add_argument("--create-classes", action="store_true",
                   help="with --csv: create classes the CSV names that the project lacks")
    p.add_argument("--source", choices=("import", "manual"), default=None,
                   help="with --csv: 'import' never overrides a person's label (the default); "
                        "'manual' vouches for the CSV and overrides (the default for a review "
                        "sheet from `classkit suspects --out`, whose kept labels count as confirmed)")
    p.add_argument("--dry-run", action="store_true", help="with --csv: validate and count, write nothing")
    p.add_argument("--set", metavar="LABEL", dest="set_label",
                   help="with --id: a class name or unsure/junk/skip")
    p.add_argument("--clear", action="store_true", help="with --id: remove the label")
    p.add_argument("--reason", default="", help="with --id: note stored with the events")
    p.add_argument("--event", type=int, metavar="N", help="with --undo: the event id to undo")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    if args.ids is not None and (args.set_label is None) == (not args.clear):
        raise ClassKitError("--id needs exactly one of --set LABEL or --clear")
    with Project.open(args.project) as project:
        if args.csv is not None:
            return _csv(project, args)
        if args.ids is not None:
            return _set(project, args)
        if args.undo:
            return _undo(project, args)
        return _history(project, args)


def _csv(project: Project, args: argparse.Namespace) -> int:
    from classkit.engine.labels import import_label_csv, summary_lines

    s = import_label_csv(project, args.csv, create_classes=args.create_classes, source=args.source,
                         dry_run=args.dry_run)
    if args.json:
        emit_json(s)
        return 0
    for line in summary_lines(s):
        say(line)
    return 0


def _set(project: Project, args: argparse.Namespace) -> int:
    from classkit.engine.labels import add_labels, current_labels

    label = None if args.clear else args.set_label
    events = add_labels(project, args.ids, label, source="manual", reason=args.reason)
    now = current_labels(project)
    out = {"events": events, "labels": {str(i): now.get(i) for i in args.ids}}
    if args.json:
        emit_json(out)
    else:
        for i in dict.fromkeys(args.ids):
            say(f"image {i}: {now.get(i) or '(unlabeled)'}")
    return 0


def _undo(project: Project, args: argparse.Namespace) -> int:
    from classkit.engine.labels import undo

    new = undo(project, args.event)
    out: dict[str, Any] = {"event": new, "undone": None, "image_id": None, "label": None}
    if new is not None:
        row = project.db.execute("SELECT image_id, label, undo_of FROM label_events WHERE id=?",
                                 (new,)).fetchone()
        out.update(undone=row["undo_of"], image_id=row["image_id"], label=row["label"])
    if args.json:
        emit_json(out)
    elif new is None:
        say("nothing to undo")
    else:
        say(f"undid event {out['undone']}: image {out['image_id']} is now {out['label'] or '(unlabeled)'}")
    return 0


def _history(project: Project, args: argparse.Namespace) -> int:
    from classkit.engine.labels import label_history

    events = label_history(project, args.history)
    row = project.db.execute("SELECT path FROM images WHERE id=?", (args.history,)).fetchone()
    current = project.db.execute("SELECT label FROM current_labels WHERE image_id=?",
                                 (args.history,)).fetchone()
    out = {"image_id": args.history, "path": str(project.paths.resolve(row["path"])),
           "label": current["label"] if current else None, "events": events}
    if args.json:
        emit_json(out)
        return 0
    say(f"image {args.history}: {out['path']}  now: {out['label'] or '(unlabeled)'}")
    for e in events:
        when = datetime.datetime.fromtimestamp(e["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
        note = f"  ({e['reason']})" if e["reason"] else ""
        flag = "  [undone]" if e["undone"] else ""
        say(f"  #{e['id']:<6} {when}  round {e['round']}  {e['source']:<19} "
            f"{e['label'] or '(cleared)'}{note}{flag}")
    if not events:
        say("  no label events")
    return 0
