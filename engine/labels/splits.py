"""Stable, stratified, leakage-free train/val/test splits stored in the ``splits`` table.

Once an image has a split it keeps it forever, so metrics stay comparable across rounds.
New class-labeled images are assigned in the order of a seeded hash of their content (not
DB order): each goes to the split whose share of its class is furthest below the target,
except that near-duplicates and exact duplicates always share a split, and a class's first
labels go to train (val and test get one only once the class has ``min_eval`` labels).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import xxhash

from ..errors import ConfigError
from ..project import Project
from .events import align, fetch_pairs, label_arrays

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.2, "test": 0.1}
NO_SPLIT = -1


def check_fractions(fractions: Mapping[str, float] | None) -> np.ndarray:
    """Target shares as a normalised array in SPLITS order (missing splits get 0)."""
    fractions = DEFAULT_FRACTIONS if fractions is None else fractions
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise ConfigError("fractions", f"unknown split {unknown[0]!r} (splits: {', '.join(SPLITS)})")
    out = np.array([float(fractions.get(s, 0.0)) for s in SPLITS])
    if not np.all(np.isfinite(out)) or (out < 0).any() or out[0] <= 0:
        raise ConfigError("fractions", f"need non-negative shares with train > 0, got {dict(fractions)}")
    return out / out.sum()


def order_keys(content_hashes: list[str], seed: int) -> np.ndarray:
    """uint64 sort keys: a seeded hash of each content hash (independent of DB order)."""
    return np.fromiter((xxhash.xxh3_64_intdigest(f"{seed}:{h}".encode()) for h in content_hashes),
                       dtype=np.uint64, count=len(content_hashes))


def stratified_assign(labels: np.ndarray, current: np.ndarray, keys: np.ndarray,
                      fractions: np.ndarray, groups: np.ndarray | None = None,
                      min_eval: int = 3) -> np.ndarray:
    """Split codes (0 train, 1 val, 2 test, -1 none) for all items; pure arrays, no project.

    ``labels``: class index (>= 0) or negative for no class; ``current``: existing split
    codes (-1 = none, kept as they are); ``keys``: uint64 order keys; ``groups``: group id
    per item (-1 = alone), members of a group end up in one split. Only items with a class
    and no split are assigned; existing items count towards the per-class shares.
    """
    labels = np.asarray(labels, dtype=np.int64)
    out = np.asarray(current, dtype=np.int64).copy()
    groups = np.full(labels.shape, -1, np.int64) if groups is None else np.asarray(groups, np.int64)
    frac = [float(f) for f in fractions]
    n_classes = int(labels.max()) + 1 if labels.size else 0
    has = (labels >= 0) & (out >= 0)
    counts = np.zeros((max(n_classes, 1), 3), dtype=np.int64)
    np.add.at(counts, (labels[has], out[has]), 1)
    table = counts.tolist()
    gsplit: dict[int, int] = {}
    held = (groups >= 0) & (out >= 0)
    for g, s in zip(groups[held].tolist(), out[held].tolist(), strict=True):
        gsplit.setdefault(g, s)  # a group split across splits by hand: its first member wins
    new = np.flatnonzero((labels >= 0) & (out < 0))
    new = new[np.lexsort((labels[new], keys[new]))]
    for i, c, g, k in zip(new.tolist(), labels[new].tolist(), groups[new].tolist(),
                          keys[new].tolist(), strict=True):
        row = table[c]
        s = gsplit.get(g, -1) if g >= 0 else -1
        if s < 0:
            n = row[0] + row[1] + row[2] + 1
            if n < min_eval:
                s = 0
            else:
                deficit = [frac[j] * n - row[j] for j in range(3)]
                best = max(deficit)
                tied = [j for j in range(3) if deficit[j] >= best - 1e-9]
                s = tied[(k >> 11) % len(tied)]
            if g >= 0:
                gsplit[g] = s
        row[s] += 1
        out[i] = s
    return out


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label per node (the smallest node index) for edges a-b."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        m = np.minimum(parent[a], parent[b])
        before = parent.copy()
        np.minimum.at(parent, parent[a], m)
        np.minimum.at(parent, parent[b], m)
        while True:  # pointer jumping until every node points at a root
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
        if np.array_equal(parent, before):
            return parent


def duplicate_components(ids: np.ndarray, duplicate_of: np.ndarray,
                         groups: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Group id per image (-1 = alone) joining exact duplicates and near-duplicate groups."""
    n = ids.size
    pos = np.arange(n, dtype=np.int64)
    canon = np.searchsorted(ids, duplicate_of)  # ids are sorted; duplicate_of = own id if none
    a, b = [pos], [np.where((canon < n) & (ids[np.minimum(canon, n - 1)] == duplicate_of), canon, pos)]
    if groups is not None:
        g = align(ids, np.asarray(groups[0], np.int64), np.asarray(groups[1], np.int64), -1)
        member = np.flatnonzero(g >= 0)
        if member.size:
            _, first = np.unique(g[member], return_index=True)
            lead = np.full(int(g.max()) + 1, -1, np.int64)
            lead[g[member][first]] = member[first]
            a.append(member)
            b.append(lead[g[member]])
    comp = _components(n, np.concatenate(a), np.concatenate(b)) if n else pos
    sizes = np.bincount(comp, minlength=n) if n else comp
    return np.where(sizes[comp] > 1, comp, -1) if n else comp


