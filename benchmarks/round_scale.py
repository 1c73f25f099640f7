"""A whole learning round at scale: ``classkit train`` then ``classkit select`` on a large project.

The issue's promise is "every round, train in seconds" on 10k-1M images. The parts are timed
elsewhere (heads: train_head.py, k-center: kernels.py, spreading: semi_scale.py); this script
times what a user waits for, end to end through the same engine calls as the CLI
(``train_round``, ``select_for_project``), with the stage timings each one reports.

The project is synthetic and has no image files: ``--n`` image rows, a float16 embedding
version of unit rows in Gaussian blobs (``_synth.blob_rows``), ``--labeled`` images labeled
with their blob's class (``--classes`` classes, blob id mod C, plus 1% wrong labels), and a
kNN graph made from the blobs (each row's ``GRAPH_K`` neighbours drawn from its own blob,
cosines 0.60-0.95, a few near-duplicates above 0.97). The graph is not the real kNN graph:
building that is timed by similarity.py and happens once per embedding version, while this
script is about the per-round cost. Over-clusters are computed for real (faiss k-means), on
the first select, and timed as their own stage.

Baseline, same process: the least work a round can do - a plain linear head (``Head``) fit
on the labeled rows and one prediction pass over every row - so the overhead of the full
round (semi-supervised head, out-of-fold heads, smoothing, writing predictions, ledger) is
visible next to it.

    python benchmarks/round_scale.py --n 100000                       # ~1-2 min
    python benchmarks/round_scale.py --n 1000000 --dim 384 --labeled 2000,20000
    python benchmarks/round_scale.py --n 1000000 --labeled 2000 --no-select --graph-features off,auto
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before faiss/numba load OpenMP

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _synth import blob_rows  # noqa: E402

from classkit.engine.labels.events import add_labels  # noqa: E402
from classkit.engine.learn.heads import Head, HeadConfig, predict_proba  # noqa: E402
from classkit.engine.loop.rounds import train_round  # noqa: E402
from classkit.engine.loop.selection import select_for_project  # noqa: E402
from classkit.engine.project import Project  # noqa: E402
from classkit.engine.similarity.graph import KnnGraph  # noqa: E402
from classkit.engine.similarity.project_layer import GRAPH_K  # noqa: E402


def _images(project: Project, n: int) -> np.ndarray:
    with project.transaction() as con:
        con.executemany(
            "INSERT INTO images(id, path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?,?)",
            ((i, f"im/{i}.png", str(i), 1, 1, 8, 8, "PNG", 0.0) for i in range(1, n + 1)))
    return np.arange(1, n + 1, dtype=np.int64)


def _embeddings(project: Project, ids: np.ndarray, X: np.ndarray) -> Path:
    version, folder = project.new_version_dir("embeddings")
    mm = np.lib.format.open_memmap(folder / "embeddings.npy", mode="w+", dtype=np.float16, shape=X.shape)
    for lo in range(0, len(X), 65536):
        mm[lo:lo + 65536] = X[lo:lo + 65536]
    mm.flush()
    del mm
    np.save(folder / "ids.npy", ids)
    np.save(folder / "status.npy", np.zeros(len(ids), np.uint8))
    (folder / "manifest.json").write_text(json.dumps(
        {"version": version, "state": "complete", "failures": [], "model": {"name": "synthetic"}}))
    project.register_artifact("embeddings", version, {"model": "synthetic"})
    return folder


def _graph(folder: Path, ids: np.ndarray, blob: np.ndarray, seed: int) -> None:
    """Each row's neighbours: GRAPH_K rows of its own blob, similarities sorted high to low."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    order = np.argsort(blob, kind="stable")
    start = np.searchsorted(blob[order], blob)  # first position of each row's blob in order
    size = np.bincount(blob)[blob]
    pick = start[:, None] + (rng.random((n, GRAPH_K)) * size[:, None]).astype(np.int64)
    rows = order[pick]
    own = rows == np.arange(n)[:, None]
    rows[own] = (rows[own] + 1) % n
    sims = np.sort(rng.uniform(0.60, 0.95, (n, GRAPH_K)).astype(np.float32), axis=1)[:, ::-1]
    dup = rng.random(n) < 0.01
    sims[dup, 0] = 0.98
    KnnGraph(rows.astype(np.int64), np.ascontiguousarray(sims), ids, {"k": GRAPH_K, "synthetic": True}
             ).save(folder / "graph")


def build(root: Path, n: int, dim: int, classes: int, seed: int) -> tuple[Project, np.ndarray, np.ndarray,
                                                                          np.ndarray, dict[str, float]]:
    """The synthetic project; returns it with ids, rows, each row's class and build timings."""
    t = {}
    t0 = time.perf_counter()
    X, blob = blob_rows(n, dim, blobs=max(classes * 20, 50), latent=32, seed=seed)
    t["data_s"] = time.perf_counter() - t0
    names = [f"class{c}" for c in range(classes)]
    project = Project.create(root, classes=names)
    t0 = time.perf_counter()
    ids = _images(project, n)
    folder = _embeddings(project, ids, X)
    _graph(folder, ids, blob, seed)
    t["project_s"] = time.perf_counter() - t0
    y_true = (blob % classes).astype(np.int64)
    return project, ids, X, y_true, {k: round(v, 2) for k, v in t.items()}


