"""Fashion-MNIST (or OpenCV's handwritten digits) embedded with ClassKit's default embedder,
cached, for the AL simulation.

Reads the Debian-packaged IDX files (``apt-get install dataset-fashion-mnist``: files under
/usr/share/datasets/fashion-mnist), writes a seeded pool (from the training set) and a
held-out test set (from t10k) as PNG files, ingests them into a ClassKit project and embeds
them through the real pipeline (``ingest`` + ``embed_project``), then caches
``X_pool, y_pool, X_test, y_test`` (float32, L2-normalised) in one ``.npz`` keyed by the
sizes, seed and model. Later runs load the cache in milliseconds.

    python benchmarks/al_data.py --pool 20000 --test 5000   # prepare (minutes, once)

A second dataset, ``--dataset opencv-digits``: the 5,000 20x20 handwritten digits (500 per
class) of OpenCV's sample ``digits.png`` (``apt-get install opencv-doc``; file under
/usr/share/doc/opencv-doc/examples/data), a seeded ``--test`` of them (default 1,000) held
out and the rest the pool. Low-resolution crops that the embedder sees as much alike:
where the learning loop's near-duplicate groups and feature scaling were found wanting.
"""
from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "boot"]
DEFAULT_CACHE = Path.home() / ".cache" / "classkit-bench" / "fashion-mnist"
DIGITS_PNG = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")
DIGIT_CLASSES = [str(i) for i in range(10)]
DATASETS = ("fashion-mnist", "opencv-digits")


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


def load_digits(png: Path = DIGITS_PNG) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's digits.png as (5000, 20, 20) uint8 crops and their digits (row blocks of 5)."""
    from PIL import Image

    if not png.is_file():
        raise SystemExit(f"{png} not found: install it with `sudo apt-get install opencv-doc`")
    with Image.open(png) as im:
        sheet = np.asarray(im.convert("L"))
    if sheet.shape != (1000, 2000):
        raise SystemExit(f"{png}: expected a 1000 x 2000 sheet of 20 px digits, got {sheet.shape}")
    crops = sheet.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(5000, 20, 20)
    return np.ascontiguousarray(crops), np.repeat(np.arange(10), 500)


def prepare_dataset(dataset: str = "fashion-mnist", pool: int | None = None, test: int | None = None,
                    cache: Path | None = None, model: str | None = None) -> dict[str, Any]:
    """:func:`prepare` for ``dataset`` with its default sizes; adds ``classes``."""
    if dataset == "fashion-mnist":
        data: dict[str, Any] = prepare(pool or 20_000, test or 5_000, 0, cache or DEFAULT_CACHE, model)
        return {**data, "classes": CLASSES}
    if dataset != "opencv-digits":
        raise SystemExit(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    test = test or 1_000
    cache = cache or DEFAULT_CACHE.parent / "opencv-digits"
    from classkit.engine.embed.spec import default_model_name

    key = f"pool{pool or 5000 - test}-test{test}-seed0-{model or default_model_name()}"
    out = cache / f"{key}.npz"
    if not out.is_file():
        images, labels = load_digits()
        order = np.random.default_rng(0).permutation(len(images))
        test_rows, pool_rows = np.sort(order[:test]), np.sort(order[test:])[:pool]
        _save(out, {"X_pool": _embed_folder(cache / key, images[pool_rows], "pool", model),
                    "y_pool": labels[pool_rows],
                    "X_test": _embed_folder(cache / key, images[test_rows], "test", model),
                    "y_test": labels[test_rows]})
    with np.load(out) as z:
        return {**{k: z[k] for k in z.files}, "classes": DIGIT_CLASSES}


def _save(out: Path, data: dict[str, np.ndarray]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(out)


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
    _save(out, data)
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
    ap.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    args = ap.parse_args()
    if args.dataset == "fashion-mnist":
        data = prepare(args.pool, args.test, args.seed, args.cache, args.model, args.idx_dir)
    else:
        data = prepare_dataset(args.dataset, model=args.model)
    print(json.dumps({k: list(v.shape) for k, v in data.items() if hasattr(v, "shape")}))


if __name__ == "__main__":
    main()
