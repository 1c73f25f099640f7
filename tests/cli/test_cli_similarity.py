"""`classkit index / neighbors / map / cluster` on a small real project (demo shapes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classkit.cli.main import main
from classkit.engine.demo import make_demo_data

from .helpers import run_json


@pytest.fixture(scope="module")
def shapes_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sim")
    data = make_demo_data(base / "data", per_class=20)
    tree = data["imagefolder"]
    # a resized, re-encoded copy of one image: a near-duplicate
    with Image.open(tree / "circle" / "circle_000.jpg") as im:
        im.resize((80, 80)).save(tree / "circle" / "circle_000_copy.jpg", quality=70)
    proj = base / "p"
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(tree), "--kind", "imagefolder", "--json"]) == 0
    assert main(["embed", str(proj), "--model", "squeezenet1.1", "--json"]) == 0
    return proj


def test_index_neighbors_dedup(shapes_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(capsys, "index", str(shapes_project))
    assert info["backend"] == "faiss-flat" and info["count"] == 61
    assert info["near_duplicate_groups"] >= 0 and info["graph_k"] == 20
    again = run_json(capsys, "index", str(shapes_project))  # cached: same answer
    assert again == info
    assert info["near_duplicate_cosine"] == 0.97  # the embedding model's own (squeezenet1.1)
    loose = run_json(capsys, "index", str(shapes_project), "--dedup", "0.5")
    assert loose["near_duplicate_cosine"] == 0.5
    assert loose["near_duplicate_images"] > info["near_duplicate_images"]
    out = run_json(capsys, "neighbors", str(shapes_project), "1", "-k", "8")
    assert out["query"]["id"] == 1 and out["query"]["label"] == "circle"
    assert out["query"]["path"].endswith("circle_000.jpg")
    ids = [n["id"] for n in out["neighbors"]]
    assert len(ids) == 8 and 1 not in ids
    sims = [n["similarity"] for n in out["neighbors"]]
    assert sims == sorted(sims, reverse=True)
    same = sum(n["label"] == "circle" for n in out["neighbors"])
    assert same >= 6, out["neighbors"]
    copy = run_json(capsys, "neighbors", str(shapes_project), "2", "-k", "3")
    assert copy["query"]["path"].endswith("circle_000_copy.jpg")
    assert copy["neighbors"][0]["id"] == 1  # the original is the copy's nearest image
    assert main(["neighbors", str(shapes_project), "99999"]) == 1
    assert "no embedding" in capsys.readouterr().err


def test_map_and_cluster_versions(shapes_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = run_json(capsys, "map", str(shapes_project), "--n-neighbors", "10")
    display = np.load(Path(m["path"]) / "display.npy")
    ids = np.load(Path(m["path"]) / "ids.npy")
    assert display.shape == (61, 2) and len(ids) == 61
    assert np.isfinite(display).all() and display.min() >= 0 and display.max() <= 1
    c = run_json(capsys, "cluster", str(shapes_project), "--k", "6")
    table = c["clusters"]
    assert c["k"] == 6 and sum(r["size"] for r in table) == 61
    assert all(r["labeled"] == r["size"] for r in table)  # every image came with a label
    purity = sum(r["purity"] * r["size"] for r in table) / 61
    assert purity > 0.8, table
    for row in table:
        assert row["medoid_id"] == row["prototype_ids"][0]
