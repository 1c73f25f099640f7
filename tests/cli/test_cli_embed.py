"""`classkit models` and `classkit embed` as a user runs them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classkit.cli.main import main

from .helpers import run_json
from tests.conftest import make_image


def test_models_lists_builtins_default_first(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "models")
    names = [m["name"] for m in out["models"]]
    assert names[:3] == ["efficientnet-lite0-ms", "efficientnet-lite0", "squeezenet1.1"]
    assert out["default"] == "efficientnet-lite0-ms"
    assert {m["name"]: m["dim"] for m in out["models"]} == {"efficientnet-lite0-ms": 1584,
                                                            "efficientnet-lite0": 1280,
                                                            "squeezenet1.1": 512}
    assert run_json(capsys, "models", "--check", "squeezenet1.1")["ok"] is True


def test_models_check_rejects_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a model" * 100)
    assert main(["models", "--check", str(bad), "--json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("classkit: error:") and "bad.onnx" in err
    assert main(["models", "--check", "no-such-model"]) == 1
    assert "unknown model" in capsys.readouterr().err


def test_embed_versions_and_switch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = tmp_path / "p"
    for i in range(6):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(90, 70), seed=i)
    (tmp_path / "imgs" / "x.jpg").write_text("nope")
    main(["init", str(proj)])
    main(["ingest", str(proj), str(tmp_path / "imgs")])
    capsys.readouterr()
    assert main(["embed", str(tmp_path / "p2")]) == 1  # not a project
    capsys.readouterr()
    first = run_json(capsys, "embed", str(proj), "--model", "squeezenet1.1", "--batch-size", "4")
    assert first["dim"] == 512 and first["count"] == 6
    second = run_json(capsys, "embed", str(proj), "--model", "squeezenet1.1", "--fp16")
    listed = run_json(capsys, "embed", str(proj), "--list")["versions"]
    assert [v["version"] for v in listed] == [first["version"], second["version"]]
    assert [v["is_current"] for v in listed] == [False, True]
    assert listed[1]["dtype"] == "float16"
    switched = run_json(capsys, "embed", str(proj), "--use", first["version"])["versions"]
    assert [v["is_current"] for v in switched] == [True, False]
    vectors = np.load(Path(listed[0]["path"]) / "embeddings.npy")
    assert vectors.shape == (6, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert main(["embed", str(proj), "--use", "nope"]) == 1
    capsys.readouterr()
    # nothing changed since the current version: no new version, and it says so
    assert main(["embed", str(proj), "--model", "squeezenet1.1"]) == 0
    out = capsys.readouterr().out
    assert f"up to date: version {first['version']}" in out and "--recompute" in out
    again = run_json(capsys, "embed", str(proj), "--model", "squeezenet1.1", "--recompute")
    assert again["up_to_date"] is False and again["rows_computed"] == 6
    assert len(run_json(capsys, "embed", str(proj), "--list")["versions"]) == 3


def test_embed_keeps_the_projects_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plain `embed` on a project embedded with another built-in model keeps that model (new
    images never trigger a silent re-embedding with a new default) and says so; --model
    switches; a project without embeddings gets the default."""
    for i in range(4):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(60, 50), seed=i)
    proj = tmp_path / "p"
    main(["init", str(proj)])
    main(["ingest", str(proj), str(tmp_path / "imgs")])
    capsys.readouterr()
    assert run_json(capsys, "embed", str(proj), "--model", "squeezenet1.1")["dim"] == 512
    make_image(tmp_path / "imgs" / "new.jpg", size=(60, 50), seed=9)
    main(["ingest", str(proj), str(tmp_path / "imgs")])
    capsys.readouterr()
    assert main(["embed", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "keeps that model" in out and "--model efficientnet-lite0-ms" in out
    listed = run_json(capsys, "embed", str(proj), "--list")["versions"]
    assert listed[-1]["model"] == "squeezenet1.1" and listed[-1]["count"] == 5
    assert run_json(capsys, "embed", str(proj), "--model", "efficientnet-lite0-ms")["dim"] == 1584
    fresh = tmp_path / "fresh"
    main(["init", str(fresh)])
    main(["ingest", str(fresh), str(tmp_path / "imgs")])
    capsys.readouterr()
    assert run_json(capsys, "embed", str(fresh))["dim"] == 1584
