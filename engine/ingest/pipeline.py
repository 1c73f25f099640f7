"""The ingest job: read sources, probe files on all cores, commit results chunk by chunk.

Re-running is cheap and safe: files whose size and mtime are unchanged are skipped without
being read, so a cancelled or crashed run resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import IngestConfig
from ..errors import Cancelled, ClassKitError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..parallel import map_chunks
from ..project import Project
from .detect import VIDEO_EXTENSIONS, detect_kind, is_video_name
from .model import SOURCE_KINDS, Candidate, Issue, Plan, SourceContext
from .probe import probe_many
from .scan import is_utf8, printable_path
from .store import IngestWriter

log = logging.getLogger(__name__)

Reader = Callable[[SourceContext, Path], Plan]
# Every reader re-reports every current problem on every run (videos without a complete
# extraction are decoded again, from where an interrupted run stopped; PoseKit label files
# are parsed again), so an open issue that a completed run did not see again is gone: file
# deleted or fixed, link loop removed.


def _readers() -> dict[str, Reader]:
    from .sources.datasets import plan_csv, plan_imagefolder, plan_ultralytics
    from .sources.folder import plan_folder
    from .sources.posekit import plan_posekit
    from .sources.video import plan_video

    return {"folder": plan_folder, "imagefolder": plan_imagefolder, "csv": plan_csv,
            "ultralytics": plan_ultralytics, "video": plan_video, "posekit": plan_posekit}


def resolve_sources(sources: Sequence[str | Path], kind: str = "auto") -> list[tuple[Path, str]]:
    """Check every source exists and pick its kind, before any work starts."""
    if kind != "auto" and kind not in SOURCE_KINDS:
        raise ClassKitError(f"unknown source kind {kind!r}; choose auto or one of "
                            f"{', '.join(SOURCE_KINDS)}")
    out = []
    for src in sources:
        path = Path(os.path.abspath(Path(src).expanduser()))
        if not is_utf8(path):
            raise ClassKitError(f"the name of source {printable_path(path)} is not valid UTF-8 "
                                f"text; rename it (e.g. convmv -f latin1 -t utf-8)")
        if not path.exists():
            raise ClassKitError(f"source not found: {src}")
        src_kind = detect_kind(path) if kind == "auto" else kind
        if src_kind == "video" and path.is_dir():  # a folder of videos: each is a source
            out += [(video, "video") for video in videos_under(path)]
        else:
            out.append((path, src_kind))
    if not out:
        raise ClassKitError("no sources given")
    return out


def videos_under(folder: Path) -> list[Path]:
    """The video files under ``folder`` (any depth, hidden entries skipped), sorted, for
    ``--kind video`` on a folder; an error when there are none."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / f for f in sorted(files) if is_video_name(f) and not f.startswith(".")]
    if not found:
        raise ClassKitError(f"no video files ({', '.join(sorted(e[1:] for e in VIDEO_EXTENSIONS))}) "
                            f"under {folder}")
    return found


def ingest(project: Project, sources: Sequence[str | Path], kind: str = "auto",
           config: IngestConfig | None = None, progress: ProgressFn = no_progress,
           cancel: CancelToken | None = None) -> dict[str, Any]:
    """Ingest ``sources`` into ``project``; returns a summary dict (also stored in the DB)."""
    config = config or project.ingest_config
    cancel = cancel or CancelToken()
    resolved = resolve_sources(sources, kind)
    readers = _readers()
    started = time.time()
    with project.transaction() as con:
        run_id = int(con.execute(
            "INSERT INTO ingest_runs(started_at, status, sources) VALUES (?,?,?)",
            (started, "running", json.dumps([[str(p), k] for p, k in resolved]))).lastrowid)
    writer = IngestWriter(project, run_id)
    per_source: list[dict[str, Any]] = []
    hints: list[str] = []
    status = "failed"
    try:
        for path, src_kind in resolved:
            alias = _same_source(project, path, src_kind)
            if alias is not None:
                hints.append(f"{path} is source {alias} under another name (a link or another "
                             f"mount name); ingested as {alias}, so its images are not added twice")
                path = alias
            info = _ingest_one(project, writer, readers[src_kind], path, src_kind, config,
                               progress, cancel)
            per_source.append(info)
            hints += info.pop("hints")
        status = "done"
    except (Cancelled, KeyboardInterrupt):  # Ctrl-C in the CLI is a cancel, not a failure
        status = "cancelled"
        raise
    finally:
        summary = _summary(writer, run_id, status, per_source, hints, time.time() - started)
        with project.transaction() as con:
            con.execute("UPDATE ingest_runs SET finished_at=?, status=?, summary=? WHERE id=?",
                        (time.time(), status, json.dumps(summary), run_id))
        log.info("ingest run %d %s: %s", run_id, status,
                 {k: summary[k] for k in ("found", "added", "unchanged", "changed", "issues")})
    return summary


def source_key(path: Path, kind: str) -> Path:
    """The path that identifies a source: a PoseKit project is one source however named."""
    if kind == "posekit":
        from .sources.posekit import find_project_json

        return Path(os.path.abspath(find_project_json(path, [])[0]))
    return path


def _same_source(project: Project, path: Path, kind: str) -> Path | None:
    """An earlier source of this kind that is the same file or folder as ``path`` reached
    through a symlink or another mount name (same real path, different spelling), or None."""
    stored = project.paths.to_stored(source_key(path, kind))
    real = None
    for row in project.db.execute("SELECT path FROM sources WHERE kind=? AND path<>? ORDER BY id",
                                  (kind, stored)):
        other = project.paths.resolve(row["path"])
        if real is None:
            real = os.path.realpath(path)
        if os.path.exists(other) and os.path.realpath(other) == real:
            return other
    return None


