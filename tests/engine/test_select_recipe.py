"""Batch recipe: composition, hard constraints, cold start and reproducibility."""
from __future__ import annotations

import math

import numpy as np
import pytest

from classkit.engine.select import DEFAULT_WEIGHTS, SelectionContext, select_batch
from classkit.engine.select.recipe import quotas


def make_ctx(n: int = 3000, d: int = 32, k: int = 30, C: int = 5, seed: int = 0,
             with_model: bool = True) -> SelectionContext:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(np.float32)
    clusters = rng.integers(0, k, n)
    X = centres[clusters] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.full(n, -1)
    lab = rng.choice(n, 150, replace=False)
    y[lab] = rng.integers(0, C, 150)
    y[lab[:10]] = -2
    probs = None
    if with_model:
        logits = rng.normal(0, 1, (n, C))
        logits[:, 0] += 2.0  # class 0 dominates the predictions; class 4 is rare
        logits[:, 4] -= 0.5
        probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    dup = np.full(n, -1)
    dup[100:110] = 1  # a group of ten near-duplicates
    dup[200:203] = 2
    y[201] = 3  # ... this group holds a labeled row
    y[200] = y[202] = -1
    suspect = np.zeros(n, bool)
    suspect[lab[10:20]] = True
    return SelectionContext(X=X, y=y, probs=probs, clusters=clusters, typicality=rng.random(n),
                            dup_group=dup, suspects=np.where(suspect, rng.random(n), 0.0),
                            suspect_mask=suspect, cluster_disagreement=rng.random(k), seed=seed)


def test_quotas_largest_remainder() -> None:
    q = quotas(DEFAULT_WEIGHTS, 101)
    assert sum(q.values()) == 101 and q == {"uncertainty": 41, "diversity": 35,
                                             "representativeness": 15, "audit": 10}
    assert quotas({"diversity": 1.0}, 0) == {"diversity": 0}


def test_batch_composition_and_constraints() -> None:
    ctx = make_ctx()
    exclude = ctx.unlabeled()[:300]
    r = select_batch(ctx, 200, exclude=exclude)
    c = r.composition
    assert len(r.rows) == 200 == sum(c["by_reason"].values()) and c["shortfall"] == 0
    assert len(r.reasons) == len(r.details) == len(r.scores) == 200
    assert len(set(r.rows.tolist())) == 200 and not set(r.rows.tolist()) & set(exclude.tolist())
    assert not c["cold_start"] and set(c["by_reason"]) == set(DEFAULT_WEIGHTS)
    assert c["by_reason"]["audit"] == 20
    assert max(c["by_cluster"].values()) <= c["cap_per_cluster"] == max(2, math.ceil(200 / 20), 14)
    assert sum(ctx.dup_group[r.rows] == 1) <= 1 and not (ctx.dup_group[r.rows] == 2).any()
    unlabeled = ctx.y[r.rows] == -1
    assert ctx.suspect_mask[r.rows[~unlabeled]].all()  # labeled picks are audit suspects
    assert np.all(np.isfinite(r.scores))


def test_cluster_cap_is_settable() -> None:
    ctx = make_ctx()
    r = select_batch(ctx, 120, cap_per_cluster=3)
    assert max(r.composition["by_cluster"].values()) <= 3 and len(r.rows) == 90  # 30 clusters x 3
    assert r.composition["shortfall"] == 30
    r = select_batch(ctx, 120, cap_per_cluster=0)
    assert len(r.rows) == 120


def test_min_per_predicted_class() -> None:
    ctx = make_ctx()
    base = select_batch(ctx, 200, min_per_class=0)
    assert np.bincount(np.argmax(ctx.probs[base.rows], axis=1), minlength=5).min() < 20
    r = select_batch(ctx, 200, min_per_class=20)
    assert r.composition["class_swaps"] > 0
    pred = np.argmax(ctx.probs[r.rows], axis=1)
    assert np.bincount(pred, minlength=5).min() >= 20 and len(r.rows) == 200
    assert len(set(r.rows.tolist())) == 200 and r.composition["shortfall"] == 0
    assert max(r.composition["by_cluster"].values()) <= r.composition["cap_per_cluster"]
    assert not (ctx.dup_group[r.rows] == 2).any() and (ctx.dup_group[r.rows] == 1).sum() <= 1


def test_cold_start_falls_back() -> None:
    ctx = make_ctx(with_model=False)
    r = select_batch(ctx, 100)
    c = r.composition
    assert c["cold_start"] and "uncertainty" not in c["by_reason"] and len(r.rows) == 100
    assert c["weights_used"]["diversity"] == pytest.approx(2 / 3, abs=1e-3)
    assert c["weights_used"]["representativeness"] == pytest.approx(0.7 / 3, abs=1e-3)
    assert c["by_reason"] == {"audit": 10, "representativeness": 23, "diversity": 67}
    audit = [d for d, reason in zip(r.details, r.reasons, strict=True) if reason == "audit"]
    assert audit and set(audit) == {"random audit"}
    # one class labeled only: also cold start, even with a model
    ctx = make_ctx()
    ctx.y[ctx.y >= 0] = 2
    assert select_batch(ctx, 50).composition["cold_start"]


def test_deterministic_and_seed_dependent() -> None:
    a = select_batch(make_ctx(), 150)
    b = select_batch(make_ctx(), 150)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.reasons == b.reasons and a.details == b.details
    c = select_batch(make_ctx(seed=0), 150, weights={"audit": 1.0})
    ctx = make_ctx(seed=0)
    ctx.seed = 9
    assert not np.array_equal(c.rows, select_batch(ctx, 150, weights={"audit": 1.0}).rows)


def test_shortfall_when_candidates_run_out_and_unknown_weight() -> None:
    ctx = make_ctx(n=300, k=5)
    ctx.y[:280] = 0
    ctx.y[:10] = 1
    r = select_batch(ctx, 50, cap_per_cluster=0)
    assert r.composition["shortfall"] == 50 - len(r.rows) > 0
    assert set(ctx.unlabeled()) - {200, 202} <= set(r.rows.tolist())  # 200, 202: dup of labeled
    with pytest.raises(ValueError):
        select_batch(ctx, 5, weights={"magic": 1.0})


def test_look_alike_regions_replace_groups_for_what_labels_cover() -> None:
    ctx = make_ctx()
    region = np.full(ctx.n, -1)
    lab = np.flatnonzero(ctx.y >= 0)[0]
    cands = ctx.unlabeled()
    region[cands[:40]] = 7  # a region holding a labeled row: nothing of it is picked
    region[lab] = 7
    region[cands[40:400]] = 8  # a large region without labels: one pick at most
    ctx.region = region
    assert ctx.covered_by is region
    r = select_batch(ctx, 200)
    assert len(r.rows) == 200 and r.composition["shortfall"] == 0
    picked = r.rows[ctx.y[r.rows] == -1]
    assert not (region[picked] == 7).any() and (region[picked] == 8).sum() == 1
    # the near-duplicate group holding a labeled row no longer rules (the region does)
    ctx.dup_group[cands[40:400]] = 2
    rows = select_batch(ctx, 200).rows
    assert rows.size == 200 and (ctx.dup_group[rows] == 2).sum() == 1
    ctx.region = None
    assert ctx.covered_by is ctx.dup_group and not (ctx.dup_group[select_batch(ctx, 200).rows] == 2).any()
