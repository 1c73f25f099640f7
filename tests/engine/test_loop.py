"""The learning loop on a real small project: labels → train → predict → select → ledger."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from classkit.engine.demo import CLASSES, make_demo_data
from classkit.engine.embed.job import embed_project
from classkit.engine.embed.spec import resolve_model
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest.pipeline import ingest
from classkit.engine.labels.events import add_labels
from classkit.engine.learn.checkpoint import load_checkpoint
from classkit.engine.loop.ledger import get_round, list_rounds, restore_round
from classkit.engine.loop.predictions import load_predictions, prediction_rows
from classkit.engine.loop.rounds import train_round
from classkit.engine.loop.selection import select_for_project
from classkit.engine.project import Project


def _truth(project: Project) -> dict[int, str]:
    return {int(i): Path(p).parent.name for i, p in project.db.execute("SELECT id, path FROM images")}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """30 images per class, ingested as an unlabeled folder and embedded (squeezenet)."""
    base = tmp_path_factory.mktemp("loop")
    tree = make_demo_data(base / "data", per_class=30)["imagefolder"]
    project = Project.create(base / "p", classes=list(CLASSES))
    ingest(project, [tree])  # plain folder: no labels imported
    embed_project(project, resolve_model("squeezenet1.1"))
    yield project
    project.close()


def _label(project: Project, per_class: int) -> None:
    truth = _truth(project)
    for name in CLASSES:
        ids = sorted(i for i, c in truth.items() if c == name)[:per_class]
        add_labels(project, ids, name)


def _labeled_ids(project: Project) -> set[int]:
    return {int(i) for (i,) in project.db.execute("SELECT image_id FROM current_labels")}


def test_loop_end_to_end(shapes: Project, tmp_path: Path) -> None:
    project = shapes
    with pytest.raises(ClassKitError, match="at least two classes"):
        train_round(project)
    cold = select_for_project(project, 12, seed=3)
    assert cold["composition"]["cold_start"] and len(cold["items"]) == 12
    assert {i["reason"] for i in cold["items"]} <= {"diversity", "representativeness", "audit"}
    assert len({i["id"] for i in cold["items"]}) == 12
    stored = project.db.execute("SELECT COUNT(*) FROM batch_items WHERE batch_id=?",
                                (cold["batch"],)).fetchone()[0]
    assert stored == 12

    _label(project, 20)  # 60 labeled of 90
    r1 = train_round(project, seed=0)
    assert r1["round"] == 1
    m = r1["metrics"]
    assert m["n_train"] + m["n_val"] + m["n_test"] == 60
    assert m["val"]["accuracy"] >= 0.8  # three clearly different shapes
    # semi-supervised by default: the 30 unlabeled images were pseudo-labeled through the graph
    assert m["semi"]["prior"] == "head" and 0 < m["semi"]["pseudo_rows"] <= 30
    assert r1["calibration"]["temperature"] > 0
    assert {"before", "after"} <= set(r1["calibration"])
    # predictions cover every embedded image; the CSV rows are the unlabeled ones
    pred = load_predictions(project)
    assert len(pred.ids) == 90 and np.allclose(np.asarray(pred.probs).sum(1), 1, atol=1e-4)
    # neighbour smoothing decided on val; the predictions on disk say what was applied
    sm = m["smoothing"]
    assert sm["mode"] == "auto" and set(sm["val"]) == {"plain", "smoothed"}
    assert pred.manifest["smoothing"] == (sm if sm["used"] else None)
    # the accuracy to expect on the 30 unlabeled images: their mean calibrated confidence
    unl = np.isin(pred.ids, [i for i in pred.ids if i not in _labeled_ids(project)])
    expected = {"images": 30, "accuracy": round(float(np.asarray(pred.probs)[unl].max(1).mean()), 6)}
    unlabeled = {k: v for k, v in m["unlabeled"].items() if k != "picked_share"}
    assert pred.manifest["expected_accuracy"] == unlabeled == pytest.approx(expected)
    # how many labels a batch chosen with a model picked (val/test lean hard when most did):
    # none yet, a cold-start batch picks for coverage, not hardness
    assert {i["id"] for i in cold["items"]} & _labeled_ids(project)
    assert m["unlabeled"]["picked_share"] == 0.0
    rows = prediction_rows(project)
    assert len(rows) == 30 and {"id", "path", "predicted", "confidence"} == set(rows[0])
    truth = _truth(project)
    assert np.mean([truth[r["id"]] == r["predicted"] for r in rows]) >= 0.8
    # the checkpoint loads safely and reproduces the stored probabilities
    ckpt = project.current_artifact("train") / "head.pt"
    head, temp, meta = load_checkpoint(ckpt)
    assert meta["classes"] == list(CLASSES) and temp == pytest.approx(r1["temperature"])

    batch = select_for_project(project, 15, cap_per_cluster=4, seed=1)
    comp = batch["composition"]
    assert not comp["cold_start"] and len(batch["items"]) == 15
    assert all(n <= 4 for n in comp["by_cluster"].values())
    labeled = {int(i) for (i,) in project.db.execute("SELECT image_id FROM current_labels")}
    for item in batch["items"]:  # only audits may re-show a labeled image (a label suspect)
        assert item["id"] not in labeled or item["reason"] == "audit"
    assert comp["novelty"] is not None and comp["novelty"] >= 0
    assert sum(comp["by_reason"].values()) == 15

    _label(project, 25)
    r2 = train_round(project, seed=0)
    assert r2["round"] == 2
    warm_picked = {i["id"] for i in batch["items"]} & _labeled_ids(project)
    assert warm_picked and r2["metrics"]["unlabeled"]["picked_share"] == round(len(warm_picked) / 75, 3)
    ledger = list_rounds(project)
    assert [r["round"] for r in ledger] == [1, 2]
    assert ledger[1]["labels"]["diff"]["total"] == 15
    assert ledger[1]["labels"]["snapshot"]["labeled"] == 75
    assert [b["batch"] for b in ledger[0]["batches"]] == [batch["batch"]]  # picked after round 1
    assert ledger[0]["batches"][0]["settings"]["cap_per_cluster"] == 4
    assert set(ledger[1]["signals"]) >= {"val_plateau", "audit_agreement", "novelty", "suggest_stop"}
    assert ledger[1]["settings"]["semi"] is True and ledger[1]["settings"]["semi_mode"] == "auto"
    assert ledger[1]["settings"]["smoothing"] == "auto" and "smoothing" in ledger[1]["metrics"]
    restore_round(project, 1)
    assert project.current_artifact("train").name == r1["train_version"]
    assert load_predictions(project).version == r1["prediction_version"]
    assert get_round(project, 2)["train_version"] == r2["train_version"]  # nothing lost
    with pytest.raises(ClassKitError, match="no round 7"):
        restore_round(project, 7)
    restore_round(project, 2)


def test_a_first_batch_before_any_class_exists(tmp_path: Path) -> None:
    # a pile of unlabeled frames: a diverse first look comes before deciding the classes
    tree = make_demo_data(tmp_path / "data", per_class=6)["imagefolder"]
    with Project.create(tmp_path / "p") as project:
        ingest(project, [tree])
        embed_project(project, resolve_model("squeezenet1.1"))
        first = select_for_project(project, 8, seed=1)
        assert first["composition"]["cold_start"] and len({i["id"] for i in first["items"]}) == 8
        assert first["classes"] == 0
        with pytest.raises(ClassKitError, match="at least two classes"):
            train_round(project)


def test_training_is_reproducible(shapes: Project) -> None:
    project = shapes
    if not list_rounds(project):
        _label(project, 20)
    a = train_round(project, seed=5, folds=0)
    pa = np.asarray(load_predictions(project).probs).copy()
    b = train_round(project, seed=5, folds=0)
    pb = np.asarray(load_predictions(project).probs)
    assert a["train_version"] != b["train_version"]
    np.testing.assert_array_equal(pa, pb)
    assert json.dumps(a["metrics"], sort_keys=True) == json.dumps(b["metrics"], sort_keys=True) or \
        a["metrics"]["val"] == b["metrics"]["val"]


def test_semi_supervision_auto_switches_off_with_many_labels(shapes: Project,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto mode: semi-supervised while labels are few; past the limit, a plain (faster) head."""
    from classkit.engine.loop import rounds

    project = shapes
    if not list_rounds(project):
        _label(project, 20)
    labeled = int(project.db.execute("SELECT COUNT(*) FROM images").fetchone()[0])  # an upper bound
    monkeypatch.setattr(rounds, "SEMI_AUTO_MAX_LABELED", 1)
    off = train_round(project, seed=1, folds=0)
    assert "semi" not in off["metrics"]
    settings = list_rounds(project)[-1]["settings"]
    assert (settings["semi"], settings["semi_mode"]) == (False, "auto")
    forced = train_round(project, seed=1, folds=0, semi=True)
    assert "semi" in forced["metrics"]
    assert list_rounds(project)[-1]["settings"]["semi_mode"] == "on"
    monkeypatch.setattr(rounds, "SEMI_AUTO_MAX_LABELED", labeled + 1)
    assert "semi" in train_round(project, seed=1, folds=0)["metrics"]


