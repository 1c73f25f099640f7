"""The similarity layer wired to a project: cached per embedding version, versioned outputs.

Per embedding version (``runs/classkit/embeddings/<v>/``) the kNN index (``index/``), the
all-points kNN graph (``graph/``) and near-duplicate groups (``graph/dedup-<t>-max<g>.npy``) are
computed once and reloaded afterwards; they are never recomputed unless asked to.
The 2-D map and the over-clustering are versions of their own (stages ``map`` and
``clusters``) whose manifests name the embedding version they were computed from.
Only rows with a real embedding (status 0) take part; failed images are left out.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.spec import near_duplicate_cosine
from ..embed.store import EmbeddingSet, load_embeddings
from ..errors import ClassKitError
from ..fsutil import write_json_atomic
from ..jobs import CancelToken, ProgressFn, no_progress
from ..project import Project
from .clusters import Clustering, cluster_stats, over_cluster, refresh_stats
from .dedup import cache_name, near_duplicate_groups
from .graph import KnnGraph, knn_graph
from .knn import KnnIndex, build_index
from .umap_map import compute_map, normalise_coords

GRAPH_K = 20


def _usable(emb: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, ids) of the rows holding a real embedding, as stored (the memmap itself
    when every row is usable): index, graph and k-means read them in float32 chunks and the
    map widens only the rows it fits, where a float32 copy of 1M x 1584 float16 rows would
    take 6.3 GB."""
    ok = np.flatnonzero(emb.ok)
    if ok.size < 2:
        raise ClassKitError("fewer than two embedded images: nothing to compare")
    return (emb.vectors[ok] if ok.size < len(emb) else emb.vectors), emb.ids[ok]


def ensure_index(project: Project, backend: str = "auto", rebuild: bool = False,
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None
                 ) -> KnnIndex:
    """The current embedding version's kNN index: loaded when built before, else built."""
    emb = load_embeddings(project)
    folder = emb.path / "index"
    if not rebuild and (folder / "index.json").is_file():
        index = KnnIndex.load(folder)
        if backend in ("auto", index.backend):
            return index
    X, ids = _usable(emb)
    index = build_index(X, ids, backend=backend, progress=progress, cancel=cancel)
    index.save(folder)
    return index


def ensure_graph(project: Project, k: int = GRAPH_K, rebuild: bool = False,
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None
                 ) -> KnnGraph:
    """The shared all-points kNN graph of the current embedding version (computed once)."""
    emb = load_embeddings(project)
    folder = emb.path / "graph"
    if not rebuild and (folder / "graph.json").is_file():
        graph = KnnGraph.load(folder)
        if graph.k >= min(k, graph.n - 1):
            return graph
    X, ids = _usable(emb)  # an exact graph (small projects) makes its one float32 copy
    index = ensure_index(project, progress=progress, cancel=cancel) if len(ids) >= 50_000 else None
    graph = knn_graph(X, k=k, ids=ids, index=index, progress=progress, cancel=cancel)
    graph.save(folder)
    return graph


def duplicate_groups(project: Project, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, group per id, -1 = none) of near-duplicates at cosine >= ``threshold`` (cached);
    None: the embedding model's own near-duplicate cosine (``ModelSpec.near_duplicate_cosine``)."""
    graph = ensure_graph(project)
    emb = load_embeddings(project)
    if threshold is None:
        threshold = near_duplicate_cosine(emb.manifest)
    path = emb.path / "graph" / cache_name(threshold)
    if path.is_file():
        return graph.ids, np.load(path)
    groups = near_duplicate_groups(graph, threshold)
    np.save(path, groups)
    return graph.ids, groups


def _labels_by_id(project: Project) -> dict[int, str]:
    return {int(r[0]): r[1] for r in project.db.execute("SELECT image_id, label FROM current_labels")}


def neighbors(project: Project, image_id: int, k: int = 10) -> dict[str, Any]:
    """Top-``k`` neighbours of an image: its id and path, and each neighbour's id, path,
    similarity and current label (None when unlabeled)."""
    index = ensure_index(project)
    try:
        ids, sims = index.neighbors_of_ids(np.array([image_id]), k)
    except ClassKitError:
        raise ClassKitError(f"image {image_id} has no embedding in the current version "
                            f"(unknown id, or its image failed to decode)") from None
    labels = _labels_by_id(project)
    paths = dict(project.db.execute("SELECT id, path FROM images").fetchall())

    def entry(i: int) -> dict[str, Any]:
        return {"id": i, "path": str(project.paths.resolve(paths[i])), "label": labels.get(i)}

    out = [{**entry(int(i)), "similarity": round(float(s), 6)}
           for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]
    return {"query": entry(int(image_id)), "neighbors": out}


