"""Near-duplicate groups from the shared kNN graph.

Two rows are linked when one is among the other's graph neighbours with cosine similarity
``>= threshold``; groups are the connected components of those links (union-find via
scipy's connected_components), so linking is transitive: a chain of near-copies forms one
group even if its ends differ more. Only the graph's k neighbours are looked at, but a
group larger than k still joins up through its members' links.

Groups serve the UI (collapse copies), splits (a group never straddles train and test:
use :func:`split_keys` as the group key), selection (no pick from the group of a labeled
image, one per group in a batch) and exports, with chaining limited: a component of
more than ``max_group`` rows is split again at a stricter cosine (halfway to 1: 0.97, 0.985,
0.9925, ...; up to ``MAX_TIGHTEN`` times), so a group stays a burst of copies, not a region
of look-alikes; copies closer than the last threshold stay together at any size. Measured
with the default embedder: at 0.97 alone, OpenCV's 5,000 handwritten digits (20x20 px)
formed one group of 2,127 images of every digit (Fashion-MNIST's 20,000: one of 809), so
labels given outside active-learning batches (random ones here) went to train as a block
and val lost most of the easy classes: it read 0.81 where the head was right on 92% of the
unlabeled images. All 159 frames sampled from OpenCV's vtest.avi (a fixed camera, people
walking) formed one component: selection would never have proposed a second of them.

Unlimited components as selection's look-alike regions helped the default recipe on
Fashion-MNIST by 0.1-0.3 points at 200-500 labels (20 seeds, paired) and cost 0.8-2.1 points
at 50-150 labels on the digits (10 seeds): bounded groups for splits, the UI and exports
(docs/benchmarks/learning-loop.md, Session 7).

Selection uses :func:`look_alike_regions` instead: the same links, kept only between rows
of one over-cluster (visual mode), with no size limit. A region is a chain of look-alikes
inside one mode, never a whole video or a region spanning every class, and at most a
mode's size. Against bounded groups (Session 8, paired, test accuracy in points): Fashion-
MNIST, 20 seeds, +0.3 / +0.2 / +0.1 / +0.2 at 200 / 300 / 400 / 500 labels; the digits, 10
seeds, within the spread between test splits (+0.6 / +1.0 at 99 / 148 labels on one set of
splits, -0.5 / -0.7 at 50 / 99 on the benchmark's). OpenCV's vtest.avi (159 frames in a
three-video project, 50 modes): 37 regions, largest 15 frames.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..embed.spec import NEAR_DUPLICATE_COSINE as DEFAULT_THRESHOLD
from ..errors import ClassKitError
from .graph import KnnGraph


MAX_GROUP = 50  # rows; larger components are split again at a stricter cosine
MAX_TIGHTEN = 6  # times; 0.97 then reaches 0.99953


def cache_name(threshold: float) -> str:
    """File name of a project's cached groups (in the graph folder): it names the size
    limit, so groups cached before the limit existed are not reused."""
    return f"dedup-{threshold:.4f}-max{MAX_GROUP}.npy"


def _components(rows: np.ndarray, link: np.ndarray) -> np.ndarray:
    """Weakly connected component per row of the graph's ``link``-ed edges."""
    n = rows.shape[0]
    src = np.broadcast_to(np.arange(n)[:, None], rows.shape)[link]
    dst = rows[link].astype(np.int64)
    adj = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(adj, directed=True, connection="weak")[1]


def _links(rows: np.ndarray, sims: np.ndarray, threshold: float) -> np.ndarray:
    """Which graph edges join near-duplicates: an existing neighbour at cosine >= threshold."""
    if not -1.0 <= threshold <= 1.0:
        raise ClassKitError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
    return (sims >= threshold) & (rows >= 0)


def near_duplicate_groups(graph: KnnGraph, threshold: float = DEFAULT_THRESHOLD,
                          max_group: int = MAX_GROUP) -> np.ndarray:
    """Group id per row (int64): 0..G-1 numbered by each group's first row, -1 = no group.
    Components above ``max_group`` rows are split at stricter cosines (module docstring)."""
    n = graph.n
    rows = np.asarray(graph.rows)
    sims = np.asarray(graph.sims)
    link = _links(rows, sims, threshold)
    if not link.any():
        return np.full(n, -1, np.int64)
    comp = _components(rows, link)
    strict = threshold
    for _ in range(MAX_TIGHTEN):
        big = np.bincount(comp)[comp] > max_group
        if not big.any():
            break
        strict = 1.0 - (1.0 - strict) / 2  # a link joins its two ends' component: check one end
        link &= ~(big[:, None] & (sims < strict))
        comp = _components(rows, link)
    size = np.bincount(comp)
    grouped = size[comp] > 1
    # renumber grouped components 0..G-1 in order of their first row; singletons -> -1
    first_rows = np.flatnonzero(grouped)
    _, first_idx = np.unique(comp[first_rows], return_index=True)
    order = np.argsort(first_rows[first_idx], kind="stable")
    new_id = np.full(size.shape[0], -1, np.int64)
    new_id[comp[first_rows[first_idx]][order]] = np.arange(order.size)
    return new_id[comp]


def list_groups(groups: np.ndarray) -> list[np.ndarray]:
    """Rows of each group (ascending), largest group first, ties by first row."""
    groups = np.asarray(groups)
    rows = np.flatnonzero(groups >= 0)
    if rows.size == 0:
        return []
    order = np.argsort(groups[rows], kind="stable")
    g_sorted = groups[rows][order]
    cuts = np.flatnonzero(np.diff(g_sorted)) + 1
    parts = np.split(rows[order], cuts)
    parts.sort(key=lambda p: (-p.size, p[0]))
    return parts


def group_sizes(groups: np.ndarray) -> np.ndarray:
    """Size of each row's group (1 for rows in no group)."""
    groups = np.asarray(groups)
    sizes = np.ones(groups.shape[0], np.int64)
    has = groups >= 0
    if has.any():
        sizes[has] = np.bincount(groups[has])[groups[has]]
    return sizes


def split_keys(groups: np.ndarray) -> np.ndarray:
    """One key per row for group-aware splitting: the group id for grouped rows, a unique
    key (``G + row``) for the rest, so e.g. sklearn's GroupShuffleSplit keeps groups whole."""
    groups = np.asarray(groups, np.int64)
    g = int(groups.max()) + 1 if groups.size and groups.max() >= 0 else 0
    return np.where(groups >= 0, groups, g + np.arange(groups.shape[0]))


def look_alike_regions(rows: np.ndarray, sims: np.ndarray, clusters: np.ndarray,
                       threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Region id per row (int64, -1 = none): connected components of kNN links at cosine
    >= ``threshold`` whose two ends are in the same over-cluster (``clusters``, -1 = none:
    such rows link to nothing). ``rows``/``sims``: each row's graph neighbours (-1 = none)
    and their cosines. What selection treats as already covered (module docstring)."""
    rows = np.asarray(rows)
    clusters = np.asarray(clusters, np.int64)
    if rows.ndim != 2 or clusters.shape != (rows.shape[0],) or np.shape(sims) != rows.shape:
        raise ClassKitError(f"neighbours {rows.shape} / {np.shape(sims)} and clusters "
                            f"{clusters.shape} do not match")
    link = _links(rows, np.asarray(sims), threshold)
    link &= (clusters[np.maximum(rows, 0)] == clusters[:, None]) & (clusters[:, None] >= 0)
    if not link.any():
        return np.full(rows.shape[0], -1, np.int64)
    comp = _components(rows, link)
    size = np.bincount(comp)
    return np.where(size[comp] > 1, comp, -1).astype(np.int64)
