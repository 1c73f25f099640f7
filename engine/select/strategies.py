"""Selection strategies: one shared ``query`` signature, scikit-activeml style.

``__init__`` stores parameters only (no fitted state). ``query(ctx, candidates, batch_size,
taken)`` returns :class:`Picks`: unique rows in pick order (best first), never a row of
``taken`` (rows already in this batch), at most ``batch_size`` of them. A strategy that has
nothing to go on (e.g. uncertainty without a model) returns empty picks so the recipe can pass
its share on. Every random choice comes from ``ctx.rng(salt)``: same context, same picks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .context import SelectionContext
from .kernels import entropy_margin, kcenter_greedy

MAX_DISTANCE = 2.0  # largest distance between unit vectors: the score of a cold-start pick


@dataclass
class Picks:
    """Rows (int64, pick order), their scores (float64, finite) and short per-pick reasons."""

    rows: np.ndarray
    scores: np.ndarray
    detail: list[str] | None = None

    @classmethod
    def empty(cls) -> Picks:
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), [])

    def __len__(self) -> int:
        return int(self.rows.size)


class Strategy(Protocol):
    name: str

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks: ...


def _prepare(candidates: Any, taken: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Unique sorted candidates minus ``taken``, ``taken`` as an array, and the reachable size."""
    cands = np.asarray(candidates, dtype=np.int64).ravel()
    if cands.size > 1 and not (cands[1:] > cands[:-1]).all():  # the recipe passes sorted rows:
        cands = np.unique(cands)                                  # no 1M-row unique (0.2 s) then
    taken = np.unique(np.asarray([] if taken is None else taken, dtype=np.int64).ravel())
    cands = cands[~np.isin(cands, taken)]
    return cands, taken, int(min(max(batch_size, 0), cands.size))


def _picks(rows: np.ndarray, scores: np.ndarray, detail: str | list[str]) -> Picks:
    rows = np.asarray(rows, np.int64)
    det = [detail] * rows.size if isinstance(detail, str) else list(detail)
    return Picks(rows, np.nan_to_num(np.asarray(scores, np.float64), posinf=MAX_DISTANCE), det)


def similarity_guard(X: np.ndarray, ranked: np.ndarray, k: int, taken: np.ndarray,
                     max_similarity: float) -> np.ndarray:
    """Positions in ``ranked`` of up to ``k`` rows taken in order, skipping any whose cosine
    to a row already chosen (or in ``taken``) is >= ``max_similarity``; if too few pass, the
    skipped ones fill up in rank order. Cost: len(ranked) x (k + len(taken)) dot products."""
    V = np.asarray(X[ranked], dtype=np.float32)
    best = np.full(len(ranked), -np.inf, np.float32)
    for lo in range(0, taken.size, 4096):
        best = np.maximum(best, (V @ np.asarray(X[taken[lo:lo + 4096]], np.float32).T).max(axis=1))
    chosen, skipped = [], []
    for j in range(len(ranked)):
        if len(chosen) >= k:
            break
        if best[j] >= max_similarity:
            skipped.append(j)
            continue
        chosen.append(j)
        np.maximum(best, V @ V[j], out=best)
    return np.asarray(chosen + skipped[:k - len(chosen)], np.int64)


def rank_in_group(sorted_groups: np.ndarray) -> np.ndarray:
    """For group labels already sorted (equal ones adjacent), each entry's position inside
    its run: 0 for a group's first entry, 1 for its second, ..."""
    g = np.asarray(sorted_groups)
    if g.size == 0:
        return np.empty(0, np.int64)
    start = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    return np.arange(g.size) - np.repeat(start, np.diff(np.r_[start, g.size]))


def cluster_round_robin(groups: np.ndarray) -> np.ndarray:
    """Positions of ``groups`` (rows already in priority order) reordered round-robin: each
    group's first row in priority order, then each group's second, and so on. Group -1
    (noise) rows are each a group of their own."""
    g = np.asarray(groups, np.int64)
    order = np.argsort(g, kind="stable")  # by group; priority order kept inside a group
    rank = np.empty(g.size, np.int64)
    rank[order] = rank_in_group(g[order])
    rank[g < 0] = 0
    return np.lexsort((np.arange(g.size), rank))


