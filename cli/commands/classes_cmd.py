"""``classkit classes PROJECT``: list, add and edit class definitions."""
from __future__ import annotations

import argparse
from pathlib import Path

from classkit.engine.config import ClassDef, default_class_defs
from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project

from ..output import emit_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classes", help="list, add or edit classes (name, key, colour, description)")
    p.add_argument("project", type=Path)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--add", metavar="NAME", help="add a class")
    group.add_argument("--edit", metavar="NAME", help="change an existing class")
    p.add_argument("--key", help="keyboard key (one of 0-9, a-z; '' for none)")
    p.add_argument("--color", help="display colour as #rrggbb")
    p.add_argument("--description", help="what belongs in the class (shown to labelers)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_classes)


def cmd_classes(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.add:
            existing = project.classes()
            base = default_class_defs([args.add], {c.key for c in existing if c.key},
                                      first_color=len(existing))[0]
            new = ClassDef(name=base.name, key=base.key if args.key is None else args.key,
                           color=args.color or base.color, description=args.description or "")
            if not project.add_classes([new]):
                raise ClassKitError(f"class {new.name!r} already exists; use --edit to change it")
        elif args.edit:
            project.update_class(args.edit, key=args.key, color=args.color,
                                 description=args.description)
        classes = [c.to_dict() for c in project.classes()]
    if args.json:
        emit_json({"classes": classes})
        return 0
    for c in classes:
        desc = f"  {c['description']}" if c["description"] else ""
        say(f"[{c['key'] or '-'}] {c['name']:<24} {c['color']}{desc}")
    if not classes:
        say("no classes yet: classkit classes PROJECT --add NAME")
    return 0
