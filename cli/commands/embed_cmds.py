"""``classkit models`` and ``classkit embed``."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from classkit.engine.project import Project

from ..output import close_progress, emit_json, progress_for, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the available embedders, or check a model file")
    p.add_argument("--check", metavar="MODEL",
                   help="load a built-in name, an .onnx file (with sidecar spec) or a spec .json "
                        "and run the load-time checks")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("embed", help="compute image embeddings (a new version when images or model changed)")
    p.add_argument("project", type=Path)
    p.add_argument("--model", help="built-in name (see `classkit models`), FILE.onnx with a sidecar "
                                   "FILE.json spec, or a spec .json (default: the built-in model of the "
                                   "project's current embeddings, else the first built-in)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, help="inference threads (default: all cores)")
    p.add_argument("--decode-workers", type=int, help="image decoding workers")
    p.add_argument("--fp16", action="store_true", help="store the matrix as float16 (half the disk)")
    p.add_argument("--recompute", action="store_true",
                   help="compute every row again into a new version, even when the current one is "
                        "up to date (nothing is copied from older versions)")
    p.add_argument("--list", action="store_true", help="list embedding versions and exit")
    p.add_argument("--use", metavar="VERSION", help="make an existing version current and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_embed)


def _model_row(ref: Any) -> dict[str, Any]:
    s = ref.spec
    path = ref.path
    return {"name": s.name, "dim": s.output_dim, "input_size": s.input_size,
            "file": str(path), "size_mb": round(path.stat().st_size / 1e6, 1) if path.exists() else None,
            "builtin": ref.builtin, "description": s.description, "license": s.license}


def cmd_models(args: argparse.Namespace) -> int:
    from classkit.engine.embed.spec import builtin_models, resolve_model

    if args.check:
        from classkit.engine.embed.onnx_backend import OnnxEmbedder

        ref = resolve_model(args.check)
        OnnxEmbedder(ref, threads=1)  # raises a clear ClassKitError when something is off
        row = {**_model_row(ref), "ok": True}
        if args.json:
            emit_json(row)
        else:
            say(f"{row['name']}: OK ({row['dim']}-d, input {row['input_size']} px, {row['file']})")
        return 0
    rows = [_model_row(r) for r in builtin_models()]
    if args.json:
        emit_json({"models": rows, "default": rows[0]["name"] if rows else None})
        return 0
    for i, row in enumerate(rows):
        mark = " (default)" if i == 0 else ""
        say(f"{row['name']:<20} {row['dim']:>5}-d  {row['input_size']} px  "
            f"{row['size_mb']} MB{mark}")
    say("User models: --model FILE.onnx with a sidecar FILE.json spec (see docs/models.md).")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from classkit.engine.embed.job import embed_project
    from classkit.engine.embed.spec import model_for_project
    from classkit.engine.embed.store import current_model_name, list_embedding_versions, use_embeddings

    with Project.open(args.project) as project:
        if args.use:
            use_embeddings(project, args.use)
        if args.list or args.use:
            versions = list_embedding_versions(project)
            if args.json:
                emit_json({"versions": versions})
            else:
                for v in versions:
                    failed = f", {v['failed']} failed" if v.get("failed") else ""
                    say(f"{'*' if v['is_current'] else ' '} {v['version']}  {v['model']}  "
                        f"{v['count']} x {v['dim']} {v['dtype']}{failed}")
            return 0
        ref, hint = model_for_project(args.model, current_model_name(project))
        if hint and not args.json:
            say(f"Note: {hint}.")
        progress = progress_for(args.json)
        try:
            summary = embed_project(project, ref, batch_size=args.batch_size, threads=args.threads,
                                    decode_workers=args.decode_workers, fp16=args.fp16,
                                    reuse=not args.recompute, progress=progress)
        finally:
            close_progress(progress)
    if args.json:
        emit_json(summary)
        return 0
    _print_embed_summary(summary, ref.spec.name)
    return 0


def _print_embed_summary(summary: dict[str, Any], model: str) -> None:
    count, failed = summary.get("count", 0), summary.get("failed", 0)
    if summary.get("up_to_date"):
        say(f"Embeddings are up to date: version {summary.get('version')} holds all {count} "
            f"image(s) with {model} ({summary.get('dim')}-d); nothing to compute "
            f"(--recompute makes a new version anyway)")
        return
    done = f"{count - failed} of {count}" if failed else f"{count}"
    say(f"Embedded {done} image(s) with {model} ({summary.get('dim')}-d) into version "
        f"{summary.get('version')}")
    keys = ("images_per_s", "rows_resumed", "rows_reused") if summary.get("images_computed") else (
        "rows_resumed", "rows_reused")  # a rate over no images reads as 0.0
    for key in keys:
        if summary.get(key) is not None:
            say(f"  {key.replace('_', ' ')}: {summary[key]}")
    if not failed:
        return
    reasons = ", ".join(f"{r} {n}" for r, n in summary.get("failures_by_reason", {}).items())
    say(f"  failed: {failed}" + (f" ({reasons})" if reasons else "")
        + "; their rows stay zeros and later steps leave them out")
    for f in summary.get("failures", [])[:5]:
        say(f"    image {f['id']}: {f['path']}: {f['reason']}")
    if failed > 5:
        say("    ... (--json lists the first 20)")
    say("  restore or replace those files (then `classkit ingest` again) and run embed again: "
        "rows already done are reused")
