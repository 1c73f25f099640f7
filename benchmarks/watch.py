"""Cost of the open app's checks for outside changes, and of its per-queue label reads.

Builds a synthetic project database (``--images`` image rows, ``--events`` label events on
random images; no files), then times, median of ``--repeat`` runs:

- ``change_mark``: the fingerprint the app polls every 2 s (engine/project/changes.py);
- ``poll``: a whole ``Watch.poll`` (mark + own-commit bookkeeping);
- ``latest_labels`` for a queue of ``--queue`` images (the Label view's refresh) against the
  full ``current_labels`` read it replaced (the baseline, same process);
- ``label_counts``: the recount the app runs where labels changed (paced to <= 5% of the time).

Prints JSON lines.

    python benchmarks/watch.py                      # 1M images, 1.2M events (~20 s to build)
    python benchmarks/watch.py --images 100000 --events 120000
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from classkit.engine.labels.events import label_counts, latest_labels
from classkit.engine.project import Project
from classkit.engine.project.changes import Watch, change_mark


def build(root: Path, images: int, events: int, seed: int) -> Project:
    """A project database with ``images`` rows and ``events`` label events (3 classes)."""
    project = Project.create(root, classes=["a", "b", "c"])
    rng = np.random.default_rng(seed)
    with project.transaction() as con:
        con.executemany(
            "INSERT INTO images(id, path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ((i, f"im/{i}.png", str(i), 1, 1, 8, 8, "PNG", 0.0) for i in range(1, images + 1)))
        con.executemany(
            "INSERT INTO label_events(image_id, label, source, round, reason, created_at) "
            "VALUES (?,?,?,?,?,?)",
            ((int(i), "abc"[int(i) % 3], "manual", 0, "", 0.0) for i in rng.integers(1, images + 1, events)))
    return project


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=1_200_000)
    ap.add_argument("--queue", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project = build(Path(tmp) / "p", args.images, args.events, args.seed)
        base = {"bench": "watch", "images": args.images, "events": args.events,
                "build_s": round(time.perf_counter() - t0, 1)}
        try:
            watch = Watch(project)
            rng = np.random.default_rng(args.seed + 1)
            ids = [int(i) for i in rng.integers(1, args.images + 1, args.queue)]
            full = timed(lambda: project.db.execute("SELECT image_id, label FROM current_labels").fetchall(),
                         max(1, args.repeat // 2))
            rows = [
                {"case": "change_mark", "ms": timed(lambda: change_mark(project), args.repeat) * 1000},
                {"case": "poll", "ms": timed(lambda: watch.poll(project), args.repeat) * 1000},
                {"case": "queue_labels", "queue": args.queue,
                 "ms": timed(lambda: latest_labels(project, ids), args.repeat) * 1000,
                 "baseline_full_scan_ms": full * 1000},
                {"case": "label_counts",
                 "ms": timed(lambda: label_counts(project), max(1, args.repeat // 2)) * 1000},
            ]
            watch.close()
        finally:
            project.close()
        for row in rows:
            row = {**base, **row}
            for k in ("ms", "baseline_full_scan_ms"):
                if k in row:
                    row[k] = round(row[k], 3)
            if "baseline_full_scan_ms" in row:
                row["speedup"] = round(row["baseline_full_scan_ms"] / max(row["ms"], 1e-6), 1)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