def compute_project_map(project: Project, n_neighbors: int = 15, min_dist: float = 0.1,
                        random_state: int = 0, progress: ProgressFn = no_progress,
                        cancel: CancelToken | None = None) -> dict[str, Any]:
    """UMAP coordinates of the current embeddings as a new ``map`` version (made current)."""
    t0 = time.perf_counter()
    emb = load_embeddings(project)
    graph = ensure_graph(project, k=max(GRAPH_K, n_neighbors), progress=progress, cancel=cancel)
    X, ids = _usable(emb)
    coords = compute_map(X, graph=graph, n_neighbors=n_neighbors, min_dist=min_dist,
                         random_state=random_state, progress=progress, cancel=cancel)
    version, folder = project.new_version_dir("map")
    np.save(folder / "ids.npy", ids)
    np.save(folder / "coords.npy", coords)
    np.save(folder / "display.npy", normalise_coords(coords))
    params = {"embedding_version": emb.version, "n_neighbors": n_neighbors,
              "min_dist": min_dist, "random_state": random_state, "count": int(len(ids))}
    write_json_atomic(folder / "manifest.json", {**params, "seconds": round(time.perf_counter() - t0, 3)})
    project.register_artifact("map", version, params)
    return {"version": version, "path": str(folder), **params,
            "seconds": round(time.perf_counter() - t0, 3)}


def load_map(project: Project) -> tuple[np.ndarray, np.ndarray]:
    """(ids, display coords in [0, 1]) of the current map version."""
    folder = project.current_artifact("map")
    if folder is None:
        raise ClassKitError("this project has no map yet: run `classkit map`")
    return np.load(folder / "ids.npy"), np.load(folder / "display.npy")


def cluster_project(project: Project, k: int | None = None, random_state: int = 0,
                    progress: ProgressFn = no_progress, cancel: CancelToken | None = None
                    ) -> dict[str, Any]:
    """Over-cluster the current embeddings into a new ``clusters`` version (made current)."""
    t0 = time.perf_counter()
    emb = load_embeddings(project)
    graph = ensure_graph(project, progress=progress, cancel=cancel)
    X, ids = _usable(emb)
    assign, centroids = over_cluster(X, k=k, random_state=random_state, progress=progress,
                                     cancel=cancel)
    stats = cluster_stats(X, assign, centroids, graph=graph, progress=progress, cancel=cancel)
    params = {"embedding_version": emb.version, "k": int(centroids.shape[0]),
              "random_state": random_state, "count": int(len(ids))}
    version, folder = project.new_version_dir("clusters")
    Clustering(ids, assign, centroids, stats, params).save(folder)
    project.register_artifact("clusters", version, params)
    return {"version": version, "path": str(folder), **params,
            "seconds": round(time.perf_counter() - t0, 3)}


def cluster_table(project: Project) -> list[dict[str, Any]]:
    """Per-cluster rows for the current clustering, with label stats refreshed from the
    current labels (cheap: no re-clustering)."""
    folder = project.current_artifact("clusters")
    if folder is None:
        raise ClassKitError("this project has no clusters yet: run `classkit cluster`")
    cl = Clustering.load(Path(folder))
    names = [c.name for c in project.classes()]
    code = {n: i for i, n in enumerate(names)}
    by_id = _labels_by_id(project)
    labels = np.array([code.get(by_id.get(int(i), ""), -1) for i in cl.ids], np.int64)
    k = cl.centroids.shape[0]
    ls = refresh_stats(cl.assign, labels, n_clusters=k)
    st = cl.stats
    if st is None:
        raise ClassKitError(f"clustering {folder} was saved without its statistics")
    rows = []
    for c in range(k):
        rows.append({
            "cluster": c, "size": int(st.size[c]), "medoid_id": int(cl.ids[st.medoid[c]]),
            "prototype_ids": [int(cl.ids[r]) for r in st.prototypes[c] if r >= 0],
            "density": _num(st.density[c]), "cohesion": _num(st.cohesion[c]),
            "labeled": int(ls.n_labeled[c]), "coverage": _num(ls.coverage[c]),
            "majority": names[ls.majority[c]] if ls.majority[c] >= 0 else None,
            "purity": _num(ls.purity[c])})
    return rows


def _num(value: Any) -> float | None:
    v = float(value)
    return None if np.isnan(v) else round(v, 4)
