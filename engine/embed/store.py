"""Embedding versions on disk: reading finished ones, writing (and resuming) a run.

A version folder ``runs/classkit/embeddings/<version>/`` holds::

    embeddings.npy  float32/float16 (N, D), row i belongs to ids[i]; failed rows are zeros
    ids.npy         int64 image ids in row order (ascending)
    status.npy      uint8, 0 ok, 1 failed (the reason is in the manifest's ``failures``)
    keys.npy        uint64 (N, 2): a digest of each row's content hash, so rows can be
                    reused by content, and a resume can tell the images did not change
    done.npy        bool: rows written and flushed (the resume record)
    manifest.json   model, spec, sha256, dim, count, dtype, failures, timings, state

``state`` is ``partial`` until the last row is written; only then is the version
registered in the project's artifacts table (and made current).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..errors import ClassKitError
from ..fsutil import write_json_atomic
from ..project import Project

log = logging.getLogger(__name__)

STAGE = "embeddings"
FAILED = np.uint8(1)


def content_keys(hashes: list[str]) -> np.ndarray:
    """(N, 2) uint64 digests of content-hash strings: compact, comparable row identities."""
    raw = b"".join(xxhash.xxh3_128_digest(h.encode()) for h in hashes)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, 2).copy()


@dataclass
class EmbeddingSet:
    """One finished embedding version: ``vectors`` is a read-only memmap, row i = ``ids[i]``."""

    version: str
    path: Path
    vectors: np.ndarray
    ids: np.ndarray
    status: np.ndarray
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows that hold a real embedding."""
        return self.status == 0

    def rows_of(self, image_ids: Any) -> np.ndarray:
        """Row indices of many image ids (KeyError naming the first unknown one)."""
        want = np.asarray(image_ids, dtype=np.int64)
        rows = np.searchsorted(self.ids, want)
        rows = np.minimum(rows, max(len(self.ids) - 1, 0))
        miss = (self.ids[rows] != want) if len(self.ids) else np.ones(want.shape, bool)
        if miss.any():
            raise KeyError(f"image {int(want[miss][0])} is not in embedding version {self.version}")
        return rows

    def row_of(self, image_id: int) -> int:
        """The row of ``image_id`` (ids are sorted, so a binary search, no dict)."""
        return int(self.rows_of([image_id])[0])


def embeddings_root(project: Project) -> Path:
    return project.root / "runs" / "classkit" / STAGE


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _registered(project: Project) -> list[Any]:
    return project.db.execute("SELECT version, path, created_at, params, is_current FROM "
                              "artifacts WHERE stage=? ORDER BY created_at, id", (STAGE,)).fetchall()


def load_embeddings(project: Project, version: str | None = None) -> EmbeddingSet:
    """A finished version (the current one when ``version`` is None), memory-mapped."""
    if version is None:
        row = project.db.execute("SELECT version, path FROM artifacts WHERE stage=? AND "
                                 "is_current=1", (STAGE,)).fetchone()
        if row is None:
            if not project.has_images():
                raise ClassKitError("this project has no images yet: add them with `classkit ingest "
                                    "PROJECT FOLDER` (or a video, CSV or dataset), then `classkit embed`")
            raise ClassKitError("this project has no embeddings yet: run `classkit embed`")
    else:
        row = project.db.execute("SELECT version, path FROM artifacts WHERE stage=? AND "
                                 "version=?", (STAGE, version)).fetchone()
        if row is None:
            partial = embeddings_root(project) / version
            why = (" (it is unfinished: run `classkit embed` again to resume it)"
                   if (partial / "manifest.json").is_file() else "")
            raise ClassKitError(f"no finished embedding version {version!r}{why}")
    folder = project.paths.resolve(row["path"])
    manifest = read_manifest(folder)
    try:
        vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
        ids = np.load(folder / "ids.npy")
        status = np.load(folder / "status.npy")
    except (OSError, ValueError) as exc:
        raise ClassKitError(f"embedding version {row['version']} at {folder} is damaged: "
                            f"{exc}") from exc
    if manifest is None or not (len(vectors) == len(ids) == len(status)) or vectors.ndim != 2:
        raise ClassKitError(f"embedding version {row['version']} at {folder} is damaged "
                            f"(manifest missing or array lengths differ)")
    return EmbeddingSet(row["version"], folder, vectors, ids, status, manifest)