class Uncertainty:
    """Most uncertain rows under the calibrated model: ``margin`` (1 - (p1 - p2), the default:
    benchmarks/al_simulation.py measured it 2-3 points of test accuracy above entropy at
    500-800 labels on Fashion-MNIST), ``entropy`` (normalised by log C) or ``mix`` (their
    mean). Only the top ``pool_factor`` x B rows by score are considered.

    ``spread`` (with clusters): those rows are taken round-robin over the visual modes, the
    most uncertain row of each cluster first, most uncertain cluster first (Cluster-Margin,
    Citovsky et al. 2021), so a batch does not spend its uncertainty share on one confusing
    region. Fashion-MNIST, default recipe, 20 seeds: labels to 95% of the full-pool accuracy
    287 -> 273, +0.18 points at 290 labels (docs/benchmarks/learning-loop.md).
    Diversity guard: in that order, rows near-identical to one already in the batch (cosine
    >= ``max_similarity``) are skipped."""

    name = "uncertainty"

    def __init__(self, measure: str = "margin", pool_factor: int = 5, max_similarity: float = 0.95,
                 spread: bool = True):
        if measure not in ("entropy", "margin", "mix"):
            raise ValueError(f"measure must be entropy, margin or mix, not {measure!r}")
        self.measure, self.pool_factor, self.max_similarity = measure, pool_factor, max_similarity
        self.spread = spread

    def scores(self, ctx: SelectionContext, rows: np.ndarray) -> np.ndarray:
        """Uncertainty score in [0, 1] of ``rows`` (higher = more uncertain)."""
        P = np.asarray(ctx.probs[rows], dtype=np.float32)
        ent, mar = entropy_margin(P)
        ent_n = ent / np.float32(math.log(P.shape[1])) if P.shape[1] > 1 else np.zeros_like(ent)
        mar_s = 1 - mar
        return {"entropy": ent_n, "margin": mar_s, "mix": (ent_n + mar_s) / 2}[self.measure]

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks:
        cands, taken, B = _prepare(candidates, taken, batch_size)
        if ctx.probs is None or B == 0:
            return Picks.empty()
        s = self.scores(ctx, cands).astype(np.float64)
        pool = np.lexsort((cands, -s))[: max(B, self.pool_factor * B)]
        if self.spread and ctx.clusters is not None:
            pool = pool[cluster_round_robin(np.asarray(ctx.clusters)[cands[pool]])]
        pos = pool[similarity_guard(ctx.X, cands[pool], B, taken, self.max_similarity)]
        return _picks(cands[pos], s[pos], self.measure)


