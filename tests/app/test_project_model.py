"""ProjectModel on a tiny real project: create/open/recent, pipeline jobs, settings, errors."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classkit.app.jobs import JobRunner
from classkit.app.project_model import ProjectModel
from tests.conftest import make_image


@pytest.fixture
def model(isolated_settings) -> Iterator[ProjectModel]:
    runner = JobRunner()
    m = ProjectModel()
    m.runner = runner
    yield m
    m.stopWatching()
    runner.cancelAll()
    runner.wait(30_000)


def wait_idle(qtbot, m: ProjectModel, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: not m.runner.busy, timeout=timeout)


def test_create_open_and_recent(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    assert not model.isOpen and model.recentProjects == []
    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.createProject(str(tmp_path / "p1"), "First", "cat, dog,")
    assert model.isOpen and model.name == "First"
    assert model.path == str(tmp_path / "p1")
    assert [c["name"] for c in model.classes] == ["cat", "dog"]
    assert model.counts["images"] == 0 and not model.hasEmbeddings
    assert model.settings["thumbnail_size"] == 256

    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.createProject((tmp_path / "p2").as_uri(), "", "")  # a file: URL from a dialog
    assert model.name == "p2"
    assert model.recentProjects == [str(tmp_path / "p2"), str(tmp_path / "p1")]

    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.openProject(str(tmp_path / "p1"))
    assert model.name == "First"
    assert model.recentProjects[0] == str(tmp_path / "p1")
    model.removeRecent(str(tmp_path / "p2"))
    assert model.recentProjects == [str(tmp_path / "p1")]
    model.closeProject()
    assert not model.isOpen and model.classes == []


def test_the_last_open_request_wins(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    from classkit.engine.project import Project

    for name in ("a", "b"):
        Project.create(tmp_path / name, name=name).close()
    model.openProject(str(tmp_path / "a"))
    model.openProject(str(tmp_path / "b"))
    wait_idle(qtbot, model)
    assert model.name == "b"


def test_open_errors_are_reported(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.openProject(str(tmp_path / "empty"))
    assert "not a ClassKit project" in blocker.args[2]
    assert not model.isOpen and model.recentProjects == []
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.computeMap()
    assert "open or create a project first" in blocker.args[0]


@pytest.mark.slow  # ~15 s: the UMAP map (numba) dominates
def test_pipeline_status_and_settings(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(60):
        make_image(src / f"img{i}.png", seed=i)
    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.createProject(str(tmp_path / "proj"), "tiny", "a,b")
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.buildIndex()
    assert "no images yet" in blocker.args[0] and "Ingest" in blocker.args[0]

    revision = model.revision
    with qtbot.waitSignal(model.statusChanged, timeout=120_000):
        model.ingest([str(src)], "auto")
    wait_idle(qtbot, model)
    assert model.counts["images"] == 60 and model.counts["sources"] == 1
    assert model.revision > revision

    with qtbot.waitSignals([model.artifactsChanged, model.artifactsUpdated], timeout=120_000):
        model.embed("squeezenet1.1")
    wait_idle(qtbot, model)
    assert model.hasEmbeddings and not model.hasMap

    for action, flag in ((model.buildIndex, "hasIndex"), (model.cluster, "hasClusters"),
                         (model.computeMap, "hasMap")):
        with qtbot.waitSignal(model.artifactsChanged, timeout=240_000):
            action()
        wait_idle(qtbot, model)
        assert getattr(model, flag)
    with qtbot.waitSignal(model.artifactsUpdated, timeout=120_000):
        model.cluster()  # a new version of an existing artifact
    wait_idle(qtbot, model)

    # A refresh that finds nothing new changes no property.
    changed: list[str] = []
    model.statusChanged.connect(lambda: changed.append("status"))
    model.artifactsChanged.connect(lambda: changed.append("artifacts"))
    model.artifactsUpdated.connect(lambda: changed.append("versions"))
    with qtbot.waitSignal(model.revisionChanged, timeout=30_000):
        model.refresh()
    assert changed == []

    with qtbot.waitSignal(model.settingsChanged, timeout=30_000):
        model.saveSettings({"thumbnail_size": 128.0, "autosave_ms": 500})
    assert model.settings["thumbnail_size"] == 128 and model.settings["autosave_ms"] == 500
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.saveSettings({"thumbnail_size": 5})
    assert "thumbnail_size" in blocker.args[2]
    assert model.settings["thumbnail_size"] == 128
    with qtbot.waitSignal(model.settingsChanged, timeout=30_000):  # the Settings view's graph features
        model.saveSettings({"graph_features": "auto"})
    assert model.settings["graph_features"] == "auto"
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.saveSettings({"graph_features": "sometimes"})
    assert "graph_features" in blocker.args[2] and model.settings["graph_features"] == "auto"


def test_models_and_source_kinds(model: ProjectModel) -> None:
    assert "squeezenet1.1" in model.models
    assert model.sourceKinds[0] == "auto" and "imagefolder" in model.sourceKinds


def test_import_labels_from_csv(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    """File > Import labels from CSV: labels land in the project and the summary says what
    happened; a CSV naming an unknown class fails with the reason and writes nothing."""
    from classkit.engine.labels import current_labels
    from classkit.engine.project import Project

    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.importLabels(str(tmp_path / "labels.csv"))
    assert "open or create a project first" in blocker.args[0]
    src = tmp_path / "src"
    for i in range(3):
        make_image(src / f"img{i}.png", seed=i)
    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.createProject(str(tmp_path / "proj"), "tiny", "cat,dog")
    model.ingest([str(src)], "auto")
    wait_idle(qtbot, model)
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.importLabels("  ")
    assert "choose a CSV file" in blocker.args[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nimg0.png,horse\n")
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.importLabels(bad.as_uri())
    assert "horse" in blocker.args[2] and "nothing was imported" in blocker.args[2]
    good = tmp_path / "labels.csv"
    good.write_text("path,label\nimg0.png,cat\nimg1.png,Dog\nnot_there.png,cat\n")
    with qtbot.waitSignal(model.labelsImported, timeout=30_000) as blocker:
        model.importLabels(good.as_uri())
    assert "labeled 2" in blocker.args[0] and "unmatched 1" in blocker.args[0]
    wait_idle(qtbot, model)
    with Project.open(tmp_path / "proj") as project:
        assert sorted(current_labels(project).values()) == ["cat", "dog"]


def test_export_checks_and_failures(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.exportDataset("imagefolder", str(tmp_path / "out"), {})
    assert "open or create a project first" in blocker.args[0]
    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.createProject(str(tmp_path / "proj"), "tiny", "a,b")
    assert model.exportFormats[0] == "imagefolder"
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.exportDataset("zip", str(tmp_path / "out"), {})
    assert "unknown export format" in blocker.args[0]
    with qtbot.waitSignal(model.errorOccurred) as blocker:
        model.exportDataset("csv", "  ", {})
    assert "choose a folder" in blocker.args[0]
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.exportDataset("csv", str(tmp_path / "out"), {"include": ["junk"], "includePredicted": 0})
    assert "nothing to export" in blocker.args[2]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_export_predictions_csv(qtbot, model: ProjectModel, tmp_path: Path) -> None:
    """File > Export predictions: the unlabeled images' predictions as a CSV, the summary says
    how many of each class; without a model, or onto a folder, the reason in one line."""
    import csv

    from classkit.cli.main import main
    from tests.app.conftest import embedded_shapes

    proj = embedded_shapes(tmp_path, per_class=6)
    assert main(["label", str(proj), *[a for i in range(1, 5) for a in ("--id", str(i))], "--clear"]) == 0
    with qtbot.waitSignal(model.projectOpened, timeout=30_000):
        model.openProject(str(proj))
    wait_idle(qtbot, model)
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:  # no model yet
        model.exportPredictions(str(tmp_path / "p.csv"), False)
    assert "train" in blocker.args[2]
    assert main(["train", str(proj), "--folds", "0", "--json"]) == 0
    with qtbot.waitSignal(model.runner.jobFailed, timeout=30_000) as blocker:
        model.exportPredictions(str(tmp_path), False)
    assert "is a folder" in blocker.args[2]
    out = tmp_path / "out dir" / "pred.csv"
    with qtbot.waitSignal(model.exportFinished, timeout=30_000) as blocker:
        model.exportPredictions(out.as_uri(), False)
    folder, summary = blocker.args
    assert folder == str(out.parent) and summary.startswith("Wrote 4 prediction(s)")
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and list(rows[0]) == ["id", "path", "predicted", "confidence"]
