"""Level of detail and colour modes of the map (pure numpy/numba)."""
from __future__ import annotations

import numpy as np
import pytest

from classkit.engine.mapview import colors, lod


def _points(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 2)).astype(np.float32)


def test_cull_is_stable_capped_and_counts_all():
    xy = _points(10_000)
    order = lod.shuffled_order(len(xy), seed=1)
    vis = np.ones(len(xy), bool)
    view = (0.25, 0.25, 0.75, 0.75)
    idx, total = lod.cull(xy, order, vis, view, cap=100)
    inside = ((xy >= 0.25) & (xy <= 0.75)).all(1)
    assert total == inside.sum() and len(idx) == 100 and inside[idx].all()
    again, _ = lod.cull(xy, order, vis, (0.2, 0.2, 0.8, 0.8), cap=100)
    assert np.intersect1d(idx, again).size > 50  # same shuffled order: mostly the same subset
    allidx, total2 = lod.cull(xy, order, vis, view, cap=10**6)
    assert set(allidx) == set(np.flatnonzero(inside)) and total2 == total


def test_cull_respects_visibility_and_subsample_is_fixed():
    xy = _points(1000)
    order = lod.shuffled_order(1000)
    vis = np.arange(1000) % 2 == 0
    idx, total = lod.cull(xy, order, vis, (0, 0, 1, 1), cap=10**6)
    assert total == 500 and vis[idx].all()
    sub = lod.subsample(order, vis, 50)
    assert len(sub) == 50 and vis[sub].all()
    assert np.array_equal(sub, lod.subsample(order, vis, 50))


def test_density_image_dominant_category_and_counts():
    xy = np.array([[0.1, 0.1]] * 5 + [[0.1, 0.1]] * 2 + [[0.9, 0.9]], np.float32)
    cats = np.array([0] * 5 + [1] * 2 + [1], np.int32)
    pal = np.array([[255, 0, 0, 255], [0, 0, 255, 255]], np.uint8)
    img, counts = lod.density_image(xy, np.ones(len(xy), bool), (0, 0, 1, 1), (4, 4), cats, pal)
    assert img.shape == (4, 4, 4) and counts.sum() == 8
    assert counts[0, 0] == 7 and counts[3, 3] == 1
    assert img[0, 0, 0] > 0 and img[0, 0, 2] == 0  # red dominates the first bin
    assert img[3, 3, 2] > 0 and img[3, 3, 0] == 0
    assert img[1, 1, 3] == 0 and img[0, 0, 3] > img[3, 3, 3]  # empty bins transparent


def test_density_image_mean_value():
    xy = np.array([[0.1, 0.1], [0.1, 0.1]], np.float32)
    lut = colors.heat_lut()
    img, _ = lod.density_image(xy, np.ones(2, bool), (0, 0, 1, 1), (2, 2), np.zeros(2, np.int32),
                               lut[:1], values=np.array([0.0, 1.0], np.float32), lut=lut)
    mid = lut[127]
    a = img[0, 0, 3] / 255
    assert np.allclose(img[0, 0, :3], mid[:3] * a, atol=3)


def test_plan_view_switches_to_density_when_over_cap():
    xy = _points(20_000)
    order = lod.shuffled_order(len(xy))
    vis = np.ones(len(xy), bool)
    cats = np.zeros(len(xy), np.int32)
    pal = colors.categorical_palette(1)
    p = lod.LodParams(point_cap=1000, sparse_max=1, bin_px=2)
    full = lod.plan_view(xy, order, vis, (0, 0, 1, 1), (200, 200), cats, pal, params=p)
    assert full.image is not None and full.image.shape == (100, 100, 4) and full.in_view == 20_000
    assert len(full.indices) <= 1000
    zoomed = lod.plan_view(xy, order, vis, (0.4, 0.4, 0.45, 0.45), (200, 200), cats, pal, params=p)
    assert zoomed.image is None and 0 < len(zoomed.indices) == zoomed.in_view <= 1000


def test_pack_vertices_layout():
    xy = _points(10)
    rgba = np.arange(40, dtype=np.uint8).reshape(10, 4)
    v = lod.pack_vertices(xy, rgba, np.array([3, 7]))
    assert v.dtype.itemsize == 12
    raw = v.view(np.uint8).reshape(2, 12)
    assert np.array_equal(raw[0, 8:], rgba[3]) and np.frombuffer(raw[1, :4].tobytes(), "<f4")[0] == xy[7, 0]


