"""ExplorerModel on a small real project (demo shapes, real embeddings, a written map)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QSize

from classkit.app.map import thumbs_provider
from classkit.app.map.explorer_model import ExplorerModel
from classkit.engine.fsutil import write_json_atomic
from classkit.engine.labels.events import add_labels, label_arrays
from classkit.engine.project import Project
from classkit.engine.similarity.clusters import Clustering
from classkit.engine.similarity.project_layer import load_map
from tests.app.conftest import embedded_shapes


def _write_map(project: Project, ids: np.ndarray) -> None:
    version, folder = project.new_version_dir("map")
    rng = np.random.default_rng(0)
    np.save(folder / "ids.npy", ids)
    np.save(folder / "display.npy", rng.random((len(ids), 2)).astype(np.float32))
    np.save(folder / "coords.npy", rng.random((len(ids), 2)).astype(np.float32))
    project.register_artifact("map", version, {"count": len(ids)})


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proj = embedded_shapes(tmp_path_factory.mktemp("explorer"), per_class=8)
    return proj


@pytest.fixture
def model(qtbot) -> ExplorerModel:
    m = ExplorerModel()
    yield m
    m.waitForIdle()
    thumbs_provider.set_project(None)


def _open(qtbot, model: ExplorerModel, path: Path | str) -> None:
    model.openProject(str(path))
    qtbot.waitUntil(lambda: model.status not in ("loading",), timeout=30_000)


def test_no_project_and_no_map_are_honest(qtbot, model, shapes):
    assert model.status == "empty" and model.pointCount == 0 and model.legend == []
    _open(qtbot, model, shapes)
    assert model.status == "nomap" and "No map yet" in model.message
    _open(qtbot, model, shapes.parent / "missing")
    assert model.status == "error" and "Cannot load" in model.message
    Project.create(shapes.parent / "empty").close()  # a new project: say what comes first
    _open(qtbot, model, shapes.parent / "empty")
    assert model.status == "nomap" and model.message.startswith("No images yet: add a folder")


def test_map_legend_filters_selection_basket(qtbot, model, shapes):
    with Project.open(shapes) as p:
        ids = np.array([r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")], np.int64)
        _write_map(p, ids)
        classes = [c.name for c in p.classes()]
        add_labels(p, [int(ids[0])], "junk")
        k = 3
        version, folder = p.new_version_dir("clusters")
        Clustering(ids, (np.arange(len(ids)) % k).astype(np.int64),
                   np.zeros((k, 4), np.float32)).save(folder)
        p.register_artifact("clusters", version, {})
        map_ids, _ = load_map(p)
    _open(qtbot, model, shapes)
    assert model.status == "ready", model.message
    n = len(ids)
    assert model.pointCount == n == model.visibleCount
    legend = model.legend
    assert [e["name"] for e in legend] == [*classes, "unlabeled", "marked"]
    assert sum(e["count"] for e in legend) == n and legend[-1]["count"] == 1
    modes = {m["key"]: m["available"] for m in model.colorModes}
    assert modes == {"status": True, "label": True, "predicted": False, "uncertainty": False, "cluster": True}

    model.toggleLegend(0)                        # hide the first class
    assert model.legend[0]["hidden"] and model.visibleCount == n - legend[0]["count"]
    model.showAll()
    model.labelFilter = "marked"
    assert model.visibleCount == 1
    model.labelFilter = "all"
    model.clusterFilter = 1
    assert model.visibleCount == int((np.arange(n) % k == 1).sum())
    model.clusterFilter = -1
    model.colorMode = "cluster"
    assert [e["name"] for e in model.legend][:k] == ["cluster 0", "cluster 1", "cluster 2"]
    assert model.layer() is not None and model.layer().visible.all()

    row = 3
    model.select_row(row)
    assert model.selectedId == int(map_ids[row])
    qtbot.waitUntil(lambda: len(model.neighbours) > 0, timeout=30_000)
    info = model.selectedInfo
    assert info["path"].endswith(".jpg") and info["width"] > 0 and info["label"] in classes
    nb = model.neighbours
    assert all({"id", "path", "similarity", "label"} <= set(e) for e in nb)
    assert int(map_ids[row]) not in [e["id"] for e in nb]
    model.selectId(nb[0]["id"])
    assert model.selectedId == nb[0]["id"]

    before = model.legend[0]["count"]
    mark = model._data.labels_mark
    model.refreshLabelsIfChanged()                    # nothing labeled since: labels kept as read
    model.waitForIdle()
    QCoreApplication.processEvents()
    assert model._data.labels_mark == mark and model.legend[0]["count"] == before
    with Project.open(shapes) as p:                   # labeling elsewhere in the app
        codes = label_arrays(p, map_ids, classes)
        others = [int(i) for i in map_ids[codes > 0][:2]]
        add_labels(p, others, classes[0])
    model.colorMode = "label"
    model.refreshLabelsIfChanged()                    # the Explorer shown again
    qtbot.waitUntil(lambda: model.legend[0]["count"] > before, timeout=10_000)
    assert model.selectedId == nb[0]["id"]            # selection kept
    assert model._data.labels_mark > mark

    model.add_rows_to_basket(np.array([0, 1, 1, 2]))
    model.add_rows_to_basket(np.array([2, 5]))
    assert model.basket == [int(map_ids[i]) for i in (0, 1, 2, 5)] and model.basketCount == 4
    assert set(model.highlight_rows()) >= {0, 1, 2, 5}
    model.clearBasket()
    assert model.basketCount == 0

    img = thumbs_provider.ThumbsProvider().requestImage(str(int(map_ids[0])), QSize(), QSize(64, 64))
    assert not img.isNull() and max(img.width(), img.height()) == 64


def test_predictions_enable_predicted_and_uncertainty(qtbot, model, shapes):
    with Project.open(shapes) as p:
        if p.current_artifact("map") is None:         # this test run alone (-k): no map yet
            ids = np.array([r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")], np.int64)
            _write_map(p, ids)
        map_ids, _ = load_map(p)
        classes = [c.name for c in p.classes()]
        version, folder = p.new_version_dir("predictions")
        probs = np.random.default_rng(1).dirichlet(np.ones(len(classes)), len(map_ids)).astype(np.float32)
        order = np.argsort(map_ids)
        np.save(folder / "ids.npy", map_ids[order])
        np.save(folder / "probs.npy", probs[order])
        write_json_atomic(folder / "manifest.json", {"classes": classes, "count": len(map_ids)})
        p.register_artifact("predictions", version, {})
    _open(qtbot, model, shapes)
    assert model.hasPredictions and model.status == "ready"
    model.colorMode = "uncertainty"
    assert len(model.legend) == 5
    model.uncertaintyMin, model.uncertaintyMax = 0.5, 1.0
    u = 1 - probs.max(1)
    assert model.visibleCount == int(((u >= 0.5) & (u <= 1.0)).sum())
    model.colorMode = "predicted"
    model.predictedFilter = 0
    assert model.visibleCount == int(((u >= 0.5) & (probs.argmax(1) == 0)).sum())
    model.select_row(0)
    assert model.selectedInfo["predicted"] == classes[int(probs[0].argmax())]
    assert json.dumps(model.selectedInfo)  # plain data for QML
