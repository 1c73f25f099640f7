"""Ingest throughput: ClassKit's parallel ingest vs a plain sequential open-verify-hash loop.

Writes N generated JPEGs once (cached in --data), then times, in one process:
  baseline_verify   sequential: read, xxh3-128 hash, PIL open + verify() (header-level check)
  baseline_decode   sequential: read, hash, PIL open + full load() (what catches truncation)
  classkit_ingest   `ingest()` into a fresh project (all cores, full decode, DB commits)
  classkit_reingest the same source again (nothing changed: nothing read)
  classkit_ingest_quick  `ingest(check="quick")` into another fresh project (JPEG structure
                    check instead of a full decode)
Prints one JSON object per line.  Usage: python benchmarks/ingest.py [--n 5000]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xxhash
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.ingest import ingest
from classkit.engine.project import Project


def make_jpegs(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """N distinct photo-like JPEGs (smooth gradients + noise), reused across runs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paths = []
    for i in range(n):
        path = folder / f"{i // 1000:02d}" / f"img_{i:05d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        a, b, c = rng.uniform(0.2, 1.0, 3)
        base = np.stack([xx * a, yy * b, (xx + yy) * c / 2], -1) * (255.0 / max(w, h))
        arr = np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(path, quality=90)
    return paths


def baseline(paths: list[Path], full_decode: bool) -> float:
    t0 = time.perf_counter()
    for p in paths:
        data = p.read_bytes()
        xxhash.xxh3_128_hexdigest(data)
        with Image.open(io.BytesIO(data)) as im:
            if full_decode:
                im.load()
            else:
                im.verify()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--workers", type=int, default=0, help="0 = all cores")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "classkit-bench-ingest")
    args = ap.parse_args()
    paths = make_jpegs(args.data / f"{args.n}-{args.width}x{args.height}", args.n,
                       (args.width, args.height))
    env = {"python": platform.python_version(), "cores": os.cpu_count(), "n": args.n,
           "image": f"{args.width}x{args.height} jpeg"}

    def report(case: str, seconds: float, **extra: object) -> None:
        print(json.dumps({"bench": "ingest", "case": case, **env, "seconds": round(seconds, 3),
                          "images_per_s": round(args.n / seconds, 1), **extra}), flush=True)

    for p in paths:  # warm the page cache so every case reads from memory
        p.read_bytes()
    report("baseline_verify", baseline(paths, full_decode=False))
    report("baseline_decode", baseline(paths, full_decode=True))
    tmp = Path(tempfile.mkdtemp(prefix="classkit-bench-"))
    try:
        project = Project.create(tmp / "proj")
        config = IngestConfig(workers=args.workers)
        t0 = time.perf_counter()
        summary = ingest(project, [paths[0].parent.parent], config=config)
        report("classkit_ingest", time.perf_counter() - t0, added=summary["added"],
               issues=summary["issues"], workers=config.n_workers)
        t0 = time.perf_counter()
        summary = ingest(project, [paths[0].parent.parent], config=config)
        report("classkit_reingest", time.perf_counter() - t0, added=summary["added"],
               unchanged=summary["unchanged"])
        project.close()
        project = Project.create(tmp / "proj-quick")
        t0 = time.perf_counter()
        summary = ingest(project, [paths[0].parent.parent],
                         config=IngestConfig(workers=args.workers, check="quick"))
        report("classkit_ingest_quick", time.perf_counter() - t0, added=summary["added"],
               issues=summary["issues"], workers=config.n_workers)
        project.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