def _register_source(project: Project, path: Path, kind: str, config: IngestConfig) -> int:
    stored = project.paths.to_stored(source_key(path, kind))
    options = json.dumps(config.to_dict(), sort_keys=True)
    with project.transaction() as con:
        row = con.execute("SELECT id FROM sources WHERE kind=? AND path=?", (kind, stored)).fetchone()
        if row is not None:
            con.execute("UPDATE sources SET options=?, last_ingested_at=? WHERE id=?",
                        (options, time.time(), row["id"]))
            return int(row["id"])
        return int(con.execute(
            "INSERT INTO sources(kind, path, options, added_at, last_ingested_at) "
            "VALUES (?,?,?,?,?)", (kind, stored, options, time.time(), time.time())).lastrowid)


def _ingest_one(project: Project, writer: IngestWriter, reader: Reader, path: Path, kind: str,
                config: IngestConfig, progress: ProgressFn, cancel: CancelToken) -> dict[str, Any]:
    source_id = _register_source(project, path, kind, config)
    scan_started = time.time()
    ctx = SourceContext(root=project.root, media_dir=project.root / "media" / f"source-{source_id}",
                        config=config, source_id=source_id, progress=progress, cancel=cancel)
    progress(0, 0, f"reading {kind} source {path.name}")
    plan = reader(ctx, path)
    writer.write_issues(source_id, [_stored_issue(project, i) for i in plan.issues])
    todo, unchanged = _split_unchanged(project, writer, plan.candidates)
    writer.write_issues(source_id, _gone(project, source_id, {s for _, s in todo + unchanged}))
    writer.counts["unchanged"] += len(unchanged)
    writer.import_labels(source_id, [(s, c.label) for c, s in unchanged if c.label is not None])
    by_path = {str(c.path): (c, s) for c, s in todo}

    def on_result(chunk: Sequence[str], results: list[dict[str, Any]]) -> None:
        writer.write_chunk(source_id, [by_path[p] for p in chunk], results)

    def on_crash(item: str, why: str) -> None:
        writer.write_issues(source_id, [Issue(by_path[item][1], "decoder_crash", why)])

    map_chunks(probe_many, list(by_path), args=(config.max_pixels, config.max_file_mb << 20, config.check),
               workers=config.n_workers, chunk_size=32, on_result=on_result, on_crash=on_crash,
               progress=progress, cancel=cancel, msg=f"checking images from {path.name}")
    writer.resolve_unseen(source_id, scan_started)
    return {"path": str(path), "kind": kind, "source_id": source_id,
            "found": len(plan.candidates), "issues": len(plan.issues), **plan.stats,
            "hints": plan.hints}


def _gone(project: Project, source_id: int, listed: set[str]) -> list[Issue]:
    """A ``missing`` issue for each image ingested earlier from this source whose file is gone.

    The image keeps its row and labels; the issue tells the user (``classkit status``) and
    is resolved by a later run that finds the file again.
    """
    out = []
    for row in project.db.execute("SELECT id, path FROM images WHERE source_id=? ORDER BY id",
                                  (source_id,)):
        if row["path"] in listed or os.path.lexists(project.paths.resolve(row["path"])):
            continue
        out.append(Issue(row["path"], "missing", f"image {row['id']} was ingested from here but "
                                                 f"its file is gone; its labels are kept (restore "
                                                 f"the file, or export with --skip-missing)"))
    return out


def _stored_issue(project: Project, issue: Issue) -> Issue:
    base, sep, frag = issue.path.partition("#")
    return Issue(project.paths.to_stored(base) + sep + frag, issue.reason, issue.detail)


def _split_unchanged(project: Project, writer: IngestWriter, candidates: list[Candidate]
                     ) -> tuple[list[tuple[Candidate, str]], list[tuple[Candidate, str]]]:
    """Separate files already ingested with the same size and mtime (not read again)."""
    pairs = [(c, project.paths.to_stored(c.path)) for c in candidates]
    known = writer.existing([s for _, s in pairs])
    todo, unchanged = [], []
    for cand, stored in pairs:
        row = known.get(stored)
        if row is not None:
            try:
                st = os.stat(cand.path)
            except OSError:
                st = None
            if st is not None and st.st_size == row["file_size"] and st.st_mtime_ns == row["mtime_ns"]:
                unchanged.append((cand, stored))
                continue
        todo.append((cand, stored))
    return todo, unchanged


def _summary(writer: IngestWriter, run_id: int, status: str, per_source: list[dict[str, Any]],
             hints: list[str], elapsed: float) -> dict[str, Any]:
    c = writer.counts
    found = sum(s["found"] for s in per_source)
    probed = c["added"] + c["changed"] + c["unchanged"]
    return {
        "run_id": run_id, "status": status, "sources": per_source,
        "found": found, "added": c["added"], "unchanged": c["unchanged"],
        "changed": c["changed"], "duplicates": c["duplicates"],
        "labels_imported": c["labels_imported"], "classes_created": c["classes_created"],
        "issues": sum(writer.issue_counts.values()),
        "issues_by_reason": dict(sorted(writer.issue_counts.items())),
        "issue_examples": writer.issue_examples, "hints": hints,
        "elapsed_s": round(elapsed, 3),
        "images_per_s": round(probed / elapsed, 1) if elapsed > 0 else None,
    }