def test_smoothing_can_be_forced_either_way(shapes: Project) -> None:
    project = shapes
    if not list_rounds(project):
        _label(project, 20)
    off = train_round(project, seed=2, folds=0, smoothing="off")
    assert "smoothing" not in off["metrics"] and load_predictions(project).manifest["smoothing"] is None
    plain = np.asarray(load_predictions(project).probs).copy()
    on = train_round(project, seed=2, folds=0, smoothing="on")
    assert on["metrics"]["smoothing"]["used"] and on["metrics"]["smoothing"]["mode"] == "on"
    assert load_predictions(project).manifest["smoothing"]["used"]
    assert (np.asarray(load_predictions(project).probs).argmax(1) == plain.argmax(1)).mean() > 0.9
    assert list_rounds(project)[-1]["settings"]["smoothing"] == "on"


def test_graph_features_can_be_forced_either_way(shapes: Project) -> None:
    from classkit.engine.learn.graphfeat import GraphFeatures
    from classkit.engine.learn.heads import predict_proba
    from classkit.engine.loop.data import load_loop_data, neighbours_for

    project = shapes
    if not list_rounds(project):
        _label(project, 20)
    off = train_round(project, seed=2, folds=0, smoothing="off", features="off")
    assert "features" not in off["metrics"] and list_rounds(project)[-1]["settings"]["features"] == "off"
    on = train_round(project, seed=2, folds=0, smoothing="off", features="on")
    assert on["metrics"]["features"]["used"] and on["metrics"]["features"]["mode"] == "on"
    assert list_rounds(project)[-1]["settings"]["features"] == "on"
    # the stored predictions are the head's on the graph features, and the checkpoint says so
    head, temp, meta = load_checkpoint(project.current_artifact("train") / "head.pt")
    assert meta["features"]["used"] and meta["features"]["k"] == on["metrics"]["features"]["k"]
    data = load_loop_data(project)
    gf = GraphFeatures(data.X, *neighbours_for(project, data))
    want = predict_proba(head, gf, temp)
    np.testing.assert_allclose(np.asarray(load_predictions(project).probs), want, atol=1e-5)
    assert not np.allclose(head.logits(data.X), head.logits(gf), atol=1e-2)  # not the plain rows
    # without a mode, a round follows the project's setting (the app's Settings view)
    project.update_settings(graph_features="auto")
    try:
        auto = train_round(project, seed=2, folds=0)
        assert auto["metrics"]["features"]["mode"] == "auto"
        assert list_rounds(project)[-1]["settings"]["features"] == "auto"
    finally:
        project.update_settings(graph_features="off")


