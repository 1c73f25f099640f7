"""MetricsModel and MetricsView on a small real project trained for two rounds."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl
from PySide6.QtQuick import QQuickView

import classkit.app.metrics_model  # noqa: F401 - registers MetricsModel for the QML test
from classkit.app.metrics_model import MetricsModel
from classkit.cli.main import main
from classkit.engine.labels.events import current_labels
from classkit.engine.project import Project
from tests.app.conftest import embedded_shapes


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo shapes (3 classes x 20, 6 labels cleared, one wrong), squeezenet embeddings, two rounds."""
    proj = embedded_shapes(tmp_path_factory.mktemp("metrics"), per_class=20)
    assert main(["label", str(proj), *[a for i in range(1, 7) for a in ("--id", str(i))], "--clear"]) == 0
    with Project.open(proj) as p:
        label = current_labels(p)[10]
    wrong = next(c for c in ("circle", "square", "triangle") if c != label)
    assert main(["label", str(proj), "--id", "10", "--set", wrong]) == 0
    for extra in ([], ["--graph-features", "auto"]):  # round 2 also decides on graph features
        assert main(["train", str(proj), "--folds", "3", "--no-semi", "--json", *extra]) == 0
    return proj


@pytest.fixture
def model(qtbot) -> MetricsModel:
    m = MetricsModel()
    yield m
    if m._own_runner is not None:
        m._own_runner.wait(30_000)


def _idle(qtbot, m: MetricsModel) -> None:
    qtbot.waitUntil(lambda: not m.busy, timeout=30_000)


def test_rounds_and_details(qtbot, model, trained):
    assert model.rounds == [] and model.selected == 0
    model.projectPath = str(trained)
    _idle(qtbot, model)
    rounds = model.rounds
    assert [r["round"] for r in rounds] == [1, 2]
    assert model.current == 2 and rounds[-1]["current"] and not rounds[0]["current"]
    for r in rounds:
        assert r["labeled"] == 54 and r["semi"] is False and r["head"] == "linear"
        assert r["unlabeled_n"] == 6 and 1 / 3 <= r["expected_accuracy"] <= 1.0
        assert r["picked_share"] == 0.0  # the labels came with the dataset, none from a batch
        assert 0.0 <= r["val_accuracy"] <= 1.0 and 0.0 <= r["macro_f1"] <= 1.0
        assert r["temperature"] > 0 and r["train_version"]
        assert r["smoothed"] in (True, False) and r["smoothing"].startswith("neighbour smoothing: ")
    assert rounds[0]["graph_features"] == ""  # off: nothing to say
    assert rounds[1]["graph_features"].startswith("graph features: ")
    assert model.selected == 2  # the latest by default
    d = model.details
    n = len(d["classes"])
    assert n == 3 and sorted(d["classes"]) == ["circle", "square", "triangle"]
    cm = d["confusion"]
    assert len(cm) == n and all(len(row) == n for row in cm)
    assert sum(map(sum, cm)) == d["n"] > 0
    support = {row["name"]: row["support"] for row in d["per_class"]}
    assert [support[c] for c in d["classes"]] == [sum(row) for row in cm]
    for row, shares in zip(cm, d["row_share"], strict=True):
        assert sum(shares) == pytest.approx(1.0 if sum(row) else 0.0)
    assert {"precision", "recall", "f1"} <= set(d["per_class"][0])
    sig = d["signals"]
    assert {"val_plateau", "audit_agreement", "novelty", "suggest_stop"} <= set(sig)
    assert len(sig["val_plateau"]["values"]) == 2 and sig["val_plateau"]["window"] == 3
    if not d["skipped"]:
        assert d["bins_after"] and sum(b["count"] for b in d["bins_after"]) == d["n"]
        assert d["ece_before"] is not None and d["ece_after"] is not None

    model.select(1)
    assert model.selected == 1 and model.details["round"] == 1
    model.select(7)  # not in the ledger: nothing changes
    assert model.selected == 1


def test_restore_makes_an_older_round_current(qtbot, model, trained):
    model.projectPath = str(trained)
    _idle(qtbot, model)
    model.select(1)
    with qtbot.waitSignal(model.restored, timeout=30_000) as sig:
        model.restore(1)
    assert sig.args == [1]
    _idle(qtbot, model)
    assert model.current == 1 and model.selected == 1 and "restored" in model.message
    with Project.open(trained) as p:
        assert p.current_artifact("train").name == model.rounds[0]["train_version"]
    model.restore(2)
    _idle(qtbot, model)
    assert model.current == 2
    model.restore(9)
    assert "no round 9" in model.message


def test_no_rounds_and_switching_projects(qtbot, model, trained, tmp_path):
    empty = tmp_path / "empty"
    assert main(["init", str(empty)]) == 0
    model.projectPath = str(empty)
    _idle(qtbot, model)
    assert model.rounds == [] and model.count == 0 and model.details == {}
    model.projectPath = str(trained)
    _idle(qtbot, model)
    assert model.count == 2
    model.projectPath = ""
    assert model.count == 0 and model.selected == 0


_STUB = """
import QtQuick
import ClassKit
Item {
    width: 1200; height: 800
    QtObject {
        id: stub
        property string path: "%s"
        property bool isOpen: true
        property int revision: 0
        property var runner: null
        function refresh() {}
    }
    MetricsView { objectName: "metrics"; anchors.fill: parent; project: stub }
}
"""


