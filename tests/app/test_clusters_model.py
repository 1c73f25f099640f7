"""ClustersModel and the Clusters view on a small real project (demo shapes, squeezenet)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import classkit.app.clusters_model  # noqa: F401 - registers ClustersModel (before any QML loads)
from classkit.app.clusters_model import ClustersModel
from classkit.app.jobs import JobRunner
from classkit.app.label.label_model import LabelModel
from classkit.cli.main import main
from classkit.engine.fsutil import write_json_atomic
from classkit.engine.labels.events import add_labels
from classkit.engine.project import Project
from classkit.engine.similarity.cluster_view import IMPURE_BELOW, cluster_rows, sort_rows, summarize
from tests.app.test_main_qml import _close, _load, click, item
from tests.app.conftest import embedded_shapes

K = 4


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo shapes (labeled by folder), embedded and clustered; the first 6 images unlabeled."""
    proj = embedded_shapes(tmp_path_factory.mktemp("clusters"), per_class=6)
    assert main(["cluster", str(proj), "--k", str(K), "--json"]) == 0
    with Project.open(proj) as p:
        ids = [r[0] for r in p.db.execute("SELECT id FROM images ORDER BY id")]
        add_labels(p, ids[:6], None)
    return proj


def _counts(proj: Path) -> tuple[int, int]:
    """(embedded images, labeled embedded images)."""
    with Project.open(proj) as p:
        from classkit.engine.embed.store import load_embeddings
        emb = load_embeddings(p)
        ok = {int(i) for i in emb.ids[np.flatnonzero(emb.ok)]}
        labeled = {int(r[0]) for r in p.db.execute("SELECT image_id FROM current_labels")}
    return len(ok), len(ok & labeled)


def _write_predictions(proj: Path, wrong: int) -> None:
    """Predictions that agree with every label except on image ``wrong``."""
    with Project.open(proj) as p:
        names = [c.name for c in p.classes()]
        rows = p.db.execute("SELECT i.id, l.label FROM images i LEFT JOIN current_labels l "
                            "ON l.image_id = i.id ORDER BY i.id").fetchall()
        ids = np.array([r[0] for r in rows], np.int64)
        probs = np.full((len(ids), len(names)), 0.1, np.float32)
        for row, (image_id, label) in enumerate(rows):
            c = names.index(label) if label in names else 0
            if image_id == wrong:
                c = (c + 1) % len(names)
            probs[row, c] = 0.9
        version, folder = p.new_version_dir("predictions")
        np.save(folder / "ids.npy", ids)
        np.save(folder / "probs.npy", probs)
        write_json_atomic(folder / "manifest.json", {"classes": names, "count": len(ids)})
        p.register_artifact("predictions", version, {"count": len(ids)})


def test_rows_count_labels_purity_and_sort(clustered: Path) -> None:
    embedded, labeled = _counts(clustered)
    with Project.open(clustered) as p:
        rows = cluster_rows(p, n_thumbs=5)
    assert 1 <= len(rows) <= K
    assert sum(r["size"] for r in rows) == embedded
    assert sum(r["labeled"] for r in rows) == labeled < embedded
    for r in rows:
        assert r["labeled"] + r["unlabeled"] == r["size"]
        assert 1 <= len(r["thumbs"]) <= 5
        assert r["disagreement"] is None and r["predMixing"] is None  # no predictions yet
        if r["labeled"]:
            assert 0 < r["purity"] <= 1 and r["majority"]
        else:
            assert r["purity"] is None and r["majority"] is None
    sizes = [r["size"] for r in sort_rows(rows, "size")]
    assert sizes == sorted(sizes, reverse=True)
    shares = [r["unlabeledShare"] for r in sort_rows(rows, "unlabeled")]
    assert shares == sorted(shares, reverse=True)
    purities = [r["purity"] for r in sort_rows(rows, "purity") if r["purity"] is not None]
    assert purities == sorted(purities)
    summary = summarize(rows)
    assert summary["clusters"] == len(rows) and summary["disagreeing"] == 0
    assert summary["unlabeled"] == sum(r["labeled"] == 0 for r in rows)
    assert summary["impure"] == sum(p < IMPURE_BELOW for p in purities)


def test_disagreement_with_predictions(tmp_path: Path, clustered: Path) -> None:
    import shutil
    proj = tmp_path / "p"
    shutil.copytree(clustered, proj)
    with Project.open(proj) as p:
        wrong = int(p.db.execute("SELECT image_id FROM current_labels ORDER BY image_id").fetchone()[0])
    _write_predictions(proj, wrong)
    with Project.open(proj) as p:
        rows = cluster_rows(p)
    top = sort_rows(rows, "disagreement")[0]
    assert wrong in _members(proj, top["cluster"])
    assert top["disagreement"] is not None and top["disagreement"] > 0
    assert all(r["disagreement"] in (None, 0.0) for r in rows if r is not top)
    assert summarize(rows)["disagreeing"] == 1


def _members(proj: Path, cluster: int) -> set[int]:
    from classkit.engine.similarity.clusters import Clustering
    with Project.open(proj) as p:
        cl = Clustering.load(p.current_artifact("clusters"))
    return {int(i) for i in cl.ids[cl.assign == cluster]}


