"""Small helpers shared by the similarity modules: input checks, chunked float32 views,
OpenMP thread control for FAISS, checksums and crash-safe writes of large files.

Inputs may be read-only ``np.memmap`` arrays, possibly float16 on disk; nothing here makes
a full second copy unless the caller asks for one (:func:`as_float32`).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..errors import ClassKitError

# Below this many rows the unit-norm check looks at every row; above, at a fixed sample.
_NORM_CHECK_ROWS = 2048


def resolve_threads(threads: int | None) -> int:
    """``None`` or ``<= 0`` means all cores this process may use."""
    if threads is not None and threads > 0:
        return int(threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def import_faiss() -> Any:
    """Import FAISS lazily (it costs ~0.3 s and starts an OpenMP runtime).

    ``OMP_WAIT_POLICY=PASSIVE`` must be in the environment before the first OpenMP runtime
    loads, or small multi-threaded calls spin for 16-24 ms (DESIGN.md section 8); the
    package ``__init__`` sets it by default, this repeats it for direct module imports.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss


@contextlib.contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """Run FAISS calls in this block with ``n`` OpenMP threads, then restore the old count."""
    faiss = import_faiss()
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def check_matrix(X: Any, name: str = "X", check_norm: bool = True) -> None:
    """Validate an (N, D) float matrix of L2-normalised rows; raise ClassKitError if not."""
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ClassKitError(f"{name} must be a 2-D numpy array (rows = images), got "
                            f"{type(X).__name__} with shape {getattr(X, 'shape', None)}")
    if X.dtype not in (np.float16, np.float32, np.float64):
        raise ClassKitError(f"{name} must be float16/32/64, got {X.dtype}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ClassKitError(f"{name} is empty: shape {X.shape}")
    if not check_norm:
        return
    n = X.shape[0]
    rows = (np.arange(n) if n <= _NORM_CHECK_ROWS
            else np.sort(np.random.default_rng(0).choice(n, _NORM_CHECK_ROWS, replace=False)))
    sample = np.asarray(X[rows], dtype=np.float32)
    if not np.all(np.isfinite(sample)):
        raise ClassKitError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(sample, axis=1)
    tol = 2e-2 if X.dtype == np.float16 else 1e-3
    if np.any(np.abs(norms - 1.0) > tol):
        raise ClassKitError(f"{name} rows must be L2-normalised (cosine = inner product); "
                            f"found norms in [{norms.min():.3f}, {norms.max():.3f}]")


def float32_chunks(X: np.ndarray, chunk: int, start: int = 0,
                   stop: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(lo, hi, X[lo:hi] as C-contiguous float32)``; no copy when already float32."""
    stop = X.shape[0] if stop is None else stop
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        yield lo, hi, np.ascontiguousarray(X[lo:hi], dtype=np.float32)


def as_float32(X: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """``X`` itself when it is C-contiguous float32 (memmaps included), else one float32
    copy filled chunkwise (a float16 memmap is never expanded twice)."""
    if X.dtype == np.float32 and X.flags.c_contiguous:
        return X
    out = np.empty(X.shape, dtype=np.float32)
    for lo, hi, block in float32_chunks(X, chunk):
        out[lo:hi] = block
    return out


def ids_checksum(ids: np.ndarray) -> str:
    """Stable checksum of an id array (int64 little-endian), to catch misaligned reloads."""
    return xxhash.xxh3_64_hexdigest(np.ascontiguousarray(ids, dtype="<i8").tobytes())


def check_ids(ids: np.ndarray | None, n: int) -> np.ndarray:
    """Return ``ids`` as int64 (default ``arange(n)``); they must be aligned and unique."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.shape[0] != n:
        raise ClassKitError(f"ids must be 1-D with one id per row ({n}), got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ClassKitError(f"ids must be integers, got {ids.dtype}")
    ids = ids.astype(np.int64, copy=False)
    if not strictly_increasing(ids) and np.unique(ids).shape[0] != n:  # stored ids are sorted
        raise ClassKitError("ids must be unique")
    return ids


def strictly_increasing(a: np.ndarray) -> bool:
    """Whether a 1-D array is sorted with no repeats: one vectorised pass, where np.unique
    sorts or hashes (1M ids: about 1 ms against 0.2-0.5 s)."""
    return bool(a.size < 2 or (a[1:] > a[:-1]).all())


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over
    ``path`` (readers see the old or the new file, never half). For writers that want a
    file name (faiss.write_index, hnswlib.save_index, np.save)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npy(path: Path, array: np.ndarray) -> None:
    """Atomically write one array as ``.npy`` (memory-mappable on load)."""
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """Load an ``.npy`` written by :func:`save_npy` (optionally memory-mapped, read-only)."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
