"""Near-duplicate groups: real images (shipped with scikit-image) plus resized and
re-encoded copies, embedded with a fixed random projection of 16x16 grey thumbnails."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classkit.engine.errors import ClassKitError
from classkit.engine.similarity.dedup import (group_sizes, list_groups, look_alike_regions,
                                              near_duplicate_groups, split_keys)
from classkit.engine.similarity.graph import KnnGraph, knn_graph

skimage = pytest.importorskip("skimage")

PHOTOS = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
          "chessboard_GRAY.png", "clock_motion.png", "coffee.png", "coins.png", "color.png",
          "grass.png", "gravel.png", "horse.png", "hubble_deep_field.jpg", "ihc.png", "logo.png",
          "microaneurysms.png", "moon.png", "motorcycle_left.png", "page.png", "phantom.png",
          "retina.jpg", "rocket.jpg", "text.png"]
PROJECTION = np.random.default_rng(0).standard_normal((256, 128))


def originals() -> list[Image.Image]:
    """The photos plus the four quadrants of each large one: 84 distinct images."""
    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in PHOTOS:
        im = Image.open(folder / name).convert("RGB")
        out.append(im)
        w, h = im.size
        if min(w, h) >= 400:
            out += [im.crop((x, y, x + w // 2, y + h // 2))
                    for x, y in [(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)]]
    return out


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def copies(im: Image.Image) -> list[Image.Image]:
    """A half-size resize, a JPEG re-encode, and a 3/4 resize re-encoded."""
    w, h = im.size
    return [im.resize((w // 2, h // 2), Image.LANCZOS), jpeg(im, 60),
            jpeg(im.resize((w * 3 // 4, h * 3 // 4), Image.BILINEAR), 80)]


def feature(im: Image.Image) -> np.ndarray:
    """Mean-centred 16x16 grey thumbnail, fixed random projection to 128-d, unit norm."""
    g = np.asarray(im.convert("L").resize((16, 16), Image.BOX), np.float64).ravel()
    v = (g - g.mean()) @ PROJECTION
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_groups_catch_resized_and_reencoded_copies() -> None:
    images, source = [], []
    for i, im in enumerate(originals()):
        images.append(im)
        source.append(i)
        if i % 2 == 0:  # every other original gets copies; the rest stay alone
            images += copies(im)
            source += [i] * 3
    many = originals()[7]  # an image with 10 re-encodes: more copies than the graph's k
    images += [jpeg(many, q) for q in range(50, 96, 5)]
    source += [7] * 10
    X = np.stack([feature(im) for im in images])
    source = np.array(source)
    graph = knn_graph(X, k=5)
    # The toy feature tops out at ~0.98 for the worst copy (a 102 px image halved) and
    # ~0.74 for distinct images; a real embedder is sharper, hence the default 0.97.
    groups = near_duplicate_groups(graph, threshold=0.95)
    for src in np.unique(source):
        members = np.flatnonzero(source == src)
        if members.size == 1:
            assert groups[members[0]] == -1, f"original {src} wrongly grouped"
        else:
            assert groups[members[0]] >= 0 and np.all(groups[members] == groups[members[0]])
            assert np.array_equal(np.flatnonzero(groups == groups[members[0]]), members)
    assert len(list_groups(groups)) == len(set(source[groups >= 0]))
    assert list_groups(groups)[0].size == 11  # image 7 and its 10 re-encodes


def graph_of(rows: list[list[int]], sims: list[list[float]]) -> KnnGraph:
    r = np.array(rows, np.int32)
    return KnnGraph(r, np.array(sims, np.float32), np.arange(r.shape[0], dtype=np.int64))


def test_group_numbering_and_helpers() -> None:
    # rows 0-1 near-copies, 2-3-4 a chain through one-sided links, 5 alone
    g = graph_of([[1, 5], [0, 2], [3, 0], [4, 2], [3, 5], [4, 0]],
                 [[0.99, 0.5], [0.99, 0.6], [0.98, 0.1], [0.975, 0.98], [0.5, 0.2], [0.3, 0.1]])
    groups = near_duplicate_groups(g, threshold=0.97)
    np.testing.assert_array_equal(groups, [0, 0, 1, 1, 1, -1])
    assert [p.tolist() for p in list_groups(groups)] == [[2, 3, 4], [0, 1]]
    np.testing.assert_array_equal(group_sizes(groups), [2, 2, 3, 3, 3, 1])
    keys = split_keys(groups)
    assert keys[0] == keys[1] and keys[2] == keys[3] == keys[4]
    assert len(np.unique(keys)) == 3
    np.testing.assert_array_equal(near_duplicate_groups(g, threshold=0.999), np.full(6, -1))
    with pytest.raises(ClassKitError):
        near_duplicate_groups(g, threshold=1.5)
    assert list_groups(np.full(3, -1)) == []


def _chain(n: int, length: int = 120, sim: float = 0.975) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours (2 per row) of ``n`` rows whose first ``length`` form a chain, each row
    ``sim`` to the next: look-alikes, not copies. The other rows link to nothing yet."""
    rows = np.full((n, 2), -1, np.int32)
    sims = np.zeros((n, 2), np.float32)
    for i in range(length - 1):
        rows[i, 0], sims[i, 0] = i + 1, sim
        rows[i + 1, 1], sims[i + 1, 1] = i, sim
    return rows, sims


def test_chains_of_look_alikes_do_not_become_one_group() -> None:
    # rows 0-119: a chain at 0.975; rows 120-179: 60 copies of one frame, 0.9999 to each
    # other (a burst: one group)
    n = 180
    rows, sims = _chain(n)
    for i in range(120, 180):
        rows[i] = [120 + (i - 119) % 60, 120 + (i - 118) % 60]
        sims[i] = 0.9999
    g = KnnGraph(rows, sims, np.arange(n, dtype=np.int64))
    chained = near_duplicate_groups(g, threshold=0.97, max_group=n)  # no limit: one chain
    assert group_sizes(chained)[:120].tolist() == [120] * 120
    groups = near_duplicate_groups(g, threshold=0.97)
    assert (groups[:120] == -1).all()  # split again at 0.985: nothing that close
    assert group_sizes(groups)[120:].tolist() == [60] * 60  # copies stay together at any size
    # a component just under the limit is left as it is
    small = near_duplicate_groups(g, threshold=0.97, max_group=120)
    np.testing.assert_array_equal(small[:120], np.zeros(120))


def test_look_alike_regions_stay_inside_one_visual_mode() -> None:
    # a chain 0-119 at 0.975 (no group: test above) across three over-clusters of 40 rows,
    # rows 120-124 linked at 0.96 only, row 125 links at 0.99 to an unclustered row 126
    rows, sims = _chain(127)
    for i in range(120, 124):
        rows[i, 0], sims[i, 0] = i + 1, 0.96
    rows[125, 0], sims[125, 0] = 126, 0.99
    clusters = np.r_[np.repeat([0, 1, 2], 40), [3] * 6, -1]
    region = look_alike_regions(rows, sims, clusters, threshold=0.97)
    assert region.dtype == np.int64
    for c in range(3):  # one region per mode: the chain is cut where the mode changes
        assert np.unique(region[40 * c:40 * (c + 1)]).size == 1 and region[40 * c] >= 0
    assert np.unique(region[:120]).size == 3
    assert (region[120:] == -1).all()  # under the cosine, or linked to a row in no mode
    with pytest.raises(ClassKitError):
        look_alike_regions(rows, sims, clusters[:-1])
    with pytest.raises(ClassKitError):
        look_alike_regions(rows, sims, clusters, threshold=1.5)