def current_embeddings(project: Project) -> EmbeddingSet | None:
    """The current version, or None when the project has no embeddings yet."""
    if project.current_artifact(STAGE) is None:
        return None
    return load_embeddings(project)


def current_manifest(project: Project) -> dict[str, Any] | None:
    """The current embedding version's manifest (no arrays read); None without one."""
    folder = project.current_artifact(STAGE)
    return None if folder is None else read_manifest(folder)


def current_model_name(project: Project) -> str | None:
    """The model of the current embedding version (from its manifest; None without one)."""
    return (current_manifest(project) or {}).get("model")


def list_embedding_versions(project: Project) -> list[dict[str, Any]]:
    """Finished versions, oldest first: version, created_at, is_current, model, dim, count..."""
    out = []
    for row in _registered(project):
        manifest = read_manifest(project.paths.resolve(row["path"])) or {}
        out.append({"version": row["version"], "path": str(project.paths.resolve(row["path"])),
                    "created_at": row["created_at"], "is_current": bool(row["is_current"]),
                    "model": manifest.get("model"), "dim": manifest.get("dim"),
                    "count": manifest.get("count"), "dtype": manifest.get("dtype"),
                    "failed": len(manifest.get("failures", []))})
    return out


def use_embeddings(project: Project, version: str) -> EmbeddingSet:
    """Make ``version`` the current one (the others stay on disk, usable by version)."""
    emb = load_embeddings(project, version)  # validates first
    with project.transaction() as con:
        con.execute("UPDATE artifacts SET is_current=(version=?) WHERE stage=?", (version, STAGE))
    return emb


class VersionWriter:
    """A version being filled: memmaps for vectors, status and the done mask.

    ``checkpoint`` makes progress durable in a crash-safe order: vectors and status are
    flushed first, then the manifest (failures), and only then the done mask, so a row
    is never marked done before its vector is on disk.
    """

    def __init__(self, version: str, folder: Path, manifest: dict[str, Any]) -> None:
        self.version, self.folder, self.manifest = version, folder, manifest
        self.vectors = np.load(folder / "embeddings.npy", mmap_mode="r+")
        self.status = np.load(folder / "status.npy", mmap_mode="r+")
        self.done = np.load(folder / "done.npy", mmap_mode="r+")
        self.ids = np.load(folder / "ids.npy")
        self.keys = np.load(folder / "keys.npy")
        self._pending: list[np.ndarray] = []
        # failures recorded for rows whose done mark never reached disk are redone, not kept
        done_ids = set(self.ids[np.asarray(self.done)].tolist())
        manifest["failures"] = [f for f in manifest.get("failures", []) if f["id"] in done_ids]

    @classmethod
    def create(cls, project: Project, ids: np.ndarray, keys: np.ndarray, dim: int,
               dtype: str, manifest: dict[str, Any]) -> VersionWriter:
        version, folder = project.new_version_dir(STAGE)
        n = len(ids)
        np.save(folder / "ids.npy", ids.astype(np.int64))
        np.save(folder / "keys.npy", keys)
        for name, dt, shape in (("embeddings.npy", dtype, (n, dim)), ("status.npy", np.uint8, (n,)),
                                ("done.npy", np.bool_, (n,))):
            mm = np.lib.format.open_memmap(folder / name, mode="w+", dtype=dt, shape=shape)
            mm.flush()  # zeros: a failed or missing row reads as zeros
            del mm
        manifest = {**manifest, "version": version, "state": "partial", "failures": []}
        write_json_atomic(folder / "manifest.json", manifest)
        return cls(version, folder, manifest)

    def write(self, rows: np.ndarray, vectors: np.ndarray, failed: np.ndarray) -> None:
        """Fill ``rows`` (vectors zero where ``failed``); they count as done at the next checkpoint."""
        self.vectors[rows] = vectors
        self.status[rows] = failed.astype(np.uint8)
        self._pending.append(rows)

    def add_failures(self, failures: list[dict[str, Any]]) -> None:
        self.manifest["failures"].extend(failures)

    def checkpoint(self) -> None:
        """Make every written row durable and mark it done (vectors first, then the mask)."""
        if not self._pending:
            return
        self.vectors.flush()
        self.status.flush()
        write_json_atomic(self.folder / "manifest.json", self.manifest)
        for rows in self._pending:
            self.done[rows] = True
        self.done.flush()
        self._pending.clear()

    def finish(self, project: Project, extra: dict[str, Any], params: dict[str, Any]) -> None:
        """Write the final manifest, drop the resume record and register as current."""
        self.checkpoint()
        self.manifest.update(extra, state="complete")
        self.manifest["failures"].sort(key=lambda f: f["id"])
        write_json_atomic(self.folder / "manifest.json", self.manifest)
        self.close()
        (self.folder / "done.npy").unlink(missing_ok=True)
        project.register_artifact(STAGE, self.version, params, make_current=True)

    def close(self) -> None:
        """Flush and drop the memmaps (the files stay)."""
        for name in ("vectors", "status", "done"):
            mm = getattr(self, name, None)
            if isinstance(mm, np.memmap):
                mm.flush()
            setattr(self, name, None)


