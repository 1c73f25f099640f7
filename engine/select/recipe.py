"""The batch recipe: split a labeling budget over strategies and enforce batch-wide constraints.

Decisions (documented defaults):

* Quotas come from the weights by largest remainder. Cold start (no model, or fewer than two
  classes labeled): uncertainty's share goes 19/24 to diversity and 5/24 to
  representativeness, so the default first batch is 2/3 k-center (with its outlier guard),
  7/30 typical members of dense clusters and 1/10 random audits. Measured on Fashion-MNIST
  (docs/benchmarks/learning-loop.md, Session 6; 20 seeds, half of them held out): +0.57
  points of test accuracy at 100 labels against the former 1/3 : 2/3 split, level from 200
  labels on. Audit keeps only its random part (no suspects, no disagreement clusters).
* Fixed order ``audit, representativeness, uncertainty, diversity``: audit first so its random
  part is not biased by the others, diversity last so its k-center is seeded with everything
  the others took and fills the gaps between them. A strategy that cannot fill its quota
  passes the shortfall to the next one (``composition["passed_on"]``).
* Hard constraints for the whole batch, applied by one accept loop every strategy goes
  through (candidates are pre-filtered, picks accepted greedily in rank order, and a strategy
  is asked again, up to 6 times, for what was rejected):
  - at most ``cap_per_cluster`` rows per cluster: None = max(2, ceil(B/20), ceil(2B/K)) with K
    the clusters that still have candidates (so the cap can always be met), 0 = no cap;
  - no candidate whose look-alike unit holds a seen (labeled or marked) row, and at most one
    row per unit in the batch; the unit is ``ctx.covered_by``: the look-alike region (near-
    duplicate links inside one visual mode, ``dedup.look_alike_regions``) where the caller
    gives one, as the project and the benchmark do, else the near-duplicate group;
  - ``exclude`` rows (e.g. already in an open batch) are never picked.
* ``min_per_class`` (with a model, not at cold start): every predicted class with candidates
  gets at least that many rows, default ceil(0.05 B / C); rarest predicted classes first, their
  most uncertain members (margin) swapped in for the last diversity / representativeness /
  uncertainty picks of classes above the minimum; at most ceil(B / 10) swaps.
* Reproducible: every random choice is drawn from ``ctx.seed``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..jobs import ProgressFn, no_progress
from .context import SelectionContext
from .strategies import STRATEGIES, Audit, Diversity, Uncertainty

DEFAULT_WEIGHTS = {"uncertainty": 0.40, "diversity": 0.35, "representativeness": 0.15, "audit": 0.10}
ORDER = ("audit", "representativeness", "uncertainty", "random", "diversity")
COLD_SPLIT = {"diversity": 19 / 24, "representativeness": 5 / 24}
SWAP_ORDER = ("diversity", "representativeness", "uncertainty")


@dataclass
class BatchResult:
    """Picked rows in order with the reason (strategy name), score and detail of each."""

    rows: np.ndarray
    reasons: list[str]
    scores: np.ndarray
    details: list[str]
    composition: dict = field(default_factory=dict)


def quotas(weights: dict[str, float], budget: int) -> dict[str, int]:
    """Split ``budget`` by ``weights`` with the largest-remainder method (ties: ORDER)."""
    w = {k: float(v) for k, v in weights.items() if v > 0}
    total = sum(w.values())
    if budget <= 0 or total <= 0:
        return {k: 0 for k in weights}
    raw = {k: budget * v / total for k, v in w.items()}
    out = {k: int(math.floor(v)) for k, v in raw.items()}
    rest = budget - sum(out.values())
    for k in sorted(raw, key=lambda k: (-(raw[k] - out[k]), ORDER.index(k)))[:rest]:
        out[k] += 1
    return {k: out.get(k, 0) for k in weights}


class _Batch:
    """The batch under construction and its constraints (cluster cap, one per look-alike unit)."""

    def __init__(self, ctx: SelectionContext, cap: int) -> None:
        self.ctx, self.cap = ctx, cap
        self.rows: list[int] = []
        self.reasons: list[str] = []
        self.scores: list[float] = []
        self.details: list[str] = []
        self.in_cluster: dict[int, int] = {}
        self.groups: set[int] = set()
        self.unit = ctx.covered_by

    def taken(self) -> np.ndarray:
        return np.asarray(self.rows, np.int64)

    def allowed(self, rows: np.ndarray) -> np.ndarray:
        """Which rows could still join the batch."""
        ok = ~np.isin(rows, self.taken())
        if self.cap and self.ctx.clusters is not None:
            full = [c for c, n in self.in_cluster.items() if n >= self.cap]
            ok &= ~np.isin(self.ctx.clusters[rows], full)
        if self.unit is not None and self.groups:
            ok &= ~np.isin(self.unit[rows], list(self.groups))
        return ok

    def add(self, row: int, reason: str, score: float, detail: str) -> bool:
        if not self.allowed(np.array([row]))[0]:
            return False
        self.rows.append(int(row))
        self.reasons.append(reason)
        self.scores.append(float(score))
        self.details.append(detail)
        if self.ctx.clusters is not None and self.ctx.clusters[row] >= 0:  # -1 (noise): no cap
            c = int(self.ctx.clusters[row])
            self.in_cluster[c] = self.in_cluster.get(c, 0) + 1
        if self.unit is not None and self.unit[row] >= 0:
            self.groups.add(int(self.unit[row]))
        return True

    def remove(self, pos: int) -> None:
        row = self.rows[pos]
        if self.ctx.clusters is not None and self.ctx.clusters[row] >= 0:
            self.in_cluster[int(self.ctx.clusters[row])] -= 1
        if self.unit is not None:
            self.groups.discard(int(self.unit[row]))
        for lst in (self.rows, self.reasons, self.scores, self.details):
            del lst[pos]


def _base_candidates(ctx: SelectionContext, exclude: np.ndarray) -> np.ndarray:
    cands = ctx.unlabeled()
    cands = cands[~np.isin(cands, exclude)]
    if ctx.covered_by is not None:
        g = np.asarray(ctx.covered_by)
        seen_groups = np.unique(g[ctx.seen_mask & (g >= 0)])
        cands = cands[~np.isin(g[cands], seen_groups)]
    return cands


def _default_cap(ctx: SelectionContext, cands: np.ndarray, budget: int) -> int:
    k = np.unique(ctx.clusters[cands]).size if cands.size else 1
    return max(2, math.ceil(budget / 20), math.ceil(2 * budget / max(k, 1)))


def _fill(batch: _Batch, strategy: Any, reason: str, need: int, cands: np.ndarray,
          ctx: SelectionContext) -> int:
    """Ask ``strategy`` for ``need`` rows, accept greedily; ask again (up to 6 times) for what
    the constraints rejected. Returns how many were accepted."""
    got = 0
    for _ in range(6):
        if got >= need:
            break
        pool = cands[batch.allowed(cands)]
        picks = strategy.query(ctx, pool, need - got, taken=batch.taken())
        before = got
        detail = picks.detail or [reason] * len(picks)
        for r, s, d in zip(picks.rows, picks.scores, detail, strict=True):
            if got < need and batch.add(int(r), reason, s, d):
                got += 1
        if got == before or len(picks) < need - before:
            break
    return got


def _class_minimum(batch: _Batch, ctx: SelectionContext, cands: np.ndarray, m: int,
                   budget: int) -> int:
    """Swap in the most uncertain members of under-represented predicted classes."""
    pred_c = ctx.predicted(cands)
    margin = Uncertainty("margin").scores(ctx, cands)
    counts = np.bincount(pred_c, minlength=ctx.n_classes)
    swaps, limit = 0, math.ceil(budget / 10)
    for c in np.lexsort((np.arange(counts.size), counts)):
        if counts[c] == 0:
            continue
        while swaps < limit:
            in_batch = ctx.predicted(batch.taken()) if batch.rows else np.empty(0, np.int64)
            have = np.bincount(in_batch, minlength=ctx.n_classes)
            if have[c] >= m:
                break
            victims = [i for reason in SWAP_ORDER for i in reversed(range(len(batch.rows)))
                       if batch.reasons[i] == reason and have[in_batch[i]] > m]
            mine = (pred_c == c) & batch.allowed(cands)
            if not mine.any() or (not victims and len(batch.rows) >= budget):
                break
            j = np.flatnonzero(mine)[np.lexsort((cands[mine], -margin[mine]))[0]]
            if len(batch.rows) >= budget:
                batch.remove(victims[0])
            batch.add(int(cands[j]), "uncertainty", float(margin[j]), f"min per class {c}")
            swaps += 1
    return swaps


def select_batch(ctx: SelectionContext, budget: int, weights: dict[str, float] | None = None,
                 cap_per_cluster: int | None = None, min_per_class: int | None = None,
                 exclude: np.ndarray | None = None, progress: ProgressFn = no_progress,
                 cancel: Any = None) -> BatchResult:
    """Pick ``budget`` rows for labeling: quotas per strategy under batch-wide constraints."""
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = set(weights) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategies in weights: {sorted(unknown)}")
    budget = max(int(budget), 0)
    cold = ctx.cold_start
    if cold:
        u = weights.pop("uncertainty", 0.0)
        for k, share in COLD_SPLIT.items():
            weights[k] = weights.get(k, 0.0) + u * share
    exclude = np.unique(np.asarray([] if exclude is None else exclude, np.int64))
    cands = _base_candidates(ctx, exclude)
    cap = 0
    if ctx.clusters is not None:
        cap = _default_cap(ctx, cands, budget) if cap_per_cluster is None else int(cap_per_cluster)
    quota = quotas(weights, budget)
    batch = _Batch(ctx, cap)
    sus = None if ctx.suspect_mask is None else np.asarray(ctx.suspect_mask, bool) & ~np.isin(
        np.arange(ctx.n), exclude)
    actx = dataclasses.replace(ctx, suspect_mask=None if cold else sus)
    make = {"audit": lambda: Audit(random_share=1.0, suspect_share=0.0) if cold else Audit(),
            "diversity": lambda: Diversity(cancel=cancel)}
    carry, passed_on, steps = 0, {}, [k for k in ORDER if k in quota]
    for done, reason in enumerate(steps):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(done, len(steps), reason)
        need = quota[reason] + carry
        got = _fill(batch, make.get(reason, STRATEGIES[reason])(), reason, need, cands,
                    actx if reason == "audit" else ctx) if need else 0
        carry = need - got
        if carry:
            passed_on[reason] = carry
    m, swaps = 0, 0
    if not cold and ctx.probs is not None and cands.size:
        C = max(ctx.n_classes, 1)
        m = math.ceil(0.05 * budget / C) if min_per_class is None else int(min_per_class)
        if m > 0:
            swaps = _class_minimum(batch, ctx, cands, m, budget)
    progress(len(steps), len(steps), "done")
    rows = batch.taken()
    comp = {"by_reason": {r: batch.reasons.count(r) for r in dict.fromkeys(batch.reasons)},
            "by_cluster": {}, "by_predicted": {}, "cold_start": cold, "requested": budget,
            "weights_used": {k: round(v / max(sum(weights.values()), 1e-12), 4)
                             for k, v in weights.items()},
            "quotas": quota, "passed_on": passed_on, "shortfall": budget - int(rows.size),
            "cap_per_cluster": cap, "min_per_class": m, "class_swaps": swaps}
    if ctx.clusters is not None and rows.size:
        u, n = np.unique(ctx.clusters[rows], return_counts=True)
        comp["by_cluster"] = {int(a): int(b) for a, b in zip(u, n, strict=True)}
    if ctx.probs is not None and rows.size:
        u, n = np.unique(ctx.predicted(rows), return_counts=True)
        comp["by_predicted"] = {int(a): int(b) for a, b in zip(u, n, strict=True)}
    return BatchResult(rows, batch.reasons, np.asarray(batch.scores, np.float64), batch.details, comp)
