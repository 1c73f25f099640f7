"""``export_project``: one export job, from a label snapshot to a published version folder.

Steps: check the options and the output folder; gather the rows (assigning splits to
labeled images lacking one); check every source file opens (missing ones are an error, or
skipped and listed with ``skip_missing``); map labels to safe folders; write everything
into ``OUT/.tmp-<version>/`` with progress and cancel checks; write ``manifest.json`` last;
rename the folder to ``OUT/<version>/``; record it in ``OUT/classkit_exports.json`` and in
the project's ``artifacts`` table (stage ``exports``, path = the export folder).

Tables: ``csv`` and ``parquet`` exports write ``dataset.csv``/``dataset.parquet`` and no
images (``exported_path`` is empty/null); tree exports write the same table as
``index.csv`` with ``exported_path`` relative to the version folder.

``manifest.json`` holds only what the snapshot and options determine (no time, no
version name, no output path): the same snapshot exported twice gives byte-identical
manifests and files. Times live in the marker file and the database.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..project import Project
from . import plan
from .names import ensure_inside
from .root import check_root, discard, new_temp, open_root, publish
from .rows import ExportOptions, ExportRows, gather_rows, split_seeds
from .writers import TreeResult, file_record, write_csv, write_parquet, write_tree

log = logging.getLogger(__name__)

STAGE = "exports"
MANIFEST = "manifest.json"
TABLE_NAMES = {"csv": "dataset.csv", "parquet": "dataset.parquet"}
INDEX = "index.csv"  # tree exports: the table with exported_path filled in


@dataclass
class ExportResult:
    """What an export produced: version, folder, manifest path, counts and notes."""

    version: str
    path: Path
    manifest: Path
    format: str
    snapshot: int
    counts: dict[str, Any]
    folders: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    copied_instead: int = 0
    skipped_missing: list[dict[str, Any]] = field(default_factory=list)
    changed_since_ingest: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(path=str(self.path), manifest=str(self.manifest))
        return out


def export_project(project: Project, fmt: str, out: Path, options: ExportOptions | None = None,
                   progress: ProgressFn = no_progress,
                   cancel: CancelToken | None = None) -> ExportResult:
    """Export the project's labeled images as a new version folder inside ``out``.

    Raises :class:`ClassKitError` (nothing written) for an empty export, missing source
    files, colliding class folders, an Ultralytics class missing from a split, or an
    ``out`` that exists, is not empty and is not a ClassKit export folder.
    """
    options = options or ExportOptions()
    cancel = cancel or CancelToken()
    plan.check_options(fmt, options)
    root = check_root(out)
    progress(0, 0, "reading labels")
    rows = gather_rows(project, options)
    rows, skipped = plan.drop_unreadable(rows, plan.find_unreadable(rows, progress, cancel),
                                         options.skip_missing)
    if not len(rows):
        raise ClassKitError(_empty_message(project, rows.snapshot, options, bool(skipped)))
    folders: dict[str, str] = {}
    warnings: list[str] = []
    if fmt in plan.TREE_FORMATS:
        folders = plan.folders_for(project, rows)
        if fmt == "ultralytics":
            warnings = plan.check_ultralytics(rows, list(folders), rows.snapshot,
                                              options.allow_empty_splits)
    items = plan.plan_files(rows, fmt, folders) if folders else []

    open_root(root)
    tmp: Path | None = None
    try:
        version, tmp = new_temp(root)
        for parent in sorted({str(Path(i.rel).parent) for i in items}):
            ensure_inside(tmp, tmp / parent)
        tree = (write_tree(tmp, items, options.link, progress, cancel, upright=options.upright)
                if items else TreeResult())
        cancel.raise_if_cancelled()
        progress(0, 1, "writing table")
        table = TABLE_NAMES.get(fmt, INDEX)
        (write_parquet if fmt == "parquet" else write_csv)(tmp / table, rows.columns)
        progress(1, 1, "writing table")
        files = sorted([*tree.files, file_record(tmp, table)], key=lambda f: f["path"])
        manifest = _manifest(project, fmt, options, rows, folders, warnings, skipped,
                             sorted(tree.changed), files)
        if fmt in plan.TREE_FORMATS:
            manifest["exif_oriented"] = sorted(tree.oriented)
            manifest["tiff_oriented"] = sorted(tree.tiff_oriented)
            manifest["rotated_upright"] = sorted(tree.rotated)
            manifest["upright_skipped_16bit"] = sorted(tree.kept_16bit)
        data = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (tmp / MANIFEST).write_bytes(data.encode("utf-8"))
        cancel.raise_if_cancelled()
        entry = {"format": fmt, "created_at": time.time(), "snapshot": rows.snapshot,
                 "project_id": project.manifest.project_id, "images": len(rows)}
        final = publish(root, tmp, version, entry)
        tmp = None
    except BaseException:
        discard(root, tmp)
        raise
    if tree.copied_instead:
        warnings = [*warnings, f"{tree.copied_instead} file(s) were copied instead of hardlinked "
                               f"(another device, or no hardlinks on this file system)"]
    if tree.oriented:
        warnings = [*warnings, f"{len(tree.oriented)} photo(s) are stored sideways with an EXIF "
                               f"orientation (listed in the manifest): ClassKit shows them upright, "
                               f"but loaders that ignore EXIF (torchvision's ImageFolder, plain PIL) "
                               f"read them sideways (or, for some TIFFs, scrambled); export with "
                               f"--upright to rotate their pixels"]
    if tree.tiff_oriented:
        warnings = [*warnings, f"{len(tree.tiff_oriented)} TIFF(s) carry an orientation tag (listed in "
                               f"the manifest): Pillow-based loaders apply it, readers that ignore it "
                               f"(tifffile) read them sideways; export with --upright to rotate their pixels"]
    if tree.kept_16bit:
        warnings = [*warnings, f"{len(tree.kept_16bit)} 16-bit colour image(s) were left as stored, not "
                               f"re-encoded upright: Pillow would cut them to 8 bits per channel "
                               f"(listed in the manifest)"]
    if tree.rotated:
        warnings = [*warnings, f"{len(tree.rotated)} photo(s) with an EXIF orientation were re-encoded "
                               f"upright (listed in the manifest)"]
    if tree.changed:
        warnings = [*warnings, f"{len(tree.changed)} image(s) changed on disk since ingest "
                               f"(listed in the manifest): re-ingest to refresh them"]
    result = ExportResult(version, final, final / MANIFEST, fmt, rows.snapshot, manifest["counts"],
                          folders, warnings, tree.copied_instead, skipped, sorted(tree.changed))
    _register(project, result, options)
    log.info("exported %d images as %s to %s", len(rows), fmt, final)
    return result


def _manifest(project: Project, fmt: str, options: ExportOptions, rows: ExportRows,
              folders: dict[str, str], warnings: list[str], skipped: list[dict[str, Any]],
              changed: list[int], files: list[dict[str, Any]]) -> dict[str, Any]:
    """The export manifest: only what the snapshot and options determine."""
    opts = options.to_dict()
    if fmt not in plan.TREE_FORMATS:
        opts.pop("link")
    return {
        "classkit_export": 1,
        "classkit_version": __version__,
        "format": fmt,
        "project": {"name": project.manifest.name, "id": project.manifest.project_id},
        "label_snapshot": rows.snapshot,
        "options": opts,
        "versions": rows.versions,
        "split_seed": options.split_seed,
        "split_seeds_used": split_seeds(project, rows.columns["id"]),
        "classes": [{"label": k, "folder": v, "renamed": k != v} for k, v in folders.items()],
        "counts": plan.count_rows(rows),
        "columns": list(rows.columns),
        "table": TABLE_NAMES.get(fmt, INDEX),
        "warnings": warnings,
        "skipped_missing": skipped,
        "changed_since_ingest": changed,
        "files": files,
    }


def _register(project: Project, result: ExportResult, options: ExportOptions) -> None:
    """Record the export in the artifacts table (stage ``exports``), made current."""
    params = {"format": result.format, "snapshot": result.snapshot, "images": result.counts["images"],
              "options": options.to_dict(), "manifest": str(result.manifest)}
    with project.transaction() as con:
        con.execute("UPDATE artifacts SET is_current=0 WHERE stage=?", (STAGE,))
        con.execute("INSERT INTO artifacts(stage, version, path, created_at, params, is_current) "
                    "VALUES (?,?,?,?,?,1)", (STAGE, result.version, project.paths.to_stored(result.path),
                                             time.time(), json.dumps(params, sort_keys=True)))


def _empty_message(project: Project, snapshot: int, options: ExportOptions, skipped: bool) -> str:
    if skipped:
        return "nothing to export: every selected image's file is missing or unreadable"
    labeled = project.db.execute("SELECT COUNT(*) FROM label_events WHERE id <= ?", (snapshot,)).fetchone()[0]
    if not labeled:
        hint = "label some images first (classkit label), or add --include-predicted CONF"
    else:
        hint = ("every image at that snapshot is unlabeled or marked unsure/junk/skip; "
                "add --include unsure,junk or --include-predicted CONF")
    return f"nothing to export at label snapshot {snapshot}: {hint}"


def list_exports(project: Project) -> list[dict[str, Any]]:
    """Exports recorded in the project, oldest first: version, path, created_at, params."""
    rows = project.db.execute("SELECT version, path, created_at, params, is_current FROM artifacts "
                              "WHERE stage=? ORDER BY created_at, id", (STAGE,)).fetchall()
    return [{"version": r["version"], "path": str(project.paths.resolve(r["path"])),
             "created_at": r["created_at"], "is_current": bool(r["is_current"]),
             **json.loads(r["params"])} for r in rows]