def test_model_reads_off_thread_and_sorts(qtbot, clustered: Path, tmp_path: Path) -> None:
    runner = JobRunner()
    model = ClustersModel()
    model.runner = runner
    model.projectPath = str(clustered)
    with qtbot.waitSignal(model.loaded, timeout=20_000):
        model.refresh()
    assert model.state == "ready" and not model.busy and model.message == ""
    assert model.sortKey == "size" and not model.hasPredictions
    rows = model.clusters
    assert sum(r["size"] for r in rows) == _counts(clustered)[0]
    assert model.summary["clusters"] == model.count == len(rows)
    model.sortBy("unlabeled")
    assert model.sortKey == "unlabeled"
    shares = [r["unlabeledShare"] for r in model.clusters]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0
    model.sortBy("nonsense")
    assert model.sortKey == "unlabeled"
    # a project without clusters: an empty state, not an error
    assert main(["init", str(tmp_path / "bare")]) == 0
    model.projectPath = str(tmp_path / "bare")
    assert model.count == 0
    with qtbot.waitSignal(model.loaded, timeout=20_000):
        model.refresh()
    assert model.state == "noclusters" and model.count == 0
    runner.wait(10_000)


def test_view_label_and_show_on_map(qtbot, isolated_settings, clustered: Path) -> None:
    engine, window = _load(qtbot, clustered)
    try:
        project = window.property("project")
        qtbot.waitUntil(lambda: project.property("hasClusters"), timeout=20_000)
        window.setProperty("currentView", 1)
        view = item(window, "view_clusters")
        cm = view.property("model")
        qtbot.waitUntil(lambda: cm.property("count") > 0 and not cm.property("busy"), timeout=20_000)
        first = cm.property("clusters")[0]["cluster"]
        qtbot.waitUntil(lambda: item(window, f"labelCluster_{first}").isVisible(), timeout=5_000)
        click(window, item(window, f"labelCluster_{first}"))
        names = window.property("viewNames").toVariant()
        assert window.property("currentView") == names.index("Label")
        lm = item(window, "view_label").property("model")
        qtbot.waitUntil(lambda: lm.property("queueKind") == "cluster", timeout=20_000)
        assert lm.property("total") == cm.property("clusters")[0]["size"]

        window.setProperty("currentView", 1)
        click(window, item(window, f"showCluster_{first}"))
        assert window.property("currentView") == names.index("Explorer")
        explorer = window.property("explorer")
        assert explorer is not None
        assert explorer.property("model").property("clusterFilter") == first
    finally:
        _close(engine, window)


def test_label_model_opens_a_cluster_queue_on_an_image(qtbot, clustered: Path) -> None:
    """The slot behind a thumbnail click: the cluster's queue, positioned on that image."""
    with Project.open(clustered) as p:
        rows = cluster_rows(p)
    row = max(rows, key=lambda r: r["size"])
    lm = LabelModel()
    try:
        lm.projectPath = str(clustered)
        target = max(row["thumbs"])  # not the queue's first image (a cluster queue is in id order)
        lm.loadQueueAt("cluster", row["cluster"], target)
        qtbot.waitUntil(lambda: lm.queueKind == "cluster" and lm.total > 0, timeout=20_000)
        ids = [it["id"] for it in lm.items]
        assert set(ids) == _members(clustered, row["cluster"])
        assert lm.current["id"] == target and lm.position == ids.index(target)
        lm.loadQueueAt("cluster", row["cluster"], -1)  # no image: the queue's start
        qtbot.waitUntil(lambda: lm.position == 0, timeout=20_000)
        assert lm.current["id"] == ids[0]
    finally:
        lm.close()


def test_view_thumbnail_click_labels_that_image(qtbot, isolated_settings, clustered: Path) -> None:
    engine, window = _load(qtbot, clustered)
    try:
        project = window.property("project")
        qtbot.waitUntil(lambda: project.property("hasClusters"), timeout=20_000)
        window.setProperty("currentView", 1)
        cm = item(window, "view_clusters").property("model")
        qtbot.waitUntil(lambda: cm.property("count") > 0 and not cm.property("busy"), timeout=20_000)
        row = cm.property("clusters")[0]
        first_in_queue = min(_members(clustered, row["cluster"]))  # a cluster queue is in id order
        k = next(k for k, i in enumerate(row["thumbs"][:2]) if i != first_in_queue)  # 2 always show
        thumb = f"clusterThumb_{row['cluster']}_{k}"
        qtbot.waitUntil(lambda: item(window, thumb).isVisible(), timeout=5_000)
        click(window, item(window, thumb))
        names = window.property("viewNames").toVariant()
        assert window.property("currentView") == names.index("Label")
        lm = item(window, "view_label").property("model")
        qtbot.waitUntil(lambda: lm.property("queueKind") == "cluster"
                        and lm.property("current").get("id") == row["thumbs"][k], timeout=20_000)
        assert lm.property("total") == row["size"]
    finally:
        _close(engine, window)
