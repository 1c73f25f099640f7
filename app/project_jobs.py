"""Worker-side project jobs for the app: each opens its own ``Project`` (SQLite connections
are per thread), runs one engine job, and returns a plain snapshot for the GUI thread.

Every function follows the engine job contract (``progress``, ``cancel`` keywords) and
imports the heavy engine parts (onnxruntime, faiss, umap, torch) inside, off the GUI thread.
No Qt here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from classkit.engine.jobs import CancelToken, ProgressFn
from classkit.engine.project import Project


def quick_status(project: Project) -> dict[str, Any]:
    """The part of ``project_status`` that is quick at 1M images (no thumbnail cache walk)."""
    from classkit.engine.labels.events import label_counts

    q = project.db.execute
    per_class = label_counts(project)
    return {"project": project.manifest.name, "root": str(project.root),
            **project.counts(labeled=sum(per_class.values())),
            "classes": [{**c.to_dict(), "count": per_class.get(c.name, 0)} for c in project.classes()],
            "sources": [dict(r) for r in q("SELECT id, kind, path, last_ingested_at FROM sources")]}


def snapshot(project: Project, full: bool = True) -> dict[str, Any]:
    """Everything the shell shows about a project, as JSON-like values.

    ``full=False`` skips the slow parts of the status (walking the thumbnail cache), so a
    big project opens at once; a full refresh follows.
    """
    from classkit.engine.status import project_status

    status = project_status(project) if full else quick_status(project)
    emb = project.current_artifact("embeddings")
    return {
        "path": str(project.root), "name": project.manifest.name, "status": status,
        "settings": project.settings.to_dict(),
        "hasEmbeddings": emb is not None,
        "hasIndex": emb is not None and (emb / "index" / "index.json").is_file(),
        "hasMap": project.current_artifact("map") is not None,
        "hasClusters": project.current_artifact("clusters") is not None,
        "versions": {stage: _version(project, stage) for stage in ("embeddings", "map", "clusters")},
    }


def _version(project: Project, stage: str) -> str:
    folder = project.current_artifact(stage)
    return folder.name if folder is not None else ""


def _with_project(path: str, work: Any, full: bool = True) -> dict[str, Any]:
    with Project.open(Path(path)) as project:
        result = work(project)
        return {"result": result, "snapshot": snapshot(project, full)}


def open_job(path: str, full: bool = False, *, progress: ProgressFn,
             cancel: CancelToken) -> dict[str, Any]:
    """Open (validate, migrate) a project and read its snapshot (quick unless ``full``)."""
    progress(0, 0, "opening project" if not full else "reading project status")
    return _with_project(path, lambda project: None, full)


def create_job(folder: str, name: str, classes: list[str], *, progress: ProgressFn,
               cancel: CancelToken) -> dict[str, Any]:
    """Create a new project folder with the given classes."""
    progress(0, 0, "creating project")
    with Project.create(Path(folder), name=name or None, classes=classes) as project:
        return {"result": None, "snapshot": snapshot(project)}


def ingest_job(path: str, sources: list[str], kind: str, *, progress: ProgressFn,
               cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.ingest import ingest

    return _with_project(path, lambda p: ingest(p, sources, kind=kind, progress=progress,
                                                 cancel=cancel))


def thumbs_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.thumbs import build_thumbnails

    return _with_project(path, lambda p: build_thumbnails(p, progress=progress, cancel=cancel))


def embed_job(path: str, model: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.embed.job import embed_project
    from classkit.engine.embed.spec import model_for_project
    from classkit.engine.embed.store import current_model_name

    def work(p: Project) -> dict[str, Any]:
        ref, _hint = model_for_project(model or None, current_model_name(p))
        return embed_project(p, ref, progress=progress, cancel=cancel)

    return _with_project(path, work)


def index_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.similarity.project_layer import ensure_graph, ensure_index

    def work(p: Project) -> dict[str, Any]:
        index = ensure_index(p, progress=progress, cancel=cancel)
        graph = ensure_graph(p, progress=progress, cancel=cancel)
        return {"backend": index.backend, "count": index.n, "graph_k": graph.k}

    return _with_project(path, work)


def map_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.similarity.project_layer import compute_project_map

    return _with_project(path, lambda p: compute_project_map(p, progress=progress, cancel=cancel))


def cluster_job(path: str, *, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    from classkit.engine.similarity.project_layer import cluster_project

    return _with_project(path, lambda p: cluster_project(p, progress=progress, cancel=cancel))


def export_job(path: str, fmt: str, out: str, options: dict[str, Any], *, progress: ProgressFn,
               cancel: CancelToken) -> dict[str, Any]:
    """Export the labeled dataset (``classkit export``) as a new version folder in ``out``."""
    from classkit.engine.export import ExportOptions, export_project

    def work(p: Project) -> dict[str, Any]:
        result = export_project(p, fmt, Path(out), ExportOptions(**options), progress=progress,
                                cancel=cancel)
        return {"version": result.version, "path": str(result.path), "format": result.format,
                "snapshot": result.snapshot, "images": result.counts["images"],
                "warnings": list(result.warnings), "skipped": len(result.skipped_missing)}

    return _with_project(path, work)


def import_labels_job(path: str, csv_file: str, *, progress: ProgressFn,
                      cancel: CancelToken) -> dict[str, Any]:
    """Label images from a CSV, as ``classkit label --csv`` (a review sheet from ``classkit
    suspects --out`` is the person's word); returns the import summary."""
    from classkit.engine.labels import import_label_csv

    return _with_project(path, lambda p: import_label_csv(p, csv_file))


def settings_job(path: str, changes: dict[str, Any], *, progress: ProgressFn,
                 cancel: CancelToken) -> dict[str, Any]:
    """Validate and store changed project settings (a bad value raises ConfigError)."""
    return _with_project(path, lambda p: p.update_settings(**changes).to_dict())


def predictions_job(path: str, out: str, all_images: bool, *, progress: ProgressFn,
                    cancel: CancelToken) -> dict[str, Any]:
    """``classkit predict --out``: the current predictions as a CSV file."""
    from classkit.engine.loop.predictions import export_predictions_csv

    progress(0, 0, "writing predictions")
    return _with_project(path, lambda p: export_predictions_csv(p, Path(out), only_unlabeled=not all_images))


def model_names() -> list[str]:
    """Names of the bundled embedders, default first (reads a small JSON registry)."""
    from classkit.engine.embed.spec import builtin_models

    return [ref.spec.name for ref in builtin_models()]


def export_formats() -> list[str]:
    """Export formats, in the order the app offers them: image trees first."""
    from classkit.engine.export.plan import FORMATS, TREE_FORMATS

    return [*TREE_FORMATS, *(f for f in FORMATS if f not in TREE_FORMATS)]


def is_tree_format(fmt: str) -> bool:
    """True for formats that write image files (where link mode and --upright apply)."""
    from classkit.engine.export.plan import TREE_FORMATS

    return fmt in TREE_FORMATS


def source_kinds() -> list[str]:
    from classkit.engine.ingest.model import SOURCE_KINDS

    return ["auto", *SOURCE_KINDS]