def test_selection_skips_look_alikes_of_labeled_images(tmp_path: Path) -> None:
    from classkit.engine.embed.spec import near_duplicate_cosine
    from classkit.engine.loop.data import load_loop_data, neighbours_for
    from classkit.engine.loop.selection import build_context
    from classkit.engine.similarity.dedup import look_alike_regions

    from PIL import Image

    tree = make_demo_data(tmp_path / "data", per_class=12)["imagefolder"]
    for name in CLASSES:  # slightly resized copies of each class's first images: look-alikes
        for src in sorted((tree / name).glob("*.jpg"))[:2]:
            with Image.open(src) as im:
                im.resize((im.width - 2, im.height - 2)).save(src.with_name("zz" + src.name))
    with Project.create(tmp_path / "p", classes=list(CLASSES)) as project:
        ingest(project, [tree])
        embed_project(project, resolve_model("squeezenet1.1"))
        _label(project, 2)  # the originals (sorted first), not their copies
        data = load_loop_data(project)
        ctx, _ = build_context(project, data)
        rows, sims = neighbours_for(project, data)
        expect = look_alike_regions(rows, sims, ctx.clusters, near_duplicate_cosine(data.emb.manifest))
        np.testing.assert_array_equal(ctx.region, expect)
        covered = set(ctx.region[(ctx.y != -1) & (ctx.region >= 0)].tolist())
        assert covered, "the demo's shapes should have look-alikes of a labeled image"
        row_of = {int(i): r for r, i in enumerate(data.ids)}
        batch = select_for_project(project, 10, seed=0)
        picked = [row_of[i["id"]] for i in batch["items"] if not i["labeled"]]
        assert picked and not set(ctx.region[picked].tolist()) & covered
        in_region = [r for r in ctx.region[picked].tolist() if r >= 0]
        assert len(in_region) == len(set(in_region))  # one per region in a batch


def test_neighbours_for_maps_graph_rows_to_data_rows(shapes: Project) -> None:
    import dataclasses

    from classkit.engine.loop.data import load_loop_data, neighbours_for

    data = load_loop_data(shapes)
    rows, sims = neighbours_for(shapes, data)  # the graph's own rows: no remapping
    assert rows.dtype == np.int64 and rows.shape == sims.shape and rows.shape[0] == data.n
    sub = dataclasses.replace(data, ids=data.ids[1:], X=data.X[1:], y=data.y[1:])
    r2, s2 = neighbours_for(shapes, sub)  # one row fewer: every index moves down by one
    np.testing.assert_array_equal(r2, np.where(rows[1:] > 0, rows[1:] - 1, -1))
    np.testing.assert_array_equal(s2, sims[1:])
