"""The arrays a round works on, read from a project: embeddings, labels, splits, groups."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embed.store import EmbeddingSet, load_embeddings
from ..errors import ClassKitError
from ..labels.events import align, label_arrays
from ..labels.splits import assign_splits, load_splits
from ..project import Project
from ..similarity.graph import KnnGraph
from ..similarity.project_layer import duplicate_groups, ensure_graph


@dataclass
class LoopData:
    """Rows = the current embedding version's embedded images (failed ones left out)."""

    emb: EmbeddingSet
    ids: np.ndarray            # image id per row
    X: np.ndarray              # (N, D) memmap view when every row is usable
    y: np.ndarray              # class index, -1 unlabeled, -2 unsure/junk/skip
    classes: list[str]

    @property
    def n(self) -> int:
        return len(self.ids)


def load_loop_data(project: Project, need_classes: bool = True) -> LoopData:
    """Embeddings of the usable rows with their current labels. ``need_classes=False``
    allows fewer than two classes (a first batch, picked to see what the images hold)."""
    emb = load_embeddings(project)
    ok = np.flatnonzero(emb.ok)
    if ok.size < 2:
        raise ClassKitError("fewer than two embedded images: run `classkit embed` first")
    X = emb.vectors if ok.size == len(emb) else emb.vectors[ok]
    ids = emb.ids[ok]
    classes = [c.name for c in project.classes()]
    if need_classes and len(classes) < 2:
        raise ClassKitError("the project needs at least two classes: add them with `classkit classes`")
    return LoopData(emb, ids, X, label_arrays(project, ids, classes), classes)


def dup_groups_for(project: Project, ids: np.ndarray) -> np.ndarray:
    """Near-duplicate group per row of ``ids`` (-1 none), from the cached kNN graph."""
    g_ids, groups = duplicate_groups(project)
    return align(ids, np.asarray(g_ids, np.int64), np.asarray(groups, np.int64), -1)


def splits_for(project: Project, data: LoopData, seed: int = 0) -> np.ndarray:
    """Assign splits to newly labeled images (existing ones never move), then load them."""
    assign_splits(project, seed=seed, groups=(data.ids, dup_groups_for(project, data.ids)))
    return load_splits(project, data.ids)


def neighbours_for(project: Project, data: LoopData,
                   graph: KnnGraph | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's kNN-graph neighbours as rows of ``data`` (-1 = none) and their cosine
    similarities, from the project's cached graph (computed once per embedding version;
    ``graph``: that graph, when the caller has it loaded already)."""
    graph = ensure_graph(project) if graph is None else graph
    g_ids = np.asarray(graph.ids, np.int64)
    if len(g_ids) == data.n and np.array_equal(g_ids, data.ids):  # the usual case: rows agree
        return np.asarray(graph.rows, np.int64), np.asarray(graph.sims, np.float32)  # 2 s at 1M
    pos = align(data.ids, g_ids, np.arange(len(g_ids), dtype=np.int64), -1)
    to_row = np.full(len(g_ids), -1, np.int64)
    to_row[pos[pos >= 0]] = np.flatnonzero(pos >= 0)
    g_rows = np.asarray(graph.rows, np.int64)
    rows = np.full((data.n, graph.k), -1, np.int64)
    sims = np.zeros((data.n, graph.k), np.float32)
    have = pos >= 0
    nb = g_rows[pos[have]]
    rows[have] = np.where(nb >= 0, to_row[np.maximum(nb, 0)], -1)
    sims[have] = np.asarray(graph.sims, np.float32)[pos[have]]
    return rows, sims
