"""The project's batch settings (size, recipe shares, cluster cap): validated, used by selection
when nothing else is asked for, and a stored batch's summary for people."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classkit.cli.main import main
from classkit.engine.config import ProjectSettings
from classkit.engine.errors import ClassKitError, ConfigError
from classkit.engine.labels import add_labels
from classkit.engine.loop.selection import batch_summary, composition_lines, select_for_project
from classkit.engine.project import Project
from classkit.engine.select.recipe import DEFAULT_WEIGHTS
from tests.app.conftest import embedded_shapes


def test_settings_defaults_and_validation() -> None:
    s = ProjectSettings()
    assert s.batch_weights() == DEFAULT_WEIGHTS and s.batch_size == 50 and s.batch_cap() is None
    assert ProjectSettings(cap_per_cluster=0).batch_cap() == 0
    assert ProjectSettings(cap_per_cluster=4).batch_cap() == 4
    for bad in ({"weight_audit": 1.5}, {"weight_diversity": -0.1}, {"cap_per_cluster": -2},
                {"batch_size": 0}, {"weight_uncertainty": "a lot"},
                {"weight_uncertainty": 0, "weight_diversity": 0, "weight_representativeness": 0,
                 "weight_audit": 0}):
        with pytest.raises(ConfigError):
            ProjectSettings.from_dict(bad)
    old = ProjectSettings.from_dict({"autosave_ms": 300})  # a manifest from before: defaults
    assert old.batch_weights() == DEFAULT_WEIGHTS


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield embedded_shapes(tmp_path_factory.mktemp("batchset"), per_class=8)


def test_selection_uses_the_project_settings(shapes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Project.open(shapes) as p:
        assert batch_summary(p) is None
        add_labels(p, [r[0] for r in p.db.execute("SELECT id FROM images")], None)  # all unlabeled
        p.update_settings(weight_uncertainty=0.0, weight_diversity=1.0, weight_representativeness=0.0,
                          weight_audit=0.0, cap_per_cluster=0)
        out = select_for_project(p, 6, seed=0)
        assert out["settings"]["weights"] == {"uncertainty": 0.0, "diversity": 1.0,
                                              "representativeness": 0.0, "audit": 0.0}
        assert out["settings"]["cap_per_cluster"] == 0
        assert set(out["composition"]["by_reason"]) == {"diversity"}  # only the share asked for
        explicit = select_for_project(p, 6, weights={"representativeness": 1.0}, cap_per_cluster=2, seed=0)
        assert set(explicit["composition"]["by_reason"]) == {"representativeness"}
        with pytest.raises(ClassKitError, match="at least one above 0"):  # nothing stored
            select_for_project(p, 6, weights={"uncertainty": 0.0, "diversity": 0.0})
        summary = batch_summary(p)
        assert summary["batch"] == explicit["batch"] and summary["size"] == 6
        assert batch_summary(p, out["batch"])["settings"]["cap_per_cluster"] == 0
    lines = composition_lines(summary)
    assert lines[0].startswith("by reason: representativeness 6")
    assert any(line.startswith("from ") and "visual modes" in line for line in lines)
    assert lines[-1].endswith("cluster cap 2") and "representativeness 1.00" in lines[-1]
    assert main(["select", str(shapes), "--budget", "4"]) == 0  # the CLI follows the settings too
    said = capsys.readouterr().out
    assert "(shares from the project's batch settings)" in said and "by reason: diversity 4" in said
    assert "cluster cap none" in said
