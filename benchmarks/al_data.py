"""Fashion-MNIST embedded with ClassKit's default embedder, cached, for the AL simulation.

Reads the Debian-packaged IDX files (``apt-get install dataset-fashion-mnist``: files under
/usr/share/datasets/fashion-mnist), writes a seeded pool (from the training set) and a
held-out test set (from t10k) as PNG files, ingests them into a ClassKit project and embeds
them through the real pipeline (``ingest`` + ``embed_project``), then caches
``X_pool, y_pool, X_test, y_test`` (float32, L2-normalised) in one ``.npz`` keyed by the
sizes, seed and model. Later runs load the cache in milliseconds.

    python benchmarks/al_data.py --pool 20000 --test 5000   # prepare (minutes, once)
"""
from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np

IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "boot"]
DEFAULT_CACHE = Path.home() / ".cache" / "classkit-bench" / "fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzip or not) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    _zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only uint8 IDX files are supported")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(name: str, idx_dir: Path) -> Path:
    for cand in (idx_dir / f"{name}.gz", idx_dir / name):
        if cand.is_file():
            return cand
    raise SystemExit(f"{idx_dir}/{name}[.gz] not found: install it with "
                     "`sudo apt-get install dataset-fashion-mnist` (or pass --idx-dir)")


def load_split(split: str, idx_dir: Path = IDX_DIR) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(_find(f"{prefix}-images-idx3-ubyte", idx_dir))
    labels = read_idx(_find(f"{prefix}-labels-idx1-ubyte", idx_dir))
    return images, labels.astype(np.int64)


def _embed_folder(work: Path, images: np.ndarray, name: str, model: str | None) -> np.ndarray:
    """Write ``images`` as PNGs, ingest and embed them; rows in the order of ``images``."""
    from PIL import Image

    from classkit.engine.embed.job import embed_project
    from classkit.engine.embed.spec import resolve_model
    from classkit.engine.embed.store import load_embeddings
    from classkit.engine.ingest.pipeline import ingest
    from classkit.engine.project import Project

    folder = work / "images" / name
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        path = folder / f"{i:06d}.png"
        if not path.exists():
            Image.fromarray(img, "L").save(path)
    root = work / f"project-{name}"
    project = Project.open(root) if (root / "classkit_project.json").exists() else Project.create(root)
    with project:
        ingest(project, [folder])
        embed_project(project, resolve_model(model))
        emb = load_embeddings(project)
        paths = dict(project.db.execute("SELECT id, path FROM images").fetchall())
        order = np.array([int(Path(paths[int(i)]).stem) for i in emb.ids])
        if not emb.ok.all():
            raise SystemExit(f"{int((~emb.ok).sum())} images failed to embed")
        X = np.empty((len(images), emb.vectors.shape[1]), np.float32)
        X[order] = np.asarray(emb.vectors, np.float32)
    return X


def prepare(pool: int = 20_000, test: int = 5_000, seed: int = 0, cache: Path = DEFAULT_CACHE,
            model: str | None = None, idx_dir: Path = IDX_DIR) -> dict[str, np.ndarray]:
    """The cached embedded dataset (built on first use)."""
    from classkit.engine.embed.spec import default_model_name

    # keyed by the model's name, so a new default embedder gets its own cache
    key = f"pool{pool}-test{test}-seed{seed}-{model or default_model_name()}"
    out = cache / f"{key}.npz"
    if out.is_file():
        with np.load(out) as z:
            return {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    train_x, train_y = load_split("train", idx_dir)
    test_x, test_y = load_split("test", idx_dir)
    pool_rows = np.sort(rng.choice(len(train_x), pool, replace=False))
    test_rows = np.sort(rng.choice(len(test_x), test, replace=False))
    work = cache / key
    t0 = time.perf_counter()
    data = {"X_pool": _embed_folder(work, train_x[pool_rows], "pool", model),
            "y_pool": train_y[pool_rows],
            "X_test": _embed_folder(work, test_x[test_rows], "test", model),
            "y_test": test_y[test_rows]}
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(out)
    print(json.dumps({"bench": "al_data", "key": key, "seconds": round(time.perf_counter() - t0, 1),
                      "dim": int(data["X_pool"].shape[1])}), file=sys.stderr)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--test", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--model", help="embedder (default: the project default)")
    ap.add_argument("--idx-dir", type=Path, default=IDX_DIR)
    args = ap.parse_args()
    data = prepare(args.pool, args.test, args.seed, args.cache, args.model, args.idx_dir)
    print(json.dumps({k: list(v.shape) for k, v in data.items()}))


if __name__ == "__main__":
    main()
