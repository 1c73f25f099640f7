"""``select_for_project``: the next labeling batch for a project, saved in ``batches``.

Gathers what the strategies read, all aligned to the current embedding rows: calibrated
probabilities (only when the current predictions come from the same embedding version),
the over-clusters (computed now when missing or stale), typicality (mean similarity to the
kNN-graph neighbours), look-alike regions (near-duplicate links inside one cluster: what a
labeled image covers), label-error suspects from the latest round's
out-of-fold heads, and per-cluster disagreement. The batch, each pick's reason and score,
and its composition are stored; the batch's novelty (mean cosine distance of the picks
to the labeled set) feeds the stop signals.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.spec import near_duplicate_cosine
from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn, no_progress
from ..labels.events import align
from ..labels.queue import image_paths
from ..project import Project
from ..select.context import SelectionContext
from ..select.recipe import DEFAULT_WEIGHTS, select_batch
from ..similarity.clusters import Clustering, refresh_stats
from ..similarity.dedup import look_alike_regions
from ..similarity.project_layer import cluster_project, ensure_graph
from .data import LoopData, dup_groups_for, load_loop_data, neighbours_for
from .ledger import current_round
from .predictions import current_predictions


def _clusters(project: Project, data: LoopData, progress: ProgressFn,
              cancel: CancelToken) -> tuple[np.ndarray, str]:
    folder = project.current_artifact("clusters")
    cl = None
    if folder is not None and (Path(folder) / "clusters.json").is_file():
        cl = Clustering.load(Path(folder))
    if cl is None or cl.params.get("embedding_version") != data.emb.version:  # missing or stale
        cluster_project(project, progress=progress, cancel=cancel)
        folder = project.current_artifact("clusters")
        assert folder is not None
        cl = Clustering.load(Path(folder))
    assign = align(data.ids, np.asarray(cl.ids, np.int64), np.asarray(cl.assign, np.int64), -1)
    return assign, Path(folder).name


def _suspects(project: Project, ids: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    folder = project.current_artifact("train")
    if folder is None or not (Path(folder) / "oof_ids.npy").is_file():
        return None, None
    oof_ids = np.load(Path(folder) / "oof_ids.npy")
    scores = align(ids, oof_ids, np.load(Path(folder) / "suspect_scores.npy").astype(np.float64), np.nan)
    mask = align(ids, oof_ids, np.load(Path(folder) / "suspect_mask.npy").astype(bool), False)
    return scores, mask


def _novelty(X: np.ndarray, picks: np.ndarray, labeled: np.ndarray, chunk: int = 65536) -> float | None:
    """Mean cosine distance of ``picks`` to their nearest labeled row."""
    if len(picks) == 0 or len(labeled) == 0:
        return None
    q = np.asarray(X[picks], np.float32)
    best = np.full(len(picks), -np.inf, np.float32)
    for lo in range(0, len(labeled), chunk):
        best = np.maximum(best, (q @ np.asarray(X[labeled[lo:lo + chunk]], np.float32).T).max(1))
    return float(np.mean(1.0 - best))


def build_context(project: Project, data: LoopData, seed: int = 0, progress: ProgressFn = no_progress,
                  cancel: CancelToken | None = None) -> tuple[SelectionContext, dict[str, Any]]:
    """The selection inputs for the current state of ``project`` and where they came from."""
    cancel = cancel or CancelToken()
    sources: dict[str, Any] = {"embedding_version": data.emb.version}
    pred = current_predictions(project)
    probs = None
    if pred is not None and pred.manifest.get("embedding_version") == data.emb.version \
            and pred.classes == data.classes:
        probs = pred.aligned(data.ids)
        sources["prediction_version"] = pred.version if probs is not None else None
    graph = ensure_graph(project, progress=progress, cancel=cancel)
    typicality = align(data.ids, np.asarray(graph.ids, np.int64), np.asarray(graph.sims, np.float32).mean(1),
                       np.nan)
    assign, sources["clusters_version"] = _clusters(project, data, progress, cancel)
    scores, mask = _suspects(project, data.ids)
    disagreement = None
    if probs is not None:
        k = int(assign.max()) + 1
        y_for_stats = np.where(data.y >= 0, data.y, -1)
        disagreement = refresh_stats(np.maximum(assign, 0), y_for_stats, probs.argmax(1),
                                     n_clusters=k).disagreement
    nb_rows, nb_sims = neighbours_for(project, data, graph)
    region = look_alike_regions(nb_rows, nb_sims, assign, near_duplicate_cosine(data.emb.manifest))
    ctx = SelectionContext(X=data.X, y=data.y, probs=probs, clusters=assign, typicality=typicality,
                           dup_group=dup_groups_for(project, data.ids), region=region, suspects=scores,
                           suspect_mask=mask, cluster_disagreement=disagreement, seed=seed)
    return ctx, sources


def select_for_project(project: Project, budget: int, weights: dict[str, float] | None = None,
                       cap_per_cluster: int | None = None, min_per_class: int | None = None,
                       seed: int = 0, progress: ProgressFn = no_progress,
                       cancel: CancelToken | None = None) -> dict[str, Any]:
    """Pick, store and return a batch: ``batch`` (id), ``items`` and ``composition``.
    ``weights`` and ``cap_per_cluster`` default to the project's batch settings."""
    if budget < 1:
        raise ClassKitError(f"--budget must be at least 1, got {budget}")
    if weights is None:
        weights = project.settings.batch_weights()
    if any(float(v) < 0 for v in weights.values()) or sum(float(v) for v in weights.values()) <= 0:
        raise ClassKitError("batch shares must be non-negative with at least one above 0, got "
                            + ", ".join(f"{k} {v}" for k, v in weights.items()))
    if cap_per_cluster is None:
        cap_per_cluster = project.settings.batch_cap()
    t0 = time.perf_counter()
    data = load_loop_data(project, need_classes=False)  # a first batch may come before classes
    ctx, sources = build_context(project, data, seed, progress, cancel)
    result = select_batch(ctx, budget, weights=weights, cap_per_cluster=cap_per_cluster,
                          min_per_class=min_per_class, progress=progress, cancel=cancel)
    rows = np.asarray(result.rows, np.int64)
    composition = _named_composition(result.composition, data.classes)
    labeled_rows = np.flatnonzero(data.y >= 0)
    novelty = _novelty(data.X, rows[data.y[rows] == -1], labeled_rows)
    composition["novelty"] = None if novelty is None else round(novelty, 6)
    if rows.size == 0:
        composition["empty_because"] = _why_empty(data.y)
    settings = {"budget": budget, "weights": weights or DEFAULT_WEIGHTS, "cap_per_cluster": cap_per_cluster,
                "min_per_class": min_per_class, "seed": seed, **sources}
    paths = image_paths(project, data.ids[rows].tolist())
    items = []
    with project.transaction() as con:
        batch_id = int(con.execute(
            "INSERT INTO batches(round, created_at, settings, composition) VALUES (?,?,?,?)",
            (current_round(project), time.time(), json.dumps(settings, sort_keys=True),
             json.dumps(composition, sort_keys=True))).lastrowid or 0)
        for rank, (row, reason, score, detail) in enumerate(zip(rows.tolist(), result.reasons,
                                                                 result.scores.tolist(), result.details,
                                                                 strict=True)):
            image_id = int(data.ids[row])
            stored_reason = f"{reason}:{detail}" if detail else reason
            con.execute("INSERT INTO batch_items(batch_id, rank, image_id, reason, score) VALUES (?,?,?,?,?)",
                        (batch_id, rank, image_id, stored_reason, float(score)))
            items.append({"id": image_id, "path": str(project.paths.resolve(paths[image_id])),
                          "reason": reason, "detail": detail, "score": round(float(score), 6),
                          "labeled": bool(data.y[row] >= 0)})
    return {"batch": batch_id, "round": current_round(project), "items": items,
            "composition": composition, "settings": settings, "classes": len(data.classes),
            "seconds": round(time.perf_counter() - t0, 3)}