class Diversity:
    """Greedy k-center (farthest-first) in embedding space, seeded with every seen row
    (labeled or marked) plus ``taken``. Cold start (nothing seen or taken): starts from the
    most typical candidate, or a seeded random one. Score: distance to the seeds at pick time.

    Outlier guard: farthest-first loves outliers (blurred, cut-off, odd crops), which teach a
    classifier little. With typicality known and plenty of candidates, candidates below the
    ``min_typicality`` quantile are left out (benchmarks/al_simulation.py: +4 points of test
    accuracy at 100 labels, +1 at 400, on Fashion-MNIST). 0 disables it.

    With a model, k-center covers only the ``uncertain_share`` most uncertain candidates
    (margin): spread across the regions the model is unsure about rather than across
    regions it already gets right (same benchmark: the more uncertain half gave +1-2 points
    from 300 labels on with a head trained on labels only; with the semi-supervised head,
    whose spread labels already cover the confident regions, the most uncertain quarter
    gave +0.5 points at 200 and 400 labels, 3 seeds; 1.0 disables it)."""

    name = "diversity"

    def __init__(self, reduce: str = "auto", cancel: Any = None, min_typicality: float = 0.3,
                 uncertain_share: float = 0.25):
        self.reduce, self.cancel = reduce, cancel
        self.min_typicality, self.uncertain_share = min_typicality, uncertain_share

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks:
        cands, taken, B = _prepare(candidates, taken, batch_size)
        if self.min_typicality > 0 and ctx.typicality is not None and cands.size > 4 * B:
            t = np.nan_to_num(np.asarray(ctx.typicality[cands], np.float64), nan=-np.inf)
            cands = cands[t >= np.quantile(t, self.min_typicality)]
        if self.uncertain_share < 1 and ctx.probs is not None and cands.size > 4 * B:
            u = Uncertainty(measure="margin").scores(ctx, cands)
            cands = cands[u >= np.quantile(u, 1 - self.uncertain_share)]
        if B == 0:
            return Picks.empty()
        seeds = np.union1d(np.flatnonzero(ctx.seen_mask), taken)
        first, head = np.empty(0, np.int64), []
        if seeds.size == 0:
            if ctx.typicality is not None:
                t = np.nan_to_num(np.asarray(ctx.typicality[cands], np.float64), nan=-np.inf)
                first, head = cands[[int(np.argmax(t))]], ["cold start: most typical"]
            else:
                first, head = ctx.rng(31).choice(cands, 1), ["cold start: random"]
            seeds, cands = first, cands[cands != first[0]]
        rows, dist = kcenter_greedy(ctx.X, seeds, B - first.size, cands, reduce=self.reduce,
                                    random_state=ctx.seed, cancel=self.cancel)
        scores = np.concatenate([np.full(first.size, MAX_DISTANCE), dist])
        return _picks(np.concatenate([first, rows]), scores, head + ["k-center"] * rows.size)


class Representativeness:
    """Typical members of dense, little-covered clusters. Cluster value = size x (1 - coverage)
    (coverage: seen or taken fraction); picks are allotted to clusters by the D'Hondt rule
    (priority value / (rank + 1)), so any prefix is proportional and round-robins across the
    best clusters; inside a cluster the most typical first (seeded random without typicality).
    Without clusters: highest typicality with the similarity guard; without either: nothing."""

    name = "representativeness"

    def __init__(self, pool_factor: int = 5, max_similarity: float = 0.95):
        self.pool_factor, self.max_similarity = pool_factor, max_similarity

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks:
        cands, taken, B = _prepare(candidates, taken, batch_size)
        if B == 0 or (ctx.clusters is None and ctx.typicality is None):
            return Picks.empty()
        if ctx.typicality is not None:
            typ = np.nan_to_num(np.asarray(ctx.typicality[cands], np.float64), nan=-np.inf)
        else:
            typ = ctx.rng(41).random(cands.size)
        if ctx.clusters is None:
            pool = np.lexsort((cands, -typ))[: max(B, self.pool_factor * B)]
            pos = pool[similarity_guard(ctx.X, cands[pool], B, taken, self.max_similarity)]
            return _picks(cands[pos], typ[pos], "typical")
        clusters = np.asarray(ctx.clusters, np.int64)
        cl = clusters[cands]
        keep = cl >= 0
        cands, cl, typ = cands[keep], cl[keep], typ[keep]
        if cands.size == 0:
            return Picks.empty()
        K = int(clusters.max()) + 1
        size = np.bincount(clusters[clusters >= 0], minlength=K).astype(np.float64)
        seen = ctx.seen_mask.copy()
        seen[taken] = True
        covered = np.bincount(clusters[seen & (clusters >= 0)], minlength=K)
        value = size - covered  # = size * (1 - coverage)
        order = np.lexsort((cands, -typ, cl))
        rank = rank_in_group(cl[order])
        prio = np.empty(cands.size)
        prio[order] = value[cl[order]] / (rank + 1)
        pos = np.lexsort((cands, -prio))[:B]
        det = [f"dense cluster {c}" for c in cl[pos]]
        return _picks(cands[pos], prio[pos] / max(value.max(), 1.0), det)