@pytest.mark.parametrize("mode", colors.MODES)
def test_colour_modes_legend_counts_and_hiding(mode):
    labels = np.array([0, 1, -1, -2, 0, -1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]], np.float32)
    clusters = np.array([0, 0, 1, 2, 2, -1])
    col = colors.build_coloring(mode, labels, ["cat", "dog"], probs, clusters)
    rgba = col.point_rgba()
    assert rgba.shape == (6, 4) and rgba.dtype == np.uint8
    legend = col.legend({0})
    assert sum(e["count"] for e in legend) == 6 and legend[0]["hidden"]
    assert all(e["color"].startswith("#") and len(e["color"]) == 7 for e in legend)
    shown = col.shown({0})
    assert not shown[col.categories == 0].any() and shown[col.categories != 0].all()


def test_colour_mode_specifics():
    labels = np.array([0, 1, -1, -2])
    c = colors.build_coloring(colors.LABEL, labels, ["cat", "dog"])
    assert [e["name"] for e in c.legend()] == ["cat", "dog", "unlabeled", "marked"]
    assert list(c.categories) == [0, 1, 2, 3]
    s = colors.build_coloring(colors.STATUS, labels, ["cat", "dog"])
    assert list(s.categories) == [1, 1, 0, 2]
    u = colors.build_coloring(colors.UNCERTAINTY, labels, ["cat", "dog"],
                              probs=np.array([[1, 0], [0.5, 0.5], [0.9, 0.1], [0.6, 0.4]], np.float32))
    assert u.continuous and np.allclose(u.values, [0, 0.5, 0.1, 0.4])
    none = colors.build_coloring(colors.PREDICTED, labels, ["cat", "dog"], probs=None)
    assert none.legend()[0]["name"] == "no predictions"
    with pytest.raises(ValueError):
        colors.build_coloring("bogus", labels, [])


def test_classes_are_drawn_in_their_own_colours():
    labels = np.array([0, 1, -1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32)
    for mode in (colors.LABEL, colors.PREDICTED):
        c = colors.build_coloring(mode, labels, ["cat", "dog"], probs, class_colors=["#102030", "bad"])
        legend = c.legend()
        assert legend[0]["color"] == "#102030"  # the project's colour
        assert legend[1]["color"] == colors.rgba_hex(colors.categorical_palette(2)[1])  # fallback


def test_splat_draws_round_points_and_rings():
    from classkit.engine.mapview.splat import splat
    img = np.zeros((10, 10, 4), np.uint8)
    splat(img, np.array([2.5]), np.array([3.5]), np.array([[255, 0, 0, 255]], np.uint8), 1)
    assert np.argwhere(img[..., 3] > 0).tolist() == [[3, 2]]      # one pixel, at (x=2, y=3)
    img = np.zeros((20, 20, 4), np.uint8)
    splat(img, np.array([10.0]), np.array([10.0]), np.array([[0, 0, 255, 255]], np.uint8), 9, ring=0.3)
    lit = img[..., 3] > 0
    assert 50 <= lit.sum() <= 81 and not lit[5, 5] and lit[10, 10]  # a disc, corners empty
    assert img[10, 10, 2] == 255 and (img[..., 0] == 255).sum() > 0  # blue centre, white ring


def test_front_rows_lead_the_order_and_are_drawn_last() -> None:
    from classkit.engine.mapview.colors import build_coloring
    from classkit.engine.mapview.layer import MapLayer

    order = lod.shuffled_order(50, seed=3)
    front = np.zeros(50, bool)
    front[[4, 17, 30]] = True
    new = lod.front_first(order, front)
    assert sorted(new.tolist()) == list(range(50))
    assert set(new[:3].tolist()) == {4, 17, 30}
    assert new[3:].tolist() == [i for i in order.tolist() if not front[i]]   # the rest keeps its order
    labels = np.where(front, 0, -1)
    coords = np.zeros((50, 2), np.float32)                                   # all on one spot
    layer = MapLayer(coords, build_coloring("label", labels, ["a"], None, None), np.ones(50, bool),
                     new, None)
    v = layer.vertices(layer.all_visible())
    unl_rgba = layer.rgba[np.flatnonzero(~front)[0]]
    assert (v["rgba"][-3:] == layer.rgba[new[:3]][::-1]).all()               # labeled painted last
    assert not (v["rgba"][-1] == unl_rgba).all()