def load_splits(project: Project, ids: np.ndarray) -> np.ndarray:
    """Split codes aligned with ``ids``: 0 train, 1 val, 2 test, -1 none (int8)."""
    keys, codes = fetch_pairs(project.db, "SELECT image_id, CASE split WHEN 'train' THEN 0 "
                                          "WHEN 'val' THEN 1 ELSE 2 END FROM splits")
    return align(ids, keys, codes.astype(np.int8), NO_SPLIT)


def assign_splits(project: Project, fractions: Mapping[str, float] | None = None, seed: int = 0,
                  groups: tuple[np.ndarray, np.ndarray] | None = None,
                  min_eval: int = 3) -> dict[str, Any]:
    """Give a split to every class-labeled image that has none (existing ones never change).

    ``groups`` = (image ids, group id per image, -1 none), e.g. from
    ``similarity.project_layer.duplicate_groups``; exact duplicates are always grouped.
    Returns ``assigned`` (new), ``splits`` and ``classes`` (counts of class-labeled images).
    """
    frac = check_fractions(fractions)
    classes = [c.name for c in project.classes()]
    with project.transaction() as con:
        ids, dup = fetch_pairs(con, "SELECT id, COALESCE(duplicate_of, id) FROM images ORDER BY id")
        labels = label_arrays(project, ids, classes)
        current = load_splits(project, ids).astype(np.int64)
        new = np.flatnonzero((labels >= 0) & (current < 0))
        keys = np.zeros(ids.size, dtype=np.uint64)
        if new.size:
            hashes = dict(con.execute("SELECT id, content_hash FROM images"))
            keys[new] = order_keys([hashes[i] for i in ids[new].tolist()], seed)
        comp = duplicate_components(ids, dup, groups)
        codes = stratified_assign(labels, current, keys, frac, comp, min_eval)
        now = time.time()
        con.executemany("INSERT INTO splits(image_id, split, assigned_at, seed) VALUES (?,?,?,?)",
                        [(i, SPLITS[s], now, seed) for i, s in
                         zip(ids[new].tolist(), codes[new].tolist(), strict=True)])
    has = labels >= 0
    per_class = {name: {s: 0 for s in SPLITS} for name in classes}
    if has.any():
        table = np.zeros((len(classes), 3), dtype=np.int64)
        np.add.at(table, (labels[has], codes[has]), 1)
        per_class = {name: dict(zip(SPLITS, map(int, table[j]), strict=True))
                     for j, name in enumerate(classes)}
    totals = {s: sum(c[s] for c in per_class.values()) for s in SPLITS}
    return {"assigned": int(new.size), "seed": seed, "splits": totals, "classes": per_class}
