"""The embedding job: every image of a project through the model, into a new version.

Decoding runs in a thread pool (engine/embed/feed.py: why threads, and why on a CPU the next
batch is decoded between inference calls rather than during them), inference in the
calling thread.

Rows are all images ordered by id, duplicates included; each distinct content hash is
decoded and embedded once and copied to its twins. A failed image keeps its row (zeros,
status 1, reason in the manifest). Resume: an unfinished version of the same model for the
same images is picked up and only its missing rows are computed. A run over a changed
image set starts a new version but first copies every row whose content was already
embedded by the newest version of the same model (finished or not), so adding images
only embeds the new ones.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from .. import __version__
from ..config import default_workers
from ..errors import ClassKitError, ConfigError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..project import Project
from .feed import decoded_batches
from .onnx_backend import OnnxEmbedder
from .preprocess import PREPROCESS_VERSION
from .spec import ModelRef
from .store import (VersionWriter, content_keys, current_embeddings, find_partial, match_keys,
                    now_iso, reuse_source)

log = logging.getLogger(__name__)

DEFAULT_BATCH = 32
CHECKPOINT_EVERY_S = 1.0  # a crash loses at most about this much work
MAX_FAILURES_LISTED = 20
_SPEC_KEYS = ("output_dim", "input_size", "channel_order", "layout", "mean", "std", "resize",
              "input_name", "output_name", "pooling")


def default_decode_workers() -> int:
    """Decode threads: one per core, at most 8 (they share the cores with inference)."""
    return max(1, min(8, default_workers()))


def fingerprint_of(embedder: OnnxEmbedder) -> dict[str, Any]:
    """What makes two runs' vectors interchangeable: model bytes, spec, preprocessing."""
    spec = embedder.spec.to_dict()
    return {"model_sha256": embedder.sha256, "preprocess": PREPROCESS_VERSION,
            "spec": {k: spec[k] for k in _SPEC_KEYS}}