def _interleave(lists: list[list[tuple]], shares: list[float], k: int) -> list[tuple]:
    """Merge lists so every prefix keeps the shares (largest deficit first, in list order)."""
    out, used = [], [0] * len(lists)
    while len(out) < k:
        live = [i for i in range(len(lists)) if used[i] < len(lists[i])]
        if not live:
            break
        i = max(live, key=lambda j: (shares[j] * (len(out) + 1) - used[j], -j))
        out.append(lists[i][used[i]])
        used[i] += 1
    return out


class Audit:
    """A check on the model and the labels: seeded random unlabeled rows (``random_share``),
    label-error suspects (``suspect_share``: labeled rows in ``ctx.suspect_mask``, most
    suspect first - these are *labeled* rows for a human to re-check, so audit picks may lie
    outside ``candidates``) and rows from clusters where labels and predictions disagree most
    (the rest). A part with nothing to offer leaves its share to the others."""

    name = "audit"

    def __init__(self, random_share: float = 0.4, suspect_share: float = 0.3):
        self.random_share, self.suspect_share = random_share, suspect_share

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks:
        cands, taken, _ = _prepare(candidates, taken, batch_size)
        sus: list[tuple] = []
        if ctx.suspect_mask is not None and self.suspect_share > 0:
            rows = np.flatnonzero(np.asarray(ctx.suspect_mask, bool))
            rows = rows[~np.isin(rows, taken)]
            s = (np.zeros(rows.size) if ctx.suspects is None
                 else np.nan_to_num(np.asarray(ctx.suspects[rows], np.float64)))
            sus = [(rows[i], s[i], "suspect label") for i in np.lexsort((rows, -s))]
        dis: list[tuple] = []
        dis_share = max(0.0, 1 - self.random_share - self.suspect_share)
        if ctx.clusters is not None and ctx.cluster_disagreement is not None and dis_share > 0:
            rate = np.nan_to_num(ctx.cluster_disagreement, nan=0.0)
            cl = np.asarray(ctx.clusters, np.int64)[cands]
            ok = (cl >= 0) & (cl < rate.size)
            ok[ok] &= rate[cl[ok]] > 0
            rows, cl = cands[ok], cl[ok]
            rnd = ctx.rng(53).random(rows.size)
            order = np.lexsort((rnd, cl))
            rank = rank_in_group(cl[order])
            prio = np.empty(rows.size)
            prio[order] = rate[cl[order]] / (rank + 1)
            pos = np.lexsort((rows, -prio))[: max(batch_size, 0)]
            dis = [(rows[p], rate[cl[p]], f"disagreement cluster {cl[p]}") for p in pos]
        rnd_rows = ctx.rng(59).permutation(cands)[: max(batch_size, 0)]
        shares = [self.suspect_share, dis_share, self.random_share]
        merged, seen = [], set()
        for r, v, d in _interleave([sus, dis, [(r, 0.0, "random audit") for r in rnd_rows]],
                                   shares, 3 * max(batch_size, 0)):
            if r not in seen:
                seen.add(r)
                merged.append((r, v, d))
            if len(merged) >= batch_size:
                break
        if not merged:
            return Picks.empty()
        rows, vals, det = zip(*merged, strict=True)
        return _picks(np.array(rows), np.array(vals, np.float64), list(det))


class RandomStrategy:
    """Seeded uniform random candidates: the baseline every other strategy must beat."""

    name = "random"

    def query(self, ctx: SelectionContext, candidates: np.ndarray, batch_size: int,
              taken: np.ndarray | None = None) -> Picks:
        cands, _, B = _prepare(candidates, taken, batch_size)
        return _picks(ctx.rng(61).permutation(cands)[:B], np.zeros(B), "random")


STRATEGIES: dict[str, type] = {cls.name: cls for cls in
                               (Uncertainty, Diversity, Representativeness, Audit, RandomStrategy)}
