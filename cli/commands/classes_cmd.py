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
    group.add_argument("--add", metavar="NAME", action="append",
                       help="add a class; several: --add cat,dog or --add cat --add dog")
    group.add_argument("--edit", metavar="NAME", help="change an existing class")
    p.add_argument("--key", help="keyboard key (one of 0-9, a-z; '' for none)")
    p.add_argument("--color", help="display colour as #rrggbb")
    p.add_argument("--description", help="what belongs in the class (shown to labelers)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_classes)


def _add(project: Project, args: argparse.Namespace) -> None:
    """Add the classes named by every ``--add`` (comma-separated, like ``init --classes``),
    all or none; ``--key``/``--color``/``--description`` only when adding one."""
    names = [n.strip() for text in args.add for n in text.split(",") if n.strip()]
    if not names:
        raise ClassKitError("--add: no class name given")
    if len({n.lower() for n in names}) < len(names):
        raise ClassKitError(f"--add names a class twice: {', '.join(names)}")
    if len(names) > 1 and (args.key is not None or args.color or args.description):
        raise ClassKitError("--key, --color and --description set one class: add "
                            f"{', '.join(names)} one at a time to set them")
    existing = project.classes()
    taken = [n for n in names if n.lower() in {c.name.lower() for c in existing}]
    if taken:
        raise ClassKitError(f"class {taken[0]!r} already exists; use --edit to change it"
                            + ("" if len(names) == 1 else " (nothing was added)"))
    defs = default_class_defs(names, {c.key for c in existing if c.key}, first_color=len(existing))
    if len(defs) == 1:
        base = defs[0]
        defs = [ClassDef(name=base.name, key=base.key if args.key is None else args.key,
                         color=args.color or base.color, description=args.description or "")]
    project.add_classes(defs)


def cmd_classes(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.add:
            _add(project, args)
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