def embed_project(project: Project, model: ModelRef, *, batch_size: int = DEFAULT_BATCH,
                  threads: int | None = None, decode_workers: int | None = None,
                  fp16: bool = False, progress: ProgressFn = no_progress,
                  cancel: CancelToken | None = None, reuse: bool = True,
                  overlap: bool = True) -> dict[str, Any]:
    """Embed every image of ``project`` with ``model`` into a new (or resumed) version.

    When the current version already holds exactly that (same model, preprocessing and
    dtype, the same images with the same contents, none failed), nothing is written and its
    summary comes back with ``up_to_date`` True.

    ``threads``: onnxruntime threads (default all cores); ``decode_workers``: decode
    threads (default one per core, at most 8); ``fp16`` stores float16 vectors;
    ``reuse=False`` computes every row afresh into a new version (no up-to-date check, no
    resume, no copying from older versions);
    ``overlap=False`` decodes between inference calls instead of during them.
    Returns a summary dict.
    """
    for name, value in (("batch_size", batch_size), ("threads", threads or 1),
                        ("decode_workers", decode_workers or 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
            raise ConfigError(name, f"must be an integer 1-4096, got {value!r}")
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    created = now_iso()
    embedder = OnnxEmbedder(model, threads=threads)
    rows = project.db.execute("SELECT id, path, content_hash FROM images ORDER BY id").fetchall()
    if not rows:
        raise ClassKitError("the project has no images to embed: run `classkit ingest` first")
    ids = np.fromiter((r["id"] for r in rows), np.int64, len(rows))
    hashes = [r["content_hash"] for r in rows]
    paths = [str(project.paths.resolve(r["path"])) for r in rows]
    keys = content_keys(hashes)
    dtype = "float16" if fp16 else "float32"
    workers = decode_workers or default_decode_workers()

    if reuse:
        same = _up_to_date(project, fingerprint_of(embedder), dtype, ids, keys)
        if same is not None:
            return same
    writer, resumed_rows, reused_rows = _open_version(project, embedder, ids, keys, dtype,
                                                      reuse, created)

    done = np.asarray(writer.done)
    groups: dict[str, list[int]] = {}
    for row, h in enumerate(hashes):
        groups.setdefault(h, []).append(row)
    todo = [g for g in groups.values() if not all(done[r] for r in g)]
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    stats = {"decode_s": 0.0, "infer_s": 0.0, "wait_s": 0.0, "write_s": 0.0}
    counter = {"rows": len(ids) - sum(len(g) for g in todo), "images": 0, "checkpoint": time.time()}
    progress(counter["rows"], len(ids), "embedding")

    def on_batch(batch: list[list[int]], arr: np.ndarray, issues: list[dict | None]) -> None:
        t0 = time.perf_counter()
        vecs = embedder.embed(arr)
        t1 = time.perf_counter()
        failed = np.fromiter((i is not None for i in issues), bool, len(issues))
        vecs[failed] = 0.0
        sizes = [len(g) for g in batch]
        dst = np.fromiter((r for g in batch for r in g), np.int64, sum(sizes))
        src = np.repeat(np.arange(len(batch)), sizes)
        writer.write(dst, vecs[src], failed[src])
        writer.add_failures([{"id": int(ids[r]), "path": paths[r], "reason": issue["reason"],
                              "detail": issue["detail"]}
                             for g, issue in zip(batch, issues, strict=True) if issue
                             for r in g])
        if time.time() - counter["checkpoint"] >= CHECKPOINT_EVERY_S:
            writer.checkpoint()
            counter["checkpoint"] = time.time()
        stats["infer_s"] += t1 - t0
        stats["write_s"] += time.perf_counter() - t1
        counter["rows"] += len(dst)
        counter["images"] += len(batch)
        progress(counter["rows"], len(ids), "embedding")

    def items(batch: list[list[int]]) -> list[list[tuple[str, str]]]:
        return [[(paths[r], hashes[r]) for r in g] for g in batch]

    loop_start = time.perf_counter()
    try:
        with _pixel_limit(project.ingest_config.max_pixels):
            for batch, arr, issues in decoded_batches(
                    batches, items, size=embedder.spec.input_size, resize=embedder.spec.resize,
                    workers=workers, ahead=2 if overlap else 0, cancel=cancel, stats=stats):
                on_batch(batch, arr, issues)
    except BaseException:
        writer.checkpoint()  # keep what was done: the next run resumes from here
        writer.close()
        raise
    loop_s = time.perf_counter() - loop_start
    total_s = time.perf_counter() - started
    timings = {**{k: round(v, 3) for k, v in stats.items()}, "loop_s": round(loop_s, 3),
               "total_s": round(total_s, 3),
               "images_per_s": round(counter["images"] / loop_s, 1) if loop_s > 0 else None}
    failures = writer.manifest["failures"]
    status = np.asarray(writer.status)
    n_failed = int(np.count_nonzero(status))
    extra = {"finished": now_iso(), "timings": timings, "batch_size": batch_size,
             "threads": embedder.threads, "decode_workers": workers, "overlap": overlap,
             "providers": embedder.session.get_providers(),
             "rows_computed": counter["rows"] - (len(ids) - sum(len(g) for g in todo)),
             "rows_resumed": resumed_rows, "rows_reused": reused_rows}
    params = {"model": embedder.name, "model_sha256": embedder.sha256, "dim": embedder.dim,
              "dtype": dtype, "count": len(ids), "failed": n_failed}
    version, folder = writer.version, writer.folder
    writer.finish(project, extra, params)
    log.info("embedding version %s: %d images, %d failed, %.1f images/s", version, len(ids),
             n_failed, timings["images_per_s"] or 0.0)
    return {"version": version, "path": str(folder), "model": embedder.name, "dim": embedder.dim,
            "dtype": dtype, "count": len(ids), "ok": len(ids) - n_failed, "failed": n_failed,
            "up_to_date": False,
            "images_computed": counter["images"], **{k: extra[k] for k in (
                "rows_computed", "rows_resumed", "rows_reused")},
            "resumed": resumed_rows > 0, "images_per_s": timings["images_per_s"],
            "timings": timings,
            "failures_by_reason": dict(sorted(Counter(f["reason"] for f in failures).items())),
            "failures": sorted(failures, key=lambda f: f["id"])[:MAX_FAILURES_LISTED]}


def _up_to_date(project: Project, fingerprint: dict[str, Any], dtype: str, ids: np.ndarray,
                keys: np.ndarray) -> dict[str, Any] | None:
    """The summary of the current version when it already holds exactly this: the same
    model and preprocessing, dtype, images and contents, and no failed rows. A new version
    would be a copy, and would make the index, graph, map and clusters be built again."""
    cur = current_embeddings(project)
    if cur is None:
        return None
    m = cur.manifest
    if (m.get("fingerprint") != fingerprint or m.get("dtype") != dtype or not cur.ok.all()
            or not np.array_equal(cur.ids, ids)):
        return None
    try:
        same = np.array_equal(np.load(cur.path / "keys.npy"), keys)
    except (OSError, ValueError):
        return None
    if not same:
        return None
    zero = {"rows_computed": 0, "rows_resumed": 0, "rows_reused": 0}
    return {"version": cur.version, "path": str(cur.path), "model": m.get("model"),
            "dim": int(cur.vectors.shape[1]), "dtype": dtype, "count": len(ids), "ok": len(ids),
            "failed": 0, "up_to_date": True, "images_computed": 0, **zero, "resumed": False,
            "images_per_s": None, "timings": {}, "failures_by_reason": {}, "failures": []}


def _open_version(project: Project, embedder: OnnxEmbedder, ids: np.ndarray, keys: np.ndarray,
                  dtype: str, reuse: bool, created: str) -> tuple[VersionWriter, int, int]:
    """``(writer, rows resumed, rows reused)``: an unfinished matching version, or a new one
    pre-filled from the newest compatible version."""
    fingerprint = fingerprint_of(embedder)
    writer = find_partial(project, fingerprint, dtype, ids, keys) if reuse else None
    if writer is not None:
        resumed = int(np.count_nonzero(writer.done))
        log.info("resuming embedding version %s: %d of %d rows done", writer.version, resumed,
                 len(ids))
        return writer, resumed, 0
    base = {"model": embedder.name, "spec": embedder.spec.to_dict(),
            "model_sha256": embedder.sha256, "dim": embedder.dim, "count": len(ids),
            "dtype": dtype, "fingerprint": fingerprint, "created": created,
            "classkit_version": __version__}
    writer = VersionWriter.create(project, ids, keys, embedder.dim, dtype, base)
    return writer, 0, _reuse(project, writer, fingerprint, dtype) if reuse else 0


def _reuse(project: Project, writer: VersionWriter, fingerprint: dict[str, Any],
           dtype: str) -> int:
    """Copy rows whose content the newest compatible version already embedded."""
    source = reuse_source(project, fingerprint, dtype, exclude=writer.version)
    if source is None:
        return 0
    version, vectors, keys, usable = source
    dst, src = match_keys(keys, usable, writer.keys)
    for start in range(0, len(dst), 65536):  # chunks: bounded memory for huge sets
        part = slice(start, start + 65536)
        writer.write(dst[part], np.asarray(vectors[src[part]]), np.zeros(len(dst[part]), bool))
    writer.checkpoint()
    if len(dst):
        log.info("reused %d rows from embedding version %s", len(dst), version)
    return len(dst)


@contextlib.contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow open images as large as ingest accepted (it refuses 2x its own limit)."""
    old = Image.MAX_IMAGE_PIXELS
    raise_it = old is not None and 2 * old < max_pixels
    if raise_it:
        Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2)
    try:
        yield
    finally:
        if raise_it:
            Image.MAX_IMAGE_PIXELS = old