def label(project: Project, ids: np.ndarray, y_true: np.ndarray, upto: int, have: int,
          seed: int) -> np.ndarray:
    """Label rows ``have..upto`` of a fixed random order with their class (1% wrong); returns
    those rows."""
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(ids))[have:upto]
    classes = [c.name for c in project.classes()]
    wrong = rng.random(order.size) < 0.01
    lab = np.where(wrong, (y_true[order] + 1) % len(classes), y_true[order])
    for c in range(len(classes)):
        rows = order[lab == c]
        if rows.size:
            add_labels(project, ids[rows].tolist(), classes[c], source="import")
    return order


def baseline(X: np.ndarray, y_true: np.ndarray, labeled: np.ndarray, classes: int) -> dict[str, float]:
    """A plain linear head on the labeled rows, then one prediction pass over all rows."""
    t0 = time.perf_counter()
    head = Head(HeadConfig(kind="linear"))
    head.fit(np.asarray(X[labeled], np.float32), y_true[labeled], n_classes=classes)
    t1 = time.perf_counter()
    predict_proba(head, X)
    t2 = time.perf_counter()
    return {"fit_s": round(t1 - t0, 3), "predict_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="images")
    ap.add_argument("--dim", type=int, default=1584, help="embedding size (the default embedder: 1584)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--labeled", default="2000,20000", help="label counts, one round each (growing)")
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-select", action="store_true", help="time the training rounds only")
    ap.add_argument("--graph-features", default="off",
                    help="modes to train with, one round each per label count: off,auto,on")
    ap.add_argument("--out", default=None, help="also append the JSON lines here")
    a = ap.parse_args()

    def emit(rec: dict[str, Any]) -> None:
        rec = {"bench": "round_scale", "n": a.n, "dim": a.dim, "classes": a.classes,
               "cpus": os.cpu_count(), "machine": platform.machine(), **rec}
        line = json.dumps(rec)
        print(line, flush=True)
        if a.out:
            with open(a.out, "a") as fh:
                fh.write(line + "\n")

    with tempfile.TemporaryDirectory(prefix="ck-round-") as tmp:
        project, ids, X, y_true, tb = build(Path(tmp) / "p", a.n, a.dim, a.classes, a.seed)
        emit({"stage": "build", **tb, "graph": "synthetic (from the blobs)"})
        have, labeled = 0, np.empty(0, np.int64)
        for count in (int(x) for x in a.labeled.split(",")):
            t0 = time.perf_counter()
            labeled = np.union1d(labeled, label(project, ids, y_true, count, have, a.seed))
            have = count
            t_label = time.perf_counter() - t0
            base = baseline(X, y_true, labeled, a.classes)
            for mode in a.graph_features.split(","):
                t0 = time.perf_counter()
                out = train_round(project, features=mode)
                t_train = time.perf_counter() - t0
                emit({"stage": "train", "labeled": count, "graph_features": mode,
                      "used": (out["metrics"].get("features") or {}).get("used", False),
                      "seconds": round(t_train, 2), "timings": _train_timings(project), "baseline": base,
                      "import_labels_s": round(t_label, 2)})
            for run in () if a.no_select else ("first", "again"):
                t0 = time.perf_counter()
                marks: list[tuple[float, str]] = []
                sel = select_for_project(project, a.budget, progress=_recorder(marks))
                t_sel = time.perf_counter() - t0
                emit({"stage": "select", "run": run, "labeled": count, "budget": a.budget,
                      "seconds": round(t_sel, 2), "picked": len(sel["items"]),
                      "by_reason": sel["composition"].get("by_reason"),
                      "steps": _steps(t0, marks)})
        project.close()


def _recorder(marks: list[tuple[float, str]]) -> Any:
    """A progress callback that notes when each message arrived."""
    return lambda done, total, msg="": marks.append((time.perf_counter(), msg))


def _train_timings(project: Project) -> dict[str, float]:
    """The stage timings the round's training wrote to its metrics.json."""
    folder = project.current_artifact("train")
    return json.loads((Path(folder) / "metrics.json").read_text())["timings"] if folder else {}


def _steps(t0: float, marks: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds from one progress message to the next, by message (summed)."""
    out: dict[str, float] = {}
    last_t, last_m = t0, "start"
    for t, m in marks:
        out[last_m] = round(out.get(last_m, 0.0) + t - last_t, 3)
        last_t, last_m = t, (m or "").split(":")[0][:40]
    return out


if __name__ == "__main__":
    main()
