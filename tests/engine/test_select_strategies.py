"""Selection strategies: one template test every strategy passes, then specific behaviour."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from classkit.engine.select import STRATEGIES, SelectionContext
from classkit.engine.select.strategies import Audit, Diversity, Representativeness, Uncertainty


def make_ctx(n: int = 1200, d: int = 24, k: int = 12, C: int = 4, seed: int = 0,
             with_model: bool = True) -> SelectionContext:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(np.float32)
    clusters = rng.integers(0, k, n)
    X = centres[clusters] + 0.4 * rng.standard_normal((n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.full(n, -1)
    lab = rng.choice(n, 60, replace=False)
    y[lab] = rng.integers(0, C, 60)
    y[lab[:5]] = -2
    probs = rng.dirichlet(np.ones(C), n).astype(np.float32) if with_model else None
    suspect = np.zeros(n, bool)
    suspect[lab[5:12]] = True
    return SelectionContext(X=X, y=y, probs=probs, clusters=clusters, typicality=rng.random(n),
                            dup_group=np.full(n, -1), suspects=np.where(suspect, rng.random(n), np.nan),
                            suspect_mask=suspect, cluster_disagreement=rng.random(k), seed=seed)


def allowed_rows(name: str, ctx: SelectionContext, cands: np.ndarray) -> set:
    extra = set(np.flatnonzero(ctx.suspect_mask)) if name == "audit" else set()
    return set(cands.tolist()) | extra  # audit may return labeled suspects for re-checking


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_template(name: str) -> None:
    ctx = make_ctx()
    strat = STRATEGIES[name]()
    cands = ctx.unlabeled()[::2]
    taken = cands[:15]
    p = strat.query(ctx, cands, 40, taken=taken)
    assert p.rows.dtype == np.int64 and p.scores.dtype == np.float64
    assert 0 < len(p) <= 40 and len(p.rows) == len(p.scores) == len(p.detail)
    assert len(set(p.rows.tolist())) == len(p)
    assert set(p.rows.tolist()) <= allowed_rows(name, ctx, cands)
    assert not set(p.rows.tolist()) & set(taken.tolist())
    assert np.all(np.isfinite(p.scores))
    again = STRATEGIES[name]().query(ctx, cands, 40, taken=taken)
    np.testing.assert_array_equal(p.rows, again.rows)
    # more requested than there are candidates
    few = cands[20:30]
    p = strat.query(ctx, few, 50)
    assert set(p.rows.tolist()) <= allowed_rows(name, ctx, few) and len(set(p.rows.tolist())) == len(p)
    if name != "audit":
        assert len(p) == (0 if name == "uncertainty" and ctx.probs is None else 10)
    # no candidates
    p = strat.query(ctx, np.empty(0, np.int64), 10)
    assert set(p.rows.tolist()) <= allowed_rows(name, ctx, np.empty(0, np.int64))
    # no model yet: must not fail (uncertainty returns nothing so the recipe can fall back)
    cold = make_ctx(with_model=False)
    p = strat.query(cold, cold.unlabeled(), 20)
    assert len(p) == (0 if name == "uncertainty" else 20)
    assert np.all(np.isfinite(p.scores))


def test_uncertainty_prefers_high_entropy() -> None:
    ctx = make_ctx()
    hot = ctx.unlabeled()[:10]
    ctx.probs[ctx.unlabeled()] = [0.97, 0.01, 0.01, 0.01]
    ctx.probs[hot] = 0.25
    for measure in ("entropy", "margin", "mix"):
        p = Uncertainty(measure, spread=False).query(ctx, ctx.unlabeled(), 10)
        assert set(p.rows.tolist()) == set(hot.tolist())
        assert p.scores.min() > 0.9


def test_uncertainty_spreads_over_clusters() -> None:
    """The most uncertain row of each cluster first, most uncertain cluster first: a batch does
    not spend its uncertainty share on one confusing region."""
    ctx = make_ctx()
    u = ctx.unlabeled()
    ctx.probs[u] = [0.97, 0.01, 0.01, 0.01]
    c0 = u[ctx.clusters[u] == 0][:8]  # the 8 most uncertain rows, all in cluster 0
    ctx.probs[c0] = 0.25
    others = np.array([u[ctx.clusters[u] == c][0] for c in range(1, 5)])  # a bit less uncertain
    ctx.probs[others] = [0.4, 0.3, 0.2, 0.1]
    p = Uncertainty().query(ctx, u, 5)
    assert p.rows[0] == c0[0] and set(p.rows[1:].tolist()) == set(others.tolist())
    assert set(Uncertainty(spread=False).query(ctx, u, 5).rows.tolist()) <= set(c0.tolist())
    assert set(Uncertainty().query(dataclasses.replace(ctx, clusters=None), u, 5).rows.tolist()) \
        <= set(c0.tolist())  # no clusters: plain top scores


def test_cluster_round_robin_order() -> None:
    from classkit.engine.select.strategies import cluster_round_robin

    groups = np.array([3, 3, 1, -1, 3, 1, -1, 2])  # rows in priority order
    assert cluster_round_robin(groups).tolist() == [0, 2, 3, 6, 7, 1, 5, 4]
    assert cluster_round_robin(np.empty(0, np.int64)).tolist() == []


def test_uncertainty_guard_skips_near_identical() -> None:
    ctx = make_ctx()
    u = ctx.unlabeled()
    ctx.probs[u] = [0.97, 0.01, 0.01, 0.01]
    ctx.probs[u[:6]] = 0.25
    ctx.X[u[1:6]] = ctx.X[u[0]]  # five copies of the most uncertain row
    ctx.probs[u[6:12]] = [0.4, 0.3, 0.2, 0.1]
    p = Uncertainty().query(ctx, u, 6)
    assert len(set(p.rows.tolist()) & set(u[:6].tolist())) == 1


def test_diversity_cold_start_uses_most_typical() -> None:
    ctx = make_ctx(with_model=False)
    ctx.y[:] = -1
    p = Diversity().query(ctx, ctx.unlabeled(), 12)
    assert p.rows[0] == int(np.argmax(ctx.typicality)) and p.detail[0].startswith("cold start")
    assert len(set(ctx.clusters[p.rows].tolist())) >= 10  # spread over the blobs


def test_diversity_leaves_out_outliers() -> None:
    ctx = make_ctx(with_model=False)
    rng = np.random.default_rng(5)
    out = rng.choice(ctx.unlabeled(), 40, replace=False)  # far-flung rows, marked atypical
    X = ctx.X.copy()
    X[out] = rng.standard_normal((40, X.shape[1])).astype(np.float32) * 5
    X[out] /= np.linalg.norm(X[out], axis=1, keepdims=True)
    typ = np.asarray(ctx.typicality).copy()
    typ[out] = -1.0
    ctx.X, ctx.typicality = X, typ
    guarded = Diversity().query(ctx, ctx.unlabeled(), 30)
    assert not set(guarded.rows.tolist()) & set(out.tolist())
    plain = Diversity(min_typicality=0).query(ctx, ctx.unlabeled(), 30)
    assert len(set(plain.rows.tolist()) & set(out.tolist())) >= 10  # what the guard prevents


def test_diversity_with_a_model_covers_the_uncertain_half() -> None:
    ctx = make_ctx()
    cands = ctx.unlabeled()
    u = Uncertainty(measure="margin").scores(ctx, cands)
    sure = set(cands[u < np.quantile(u, 0.5)].tolist())
    p = Diversity(min_typicality=0).query(ctx, cands, 40)
    assert len(p.rows) == 40 and not set(p.rows.tolist()) & sure
    everywhere = Diversity(min_typicality=0, uncertain_share=1.0).query(ctx, cands, 40)
    assert set(everywhere.rows.tolist()) & sure


def test_representativeness_prefers_uncovered_dense_clusters() -> None:
    ctx = make_ctx()
    ctx.y[:] = -1
    ctx.clusters[:] = np.arange(ctx.n) % 4
    ctx.clusters[:40] = 7  # small cluster
    ctx.y[ctx.clusters == 0] = 1  # cluster 0 fully labeled
    ctx.y[np.flatnonzero(ctx.clusters == 1)[:200]] = 2  # cluster 1 mostly labeled
    p = Representativeness().query(ctx, ctx.unlabeled(), 6)
    cl = ctx.clusters[p.rows].tolist()
    assert cl[:2] in ([2, 3], [3, 2]) and 0 not in cl and cl.count(7) <= 1
    first = p.rows[ctx.clusters[p.rows] == 2][0]
    members = ctx.unlabeled()[ctx.clusters[ctx.unlabeled()] == 2]
    assert first == members[np.argmax(ctx.typicality[members])]


def test_audit_mixes_suspects_disagreement_and_random() -> None:
    ctx = make_ctx()
    p = Audit().query(ctx, ctx.unlabeled(), 20)
    kinds = [d.split(" ")[0] for d in p.detail]
    assert kinds.count("suspect") == 6 and kinds.count("random") == 8 and kinds.count("disagreement") == 6
    sus = p.rows[[d == "suspect label" for d in p.detail]]
    assert ctx.suspect_mask[sus].all()
    best = np.flatnonzero(ctx.suspect_mask)[np.argmax(np.nan_to_num(ctx.suspects[ctx.suspect_mask]))]
    assert sus[0] == best
    p = Audit(random_share=1.0, suspect_share=0.0).query(ctx, ctx.unlabeled(), 10)
    assert set(p.detail) == {"random audit"}