def _why_empty(y: np.ndarray) -> str:
    """Why a selection found nothing to pick, in words for the user."""
    left = int((y == -1).sum())
    if left == 0:
        return (f"all {y.size} image(s) are labeled or marked: nothing is left to pick "
                "(ingest more images to go on)")
    return (f"the {left} unlabeled image(s) are all near-duplicates or close look-alikes (in the "
            "same visual mode) of images already labeled or marked")


def _named_composition(comp: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    out = dict(comp)
    if "by_predicted" in out:
        out["by_predicted"] = {(classes[int(k)] if 0 <= int(k) < len(classes) else str(k)): v
                               for k, v in out["by_predicted"].items()}
    if "by_cluster" in out:
        out["by_cluster"] = {str(k): v for k, v in out["by_cluster"].items()}
    return out


def batch_summary(project: Project, batch: int | None = None) -> dict[str, Any] | None:
    """A stored batch (default: the newest): ``batch``, ``size``, ``created_at``,
    ``settings`` and ``composition`` as selection stored them; None when there is none."""
    row = project.db.execute(
        "SELECT id, created_at, settings, composition FROM batches "
        + ("WHERE id=?" if batch is not None else "ORDER BY id DESC LIMIT 1"),
        () if batch is None else (int(batch),)).fetchone()
    if row is None:
        return None
    size = project.db.execute("SELECT COUNT(*) FROM batch_items WHERE batch_id=?", (row[0],)).fetchone()[0]
    return {"batch": int(row[0]), "size": int(size), "created_at": float(row[1]),
            "settings": json.loads(row[2] or "{}"), "composition": json.loads(row[3] or "{}")}


def composition_lines(summary: dict[str, Any]) -> list[str]:
    """What a batch is made of, for people (CLI and app): why its images were picked, their
    predicted classes, how many visual modes they come from, their shares."""
    comp, settings = summary.get("composition") or {}, summary.get("settings") or {}

    def counts(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-int(kv[1]), kv[0])))

    lines = ["nothing picked: " + comp["empty_because"]] if comp.get("empty_because") else []
    if comp.get("by_reason"):
        lines.append("by reason: " + counts(comp["by_reason"])
                     + (" (cold start: no model yet)" if comp.get("cold_start") else ""))
    if comp.get("by_predicted"):
        lines.append("by predicted class: " + counts(comp["by_predicted"]))
    if comp.get("by_cluster"):
        per = comp["by_cluster"].values()
        lines.append(f"from {len(comp['by_cluster'])} visual modes (at most {max(per)} from one)")
    if settings.get("weights"):
        cap = settings.get("cap_per_cluster")
        order = list(DEFAULT_WEIGHTS)  # the recipe's own order, whatever the JSON's
        shares = sorted(settings["weights"].items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order
                                                                    else len(order), kv[0]))
        lines.append("shares: " + ", ".join(f"{k} {float(v):.2f}" for k, v in shares)
                     + "; cluster cap " + ("automatic" if cap is None else "none" if cap == 0 else str(cap)))
    return lines
