"""Similarity layer: kNN indexes, the shared all-points kNN graph, the 2-D map,
over-clusters with their statistics, and near-duplicate groups.

Pure numpy in, numpy out, plus a folder to persist into; the project/CLI layers decide
where that folder lives (next to its embedding version). Heavy libraries (faiss, hnswlib,
umap) are imported lazily, inside the functions that need them.

OpenMP: ``OMP_WAIT_POLICY=PASSIVE`` is set here (unless the caller chose otherwise)
before faiss or numba load an OpenMP runtime; with the default active wait, small
multi-threaded calls spin for 16-24 ms (DESIGN.md section 8). An OpenMP runtime reads it
once, when it loads: the CLI and app should set it before importing faiss, numba or torch.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .calibrate import calibrate_ef  # noqa: E402
from .clusters import (ClusterStats, Clustering, LabelStats, cluster_stats,  # noqa: E402
                       default_n_clusters, over_cluster, refresh_stats)
from .dedup import group_sizes, list_groups, near_duplicate_groups, split_keys  # noqa: E402
from .graph import KnnGraph, knn_graph  # noqa: E402
from .knn import BACKENDS, KnnIndex, build_index, choose_backend  # noqa: E402
from .umap_map import compute_map, normalise_coords  # noqa: E402

__all__ = ["BACKENDS", "ClusterStats", "Clustering", "KnnGraph", "KnnIndex", "LabelStats",
           "build_index", "calibrate_ef", "choose_backend", "cluster_stats", "compute_map",
           "default_n_clusters", "group_sizes", "knn_graph", "list_groups",
           "near_duplicate_groups", "normalise_coords", "over_cluster", "refresh_stats",
           "split_keys"]
