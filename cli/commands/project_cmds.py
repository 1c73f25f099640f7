"""``classkit init`` and ``classkit status``."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project
from classkit.engine.status import project_status

from ..output import emit_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a new project folder")
    p.add_argument("project", type=Path, help="project folder to create")
    p.add_argument("--name", help="display name (default: the folder name)")
    p.add_argument("--classes", default="", help="comma-separated class names, e.g. cat,dog")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("status", help="show what a project holds")
    p.add_argument("project", type=Path)
    p.add_argument("--issues", type=int, default=10, metavar="N",
                   help="list up to N open ingest issues (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)


def cmd_init(args: argparse.Namespace) -> int:
    from classkit.engine.ingest.scan import is_utf8, printable_path

    if not is_utf8(os.path.abspath(args.project)):
        raise ClassKitError(f"the project path {printable_path(os.path.abspath(args.project))} is "
                            f"not valid UTF-8 text; choose another name or folder")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    with Project.create(args.project, name=args.name, classes=classes) as project:
        info = {"project": project.manifest.name, "root": str(project.root),
                "classes": [c.to_dict() for c in project.classes()]}
    if args.json:
        emit_json(info)
    else:
        say(f"Created project '{info['project']}' at {info['root']}")
        if classes:
            say("Classes: " + ", ".join(f"{c['name']} [{c['key']}]" for c in info["classes"]))
        say(f"Next: classkit ingest {args.project} SOURCE...")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        info = project_status(project, max_issues=max(0, args.issues))
    if args.json:
        emit_json(info)
    else:
        _print_status(info)
    return 0


def _print_status(info: dict[str, Any]) -> None:
    say(f"Project   {info['project']}  ({info['root']})")
    say(f"Images    {info['images']}  ({info['duplicates']} exact duplicates) "
        f"from {len(info['sources'])} source(s)")
    say(f"Labeled   {info['labeled']} of {info['images']}")
    if info["classes"]:
        say("Classes   " + ", ".join(
            f"{c['name']} [{c['key'] or '-'}] {c['count']}" for c in info["classes"]))
    else:
        say("Classes   none yet")
    say(f"Issues    {info['ingest_issues']} open ingest issue(s)")
    for reason, n in info["ingest_issues_by_reason"].items():
        say(f"  {reason:<20} {n}")
    for item in info["issues"]:
        say(f"  - {item['reason']}: {item['path']}  {item['detail']}")
    if info["ingest_issues"] > len(info["issues"]):
        say("  ... (classkit status --issues N to list more)")
    run = info.get("last_ingest")
    if run:
        summary = run.get("summary") or {}
        say(f"Last run  ingest #{run['id']} {run['status']}: "
            + json.dumps({k: summary.get(k) for k in ("added", "unchanged", "changed", "issues")}))
    thumbs = info["thumbnails"]
    say(f"Thumbs    {thumbs['files']} cached ({thumbs['bytes'] / 1e6:.1f} MB)")