def find_partial(project: Project, fingerprint: dict[str, Any], dtype: str, ids: np.ndarray,
                 keys: np.ndarray) -> VersionWriter | None:
    """The newest unfinished version of the same model, dtype, images and contents."""
    root = embeddings_root(project)
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        manifest = read_manifest(folder)
        if (not manifest or manifest.get("state") != "partial"
                or manifest.get("fingerprint") != fingerprint or manifest.get("dtype") != dtype
                or not (folder / "done.npy").is_file()):
            continue
        try:
            if (np.array_equal(np.load(folder / "ids.npy"), ids)
                    and np.array_equal(np.load(folder / "keys.npy"), keys)):
                return VersionWriter(folder.name, folder, manifest)
        except (OSError, ValueError) as exc:
            log.warning("ignoring damaged partial embedding version %s: %s", folder.name, exc)
    return None


def reuse_source(project: Project, fingerprint: dict[str, Any], dtype: str, exclude: str = ""
                 ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray] | None:
    """The newest version (finished or partial) of the same model to copy rows from.

    Returns ``(version, vectors, keys, usable)``; ``usable`` marks rows that hold a real,
    flushed embedding. A float16 version is never a source for a float32 run.
    """
    root = embeddings_root(project)
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        manifest = read_manifest(folder) if folder.name != exclude else None
        if (not manifest or manifest.get("fingerprint") != fingerprint
                or manifest.get("state") not in ("partial", "complete")
                or (manifest.get("dtype") == "float16" and dtype == "float32")):
            continue
        try:
            keys = np.load(folder / "keys.npy")
            usable = np.load(folder / "status.npy") == 0
            if manifest["state"] == "partial":
                usable &= np.load(folder / "done.npy")
            vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            log.warning("cannot reuse embedding version %s: %s", folder.name, exc)
            continue
        if len(keys) == len(usable) == len(vectors):
            return folder.name, vectors, keys, usable
    return None


def match_keys(src_keys: np.ndarray, src_usable: np.ndarray, dst_keys: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(dst_rows, src_rows)``: rows of ``dst_keys`` whose content has a usable source row."""
    cand = np.flatnonzero(src_usable)
    if not len(cand) or not len(dst_keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = src_keys[cand, 0]
    order = np.argsort(first, kind="stable")
    pos = np.minimum(np.searchsorted(first[order], dst_keys[:, 0]), len(cand) - 1)
    src = cand[order[pos]]
    hit = (src_keys[src, 0] == dst_keys[:, 0]) & (src_keys[src, 1] == dst_keys[:, 1])
    return np.flatnonzero(hit), src[hit]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
