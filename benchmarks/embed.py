"""Embedding throughput: the project's pipeline vs the bare model, in one process.

  bare_model     onnxruntime on pre-decoded uint8 batches (OnnxEmbedder.embed): the ceiling
  pipeline       `embed_project` end to end from JPEG files on disk (decode + resize in
                 parallel with inference, write the memmap, checkpoint), reuse=False
  ratio          pipeline / bare_model (target >= 0.85)

Images are crops of scikit-image's sample photos saved as JPEGs (photo-like data).
Prints one JSON object per line.  Usage: python benchmarks/embed.py [--n 1024] [--model NAME]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.embed.job import embed_project
from classkit.engine.embed.onnx_backend import OnnxEmbedder
from classkit.engine.embed.spec import resolve_model
from classkit.engine.ingest import ingest
from classkit.engine.project import Project


def make_jpegs(folder: Path, n: int, size: tuple[int, int]) -> None:
    """N random crops of skimage photos, resized to ``size``, JPEG quality 90 (cached)."""
    import skimage.data as skd

    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(p) for p in (skd.astronaut(), skd.chelsea(), skd.coffee(),
                                           skd.rocket())]
    rng = np.random.default_rng(0)
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        if path.exists():
            continue
        ph = photos[i % len(photos)]
        w, h = ph.size
        cw, ch = int(w * rng.uniform(0.4, 1)), int(h * rng.uniform(0.4, 1))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        ph.crop((x, y, x + cw, y + ch)).resize(size, Image.BICUBIC).save(path, quality=90)


def bare_rate(embedder: OnnxEmbedder, batch: int, n: int) -> float:
    size = embedder.spec.input_size
    x = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
    embedder.embed(x)  # warm-up
    steps = max(1, n // batch)
    t0 = time.perf_counter()
    for _ in range(steps):
        embedder.embed(x)
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--size", default="320x240", help="JPEG size WxH")
    ap.add_argument("--model", default=None, help="default: the default built-in")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "classkit-bench-embed")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    images = args.data / f"{args.n}-{w}x{h}"
    make_jpegs(images, args.n, (w, h))
    ref = resolve_model(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="classkit-bench-"))
    env = {"bench": "embed", "model": ref.spec.name, "n": args.n, "image": f"{w}x{h} jpeg",
           "batch": args.batch, "cores": os.cpu_count()}
    try:
        project = Project.create(tmp / "proj")
        ingest(project, [images], config=IngestConfig())
        embedder = OnnxEmbedder(ref, threads=args.threads)
        bare, pipe = [], []
        for rep in range(args.repeat):  # interleaved, so drift hits both alike
            bare.append(bare_rate(embedder, args.batch, args.n))
            t0 = time.perf_counter()
            summary = embed_project(project, ref, batch_size=args.batch, threads=args.threads,
                                    reuse=False)
            pipe.append(args.n / (time.perf_counter() - t0))
            print(json.dumps({**env, "case": "run", "rep": rep, "bare_model_images_per_s":
                              round(bare[-1], 1), "pipeline_images_per_s": round(pipe[-1], 1),
                              "timings": summary.get("timings")}), flush=True)
        b, p = statistics.median(bare), statistics.median(pipe)
        print(json.dumps({**env, "case": "summary", "bare_model_images_per_s": round(b, 1),
                          "pipeline_images_per_s": round(p, 1), "ratio": round(p / b, 3)}),
              flush=True)
        project.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
