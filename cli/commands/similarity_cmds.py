"""``classkit index``, ``neighbors``, ``map`` and ``cluster``."""
from __future__ import annotations

import argparse
from pathlib import Path

from classkit.engine.project import Project

from ..output import close_progress, emit_json, progress_for, say

BACKENDS = ("auto", "faiss-flat", "faiss-hnsw", "hnswlib")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build the kNN index and the shared kNN graph")
    p.add_argument("project", type=Path)
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument("-k", type=int, default=20, help="neighbours per image in the graph (20)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if cached")
    p.add_argument("--dedup", type=float, default=None, metavar="COS",
                   help="near-duplicate threshold (cosine; default: the embedding model's own "
                        "near_duplicate_cosine, 0.97 for the bundled models)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("neighbors", help="nearest neighbours of an image")
    p.add_argument("project", type=Path)
    p.add_argument("image_id", type=int)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_neighbors)

    p = sub.add_parser("map", help="compute the 2-D map (UMAP) of the current embeddings")
    p.add_argument("project", type=Path)
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--min-dist", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("cluster", help="over-cluster the embeddings into visual modes")
    p.add_argument("project", type=Path)
    p.add_argument("--k", type=int, help="number of clusters (default N/100 in [50, 2000])")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=15, metavar="N", help="print the N largest")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cluster)


def cmd_index(args: argparse.Namespace) -> int:
    from classkit.engine.embed.spec import near_duplicate_cosine
    from classkit.engine.embed.store import current_manifest
    from classkit.engine.similarity.project_layer import (duplicate_groups, ensure_graph,
                                                          ensure_index)

    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            index = ensure_index(project, args.backend, args.rebuild, progress)
            graph = ensure_graph(project, args.k, args.rebuild, progress)
        finally:
            close_progress(progress)
        threshold = args.dedup if args.dedup is not None else near_duplicate_cosine(
            current_manifest(project))
        _, groups = duplicate_groups(project, threshold)
    n_groups = int(groups.max() + 1) if groups.size and groups.max() >= 0 else 0
    info = {"backend": index.backend, "count": index.n, "dim": index.dim, "params": index.params,
            "graph_k": graph.k, "near_duplicate_cosine": threshold, "near_duplicate_groups": n_groups,
            "near_duplicate_images": int((groups >= 0).sum())}
    if args.json:
        emit_json(info)
    else:
        say(f"Index: {info['backend']} over {info['count']} x {info['dim']}; kNN graph k={graph.k}")
        say(f"Near-duplicates (cos >= {threshold:g}): {n_groups} group(s), "
            f"{info['near_duplicate_images']} image(s)")
    return 0


def cmd_neighbors(args: argparse.Namespace) -> int:
    from classkit.engine.similarity.project_layer import neighbors

    with Project.open(args.project) as project:
        out = neighbors(project, args.image_id, args.k)
    if args.json:
        emit_json(out)
        return 0
    say(f"{out['query']['id']}  {out['query']['path']}  [{out['query']['label'] or '-'}]")
    for n in out["neighbors"]:
        say(f"  {n['similarity']:.4f}  {n['id']:>8}  [{n['label'] or '-'}]  {n['path']}")
    return 0


def cmd_map(args: argparse.Namespace) -> int:
    from classkit.engine.similarity.project_layer import compute_project_map

    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            out = compute_project_map(project, args.n_neighbors, args.min_dist, args.seed,
                                      progress=progress)
        finally:
            close_progress(progress)
    if args.json:
        emit_json(out)
    else:
        say(f"Map version {out['version']}: {out['count']} points in {out['seconds']:.1f} s "
            f"(from embeddings {out['embedding_version']})")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from classkit.engine.similarity.project_layer import cluster_project, cluster_table

    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            out = cluster_project(project, args.k, args.seed, progress=progress)
        finally:
            close_progress(progress)
        table = cluster_table(project)
    if args.json:
        emit_json({**out, "clusters": table})
        return 0
    say(f"Clusters version {out['version']}: k={out['k']} over {out['count']} images "
        f"in {out['seconds']:.1f} s")
    say(f"{'cluster':>7} {'size':>6} {'density':>8} {'labeled':>7} {'purity':>6}  majority")
    for row in sorted(table, key=lambda r: -r["size"])[:args.show]:
        purity = "-" if row["purity"] is None else f"{row['purity']:.2f}"
        density = "-" if row["density"] is None else f"{row['density']:.3f}"
        say(f"{row['cluster']:>7} {row['size']:>6} {density:>8} {row['labeled']:>7} "
            f"{purity:>6}  {row['majority'] or '-'}")
    return 0
