"""``classkit demo [DIR]``: headless end-to-end run on a generated demo dataset."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from classkit.engine.demo import CLASSES, make_demo_data
from classkit.engine.embed.job import embed_project
from classkit.engine.embed.spec import resolve_model
from classkit.engine.ingest import ingest
from classkit.engine.project import Project
from classkit.engine.status import project_status
from classkit.engine.thumbs import build_thumbnails

from ..output import close_progress, emit_json, progress_for, say
from .ingest_cmd import _print_summary
from .project_cmds import _print_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="make a demo dataset and run the whole pipeline on it")
    p.add_argument("dir", nargs="?", type=Path, default=Path("demo"),
                   help="folder for demo data and project (default ./demo)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.time()
    sources = make_demo_data(args.dir / "data")
    root = args.dir / "project"
    project = Project.open(root) if (root / "classkit_project.json").exists() else \
        Project.create(root, name="ClassKit demo", classes=list(CLASSES))
    progress = progress_for(args.json)
    runs = []
    with project:
        try:
            for kind, path in sources.items():
                summary = ingest(project, [path], kind=kind, progress=progress)
                runs.append(summary)
                if not args.json:
                    _print_summary(summary)
            thumbs = build_thumbnails(project, progress=progress)
            embedded = embed_project(project, resolve_model(None), progress=progress)
            loop = _learning_loop(project, progress)
        finally:
            close_progress(progress)
        status = project_status(project)
    if args.json:
        emit_json({"project": str(project.root), "ingest": runs, "thumbnails": thumbs,
                   "embeddings": embedded, "status": status, **loop,
                   "elapsed_s": round(time.time() - t0, 2)})
        return 0
    say(f"Thumbnails: built {thumbs['built']}, cached {thumbs['skipped_existing']}")
    say(f"Embeddings: {embedded['count']} x {embedded['dim']} ({embedded['model']}), "
        f"version {embedded['version']}")
    say(f"Map: {loop['map']['count']} points; clusters: k={loop['clusters']['k']}")
    val = loop["train"]["metrics"].get("val")
    say(f"Round {loop['train']['round']}: val accuracy "
        f"{val['accuracy']:.3f}" if val else f"Round {loop['train']['round']} trained")
    say(f"Next batch {loop['batch']['batch']}: {len(loop['batch']['items'])} images "
        f"({', '.join(f'{k} {v}' for k, v in loop['batch']['composition']['by_reason'].items())})")
    say()
    _print_status(status)
    say()
    say(f"Demo finished in {time.time() - t0:.1f} s. Open it: classkit gui {root}")
    say(f"Or from the shell: classkit neighbors {root} 1; classkit select {root} --budget 20; "
        f"classkit predict {root} --out predictions.csv; classkit export {root} --format csv --out exports")
    return 0


def _learning_loop(project: Project, progress: Any) -> dict[str, Any]:
    """Map, clusters, one training round and a first batch, so every view has content."""
    from classkit.engine.loop.rounds import train_round
    from classkit.engine.loop.selection import select_for_project
    from classkit.engine.similarity.project_layer import cluster_project, compute_project_map

    out: dict[str, Any] = {"map": compute_project_map(project, progress=progress),
                           "clusters": cluster_project(project, progress=progress)}
    out["train"] = train_round(project, folds=3, progress=progress)
    batch = select_for_project(project, 20, progress=progress)
    out["batch"] = {k: batch[k] for k in ("batch", "items", "composition")}
    return out