def test_metrics_view_lists_the_rounds(qtbot, trained, qml_dir, tmp_path):
    qml = tmp_path / "stub.qml"
    qml.write_text(_STUB % trained.as_posix(), encoding="utf-8")
    view = QQuickView()
    view.engine().addImportPath(str(qml_dir))
    view.setSource(QUrl.fromLocalFile(str(qml)))
    assert view.status() == QQuickView.Status.Ready, view.errors()
    view.show()
    root = view.rootObject()
    metrics = root.findChild(QObject, "metrics")
    m = metrics.property("model")
    qtbot.waitUntil(lambda: m.property("count") == 2 and not m.property("busy"), timeout=30_000)
    rounds = root.findChild(QObject, "roundsList")
    qtbot.waitUntil(lambda: rounds.property("count") == 2, timeout=5_000)
    assert root.findChild(QObject, "perClassRows").property("count") == 3
    # narrower than its columns, the rounds table scrolls sideways (no column is cut off)
    wide = metrics.property("tableWidth")
    assert rounds.property("contentWidth") == max(wide, rounds.property("width"))
    root.setProperty("width", 800)
    qtbot.waitUntil(lambda: rounds.property("width") < wide, timeout=5_000)
    assert rounds.property("contentWidth") == wide
    rounds.setProperty("contentX", wide - rounds.property("width"))
    assert rounds.property("contentX") == wide - rounds.property("width")
    root.setProperty("width", 1200)
    grid = root.findChild(QObject, "confusionGrid")
    assert grid.property("columns") == 4
    cells = {c.objectName() for c in grid.childItems()}
    assert {"rowLabel_0", "cell_0_0", "cell_2_2"} <= cells
    assert root.findChild(QObject, "restoreButton").property("enabled") is False  # latest is current
    features = root.findChild(QObject, "featuresNote")  # round 2's graph-features decision, in words
    assert features.property("visible") and features.property("text").startswith("graph features: ")
    m.select(1)
    qtbot.waitUntil(lambda: root.findChild(QObject, "restoreButton").property("enabled"), timeout=5_000)
    assert "Round 1" in root.findChild(QObject, "roundTitle").property("text")
    note = root.findChild(QObject, "smoothingNote")  # the round's smoothing decision, in words
    assert note.property("visible") and note.property("text").startswith("neighbour smoothing: ")
    assert not features.property("visible")  # round 1 did not use them
    expected = root.findChild(QObject, "expectedNote")  # the estimate for the unlabeled images
    assert expected.property("visible") and "6 images not labeled yet" in expected.property("text")
    details = m.property("details")  # a small val set: the estimate says it is rough
    val_n = details["val_n"]
    rough = (f"Rough for now: not calibrated yet, only {val_n} val image(s)." if details["skipped"]
             else f"Rough for now: calibrated on only {val_n} val images.")
    assert (rough in expected.property("text")) == (val_n < 30 or bool(details["skipped"]))
    assert "picked by active learning" not in expected.property("text")  # no batch picked them
    assert root.findChild(QObject, "metricsEmpty").property("visible") is False
    review = root.findChild(QObject, "reviewSuspects")  # only for the current model's suspects
    assert review.property("visible") is False  # round 1 is not the current model
    m.select(2)
    title = root.findChild(QObject, "roundTitle")
    qtbot.waitUntil(lambda: "Round 2" in title.property("text"), timeout=5_000)
    assert m.property("details")["suspects"] >= 1 and review.property("visible")
    asked = []
    metrics.reviewSuspects.connect(lambda: asked.append(True))
    review.clicked.emit()
    assert asked == [True]
    m.select(1)
    qtbot.waitUntil(lambda: root.findChild(QObject, "restoreButton").property("enabled"), timeout=5_000)
    dialog = root.findChild(QObject, "restoreDialog")  # Restore asks first; OK restores round 1
    root.findChild(QObject, "restoreButton").clicked.emit()
    qtbot.waitUntil(lambda: dialog.property("opened"), timeout=5_000)
    dialog.accept()
    qtbot.waitUntil(lambda: m.property("current") == 1 and not m.property("busy"), timeout=30_000)
    assert root.findChild(QObject, "restoreButton").property("enabled") is False
    m.restore(2)
    qtbot.waitUntil(lambda: m.property("current") == 2 and not m.property("busy"), timeout=30_000)
    view.close()
    m._own_runner.wait(30_000)


def test_details_without_val_split(tmp_path):
    """A tiny project: no val metrics, calibration skipped; the test split is shown."""
    from classkit.engine.loop.metrics_view import round_details, round_summary

    rnd = {"round": 1, "train_version": "t1", "prediction_version": "missing",
           "labels": {"snapshot": {"labeled": 9, "total": 9}},
           "settings": {"semi": False, "head": {"kind": "mlp"}},
           "metrics": {"temperature": 1.0, "calibration": {"skipped": "fewer than 10 labeled val images"},
                       "test": {"accuracy": 0.5, "n": 2, "confusion": [[1, 0], [1, 0]],
                                "macro": {"f1": 0.33},
                                "per_class": {"b": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
                                              "a": {"precision": 0.5, "recall": 1.0, "f1": 0.67,
                                                    "support": 1}}}},
           "signals": {}}

    class _P:
        root = tmp_path
        version_dir = Project.version_dir

    s = round_summary(rnd, "t1")
    assert s["val_accuracy"] is None and s["test_accuracy"] == 0.5 and s["current"] and s["head"] == "mlp"
    assert s["expected_accuracy"] is None and s["unlabeled_n"] == 0  # everything labeled (or older round)
    d = round_details(_P(), rnd)
    assert d["split"] == "test" and d["classes"] == ["b", "a"] and d["skipped"].startswith("fewer")
    assert d["row_share"] == [[1.0, 0.0], [1.0, 0.0]] and d["bins_after"] == []
    assert d["signals"]["val_plateau"]["values"] == [] and d["signals"]["suggest_stop"] is False
