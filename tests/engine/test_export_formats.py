"""Exports per format, read back: ImageFolder and Ultralytics trees walked and hashed,
CSV and Parquet parsed; twice-export identity; label snapshots; link modes; predictions."""
from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from classkit.engine.export import COLUMNS, ExportOptions, export_project
from classkit.engine.ingest.probe import hash_file
from classkit.engine.labels import add_labels, load_splits
from classkit.engine.project import Project
from tests.conftest import make_image

PER_CLASS = 10


def add_files(project: Project, paths: list[Path]) -> list[int]:
    """Insert image rows for real files (content hash as ingest computes it)."""
    with project.transaction() as con:
        return [int(con.execute(
            "INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?)",
            (project.paths.to_stored(p), hash_file(str(p)), p.stat().st_size, 1, 64, 48, "JPEG",
             time.time())).lastrowid) for p in paths]


def make_labeled(project: Project, tmp_path: Path) -> dict[str, list[int]]:
    """10 cat + 10 dog (two folders, so ``img000.jpg`` exists twice), 1 unsure, 1 junk, 2 unlabeled."""
    paths = [make_image(tmp_path / "src" / ("a" if i % 2 else "b") / f"img{i // 2:03d}.jpg", seed=i)
             for i in range(2 * PER_CLASS + 4)]
    ids = add_files(project, paths)
    groups = {"cat": ids[:PER_CLASS], "dog": ids[PER_CLASS:2 * PER_CLASS],
              "unsure": ids[20:21], "junk": ids[21:22], "unlabeled": ids[22:]}
    for label in ("cat", "dog", "unsure", "junk"):
        add_labels(project, groups[label], label)
    return groups


def tree_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root`` (symlinks followed)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def check_hashes(export: Path) -> dict:
    """Every file in the export is in the manifest with its SHA-256 and size, and vice versa."""
    manifest = json.loads((export / "manifest.json").read_text())
    files = tree_files(export)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(files) - {"manifest.json"} == set(listed)
    for rel, data in files.items():
        if rel != "manifest.json":
            assert hashlib.sha256(data).hexdigest() == listed[rel]["sha256"]
            assert len(data) == listed[rel]["size"]
    assert [f["path"] for f in manifest["files"]] == sorted(listed)
    return manifest


@pytest.fixture
def labeled(project: Project, tmp_path: Path) -> dict[str, list[int]]:
    return make_labeled(project, tmp_path)


def test_imagefolder_copy_read_back(project: Project, labeled: dict, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    res = export_project(project, "imagefolder", out)
    assert res.path.parent == out and res.path.name == res.version
    manifest = check_hashes(res.path)
    classes = sorted(p.name for p in res.path.iterdir() if p.is_dir())
    assert classes == ["cat", "dog"]  # unsure/junk excluded by default, unlabeled never
    for name in classes:
        files = sorted((res.path / name).iterdir())
        assert len(files) == PER_CLASS and not any(f.is_symlink() for f in files)
    names = [p.name for p in (res.path / "cat").iterdir()]
    assert sum(n.startswith("img000__") for n in names) == 2  # the two img000.jpg both survive
    assert manifest["counts"]["labels"] == {"cat": PER_CLASS, "dog": PER_CLASS}
    assert manifest["counts"]["images"] == res.counts["images"] == 2 * PER_CLASS
    assert manifest["label_snapshot"] == res.snapshot == project.db.execute(
        "SELECT MAX(id) FROM label_events").fetchone()[0]
    with open(res.path / "index.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 2 * PER_CLASS
    for r in rows:  # every exported file is byte-identical to its source
        assert (res.path / r["exported_path"]).read_bytes() == Path(r["original_path"]).read_bytes()
        assert r["exported_path"].split("/")[0] == r["label"] and r["label_source"] == "manual"
    marker = json.loads((out / "classkit_exports.json").read_text())
    assert marker["latest"] == res.version and [e["version"] for e in marker["exports"]] == [res.version]
    reg = project.db.execute(
        "SELECT version, path, is_current FROM artifacts WHERE stage='exports'").fetchall()
    assert [(r["version"], project.paths.resolve(r["path"]), r["is_current"]) for r in reg] == \
        [(res.version, res.path, 1)]


@pytest.mark.parametrize("fmt", ["imagefolder", "csv", "parquet", "ultralytics"])
def test_twice_export_is_identical(project: Project, labeled: dict, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "exports"
    first = export_project(project, fmt, out, ExportOptions(allow_empty_splits=True))
    second = export_project(project, fmt, out, ExportOptions(allow_empty_splits=True))
    assert first.version != second.version
    assert (first.path / "manifest.json").read_bytes() == (second.path / "manifest.json").read_bytes()
    assert tree_files(first.path) == tree_files(second.path)
    check_hashes(second.path)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["classkit_exports.json", first.version, second.version])


def test_csv_read_back(project: Project, labeled: dict, tmp_path: Path) -> None:
    res = export_project(project, "csv", tmp_path / "out", ExportOptions(include=("unsure", "unlabeled")))
    check_hashes(res.path)
    assert sorted(p.name for p in res.path.iterdir()) == ["dataset.csv", "manifest.json"]
    with open(res.path / "dataset.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["id"]) for r in rows] == sorted(labeled["cat"] + labeled["dog"] + labeled["unsure"]
                                                  + labeled["unlabeled"])
    by_id = {int(r["id"]): r for r in rows}
    assert all(by_id[i]["label"] == "cat" and by_id[i]["split"] in ("train", "val", "test")
               for i in labeled["cat"])
    assert by_id[labeled["unsure"][0]]["label"] == "unsure"
    assert by_id[labeled["unlabeled"][0]]["label"] == "" and by_id[labeled["unlabeled"][0]]["split"] == ""
    assert all(r["exported_path"] == "" for r in rows)  # a table-only export writes no images
    hashes = dict(project.db.execute("SELECT id, content_hash FROM images"))
    assert all(r["content_hash"] == hashes[int(r["id"])] for r in rows)
    assert res.counts["labels"]["(none)"] == 2


def test_parquet_read_back(project: Project, labeled: dict, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    res = export_project(project, "parquet", tmp_path / "out")
    check_hashes(res.path)
    table = pq.read_table(res.path / "dataset.parquet")
    assert table.column_names == list(COLUMNS) and table.num_rows == 2 * PER_CLASS
    assert str(table.schema.field("id").type) == "int64"
    data = table.to_pydict()
    ids = np.asarray(data["id"])
    codes = load_splits(project, ids)
    assert data["split"] == [("train", "val", "test")[c] for c in codes.tolist()]
    assert set(data["exported_path"]) == {None} and set(data["label"]) == {"cat", "dog"}
    assert data["round"] == [0] * len(ids) and set(data["predicted"]) == {None}


def test_ultralytics_tree_matches_splits(project: Project, labeled: dict, tmp_path: Path) -> None:
    res = export_project(project, "ultralytics", tmp_path / "yolo")
    manifest = check_hashes(res.path)
    ids = np.asarray(labeled["cat"] + labeled["dog"])
    split_of = dict(zip(ids.tolist(), load_splits(project, ids).tolist(), strict=True))
    assert min(split_of.values()) >= 0  # every exported labeled image got a split
    seen = 0
    for split_code, split in enumerate(("train", "val", "test")):
        for label in ("cat", "dog"):
            folder = res.path / split / label
            files = list(folder.iterdir())
            assert files, f"{split}/{label} is empty"
            for f in files:
                image_id = int(f.stem.rsplit("__", 1)[1])
                assert split_of[image_id] == split_code and image_id in labeled[label]
                seen += 1
            assert manifest["counts"]["label_splits"][label][split] == len(files)
    assert seen == 2 * PER_CLASS
    assert manifest["split_seed"] == 0 and manifest["split_seeds_used"] == [0]


def test_snapshot_reexport_is_identical(project: Project, labeled: dict, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    first = export_project(project, "imagefolder", out)
    add_labels(project, labeled["cat"][:2], "dog")  # more labeling after the export
    add_labels(project, labeled["unlabeled"], "cat")
    add_labels(project, labeled["dog"][:1], None)
    again = export_project(project, "imagefolder", out, ExportOptions(snapshot=first.snapshot))
    assert (first.path / "manifest.json").read_bytes() == (again.path / "manifest.json").read_bytes()
    assert tree_files(first.path) == tree_files(again.path)
    now = export_project(project, "imagefolder", out)
    assert now.snapshot > first.snapshot
    assert now.counts["labels"] == {"cat": PER_CLASS, "dog": PER_CLASS + 1}


def test_symlink_and_hardlink_modes(project: Project, labeled: dict, tmp_path: Path) -> None:
    sym = export_project(project, "imagefolder", tmp_path / "sym", ExportOptions(link="symlink"))
    check_hashes(sym.path)
    with open(sym.path / "index.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        p = sym.path / r["exported_path"]
        assert p.is_symlink() and os.readlink(p) == r["original_path"]
    hard = export_project(project, "imagefolder", tmp_path / "hard", ExportOptions(link="hardlink"))
    check_hashes(hard.path)
    assert hard.copied_instead == 0
    for r in rows:
        p = hard.path / r["exported_path"]
        assert not p.is_symlink() and os.path.samefile(p, r["original_path"])


def test_hardlink_falls_back_to_copy(project: Project, labeled: dict, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device(src: str, dst: str) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    res = export_project(project, "imagefolder", tmp_path / "out", ExportOptions(link="hardlink"))
    check_hashes(res.path)
    assert res.copied_instead == 2 * PER_CLASS and "copied instead of hardlinked" in res.warnings[0]
    with open(res.path / "index.csv", newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):  # real copies, not links
            p = res.path / r["exported_path"]
            assert not p.is_symlink() and not os.path.samefile(p, r["original_path"])


def test_marks_predictions_and_clusters(project: Project, labeled: dict, tmp_path: Path) -> None:
    from classkit.engine.similarity.clusters import Clustering

    ids = np.asarray(sorted(sum(labeled.values(), [])), np.int64)
    version, folder = project.new_version_dir("predictions")
    probs = np.zeros((len(ids), 2), np.float32)
    probs[:, 0] = np.linspace(0.05, 0.95, len(ids))
    probs[:, 1] = 1 - probs[:, 0]
    np.save(folder / "ids.npy", ids)
    np.save(folder / "probs.npy", probs)
    meta = {"temperature": 1.0, "train_version": "t1", "embedding_version": "e1"}
    (folder / "manifest.json").write_text(json.dumps({**meta, "classes": ["cat", "dog"]}))
    project.register_artifact("predictions", version, meta)
    cversion, cfolder = project.new_version_dir("clusters")
    Clustering(ids, (ids % 3).astype(np.int64), np.zeros((3, 4), np.float32)).save(cfolder)
    project.register_artifact("clusters", cversion, {})

    res = export_project(project, "imagefolder", tmp_path / "out",
                         ExportOptions(include=("unsure", "junk"), include_predicted=0.8))
    check_hashes(res.path)
    assert sorted(p.name for p in res.path.iterdir() if p.is_dir()) == ["cat", "dog", "junk", "unsure"]
    with open(res.path / "index.csv", newline="", encoding="utf-8") as fh:
        rows = {int(r["id"]): r for r in csv.DictReader(fh)}
    conf = dict(zip(ids.tolist(), probs.max(1).tolist(), strict=True))
    expected_pred = {i for i in labeled["unlabeled"] if conf[i] >= 0.8}
    assert {i for i, r in rows.items() if r["label_source"] == "predicted"} == expected_pred
    for i in expected_pred:
        r = rows[i]
        assert r["split"] == "train" and r["round"] == "" and r["label"] == r["predicted"]
    for i, r in rows.items():
        assert r["predicted"] in ("cat", "dog") and abs(float(r["confidence"]) - conf[i]) < 1e-6
        assert int(r["cluster"]) == i % 3 and r["dup_group"] == ""
    m = json.loads((res.path / "manifest.json").read_text())
    assert m["versions"]["predictions"] == version and m["versions"]["train"] == "t1"
    assert m["versions"]["clusters"] == cversion
    assert m["counts"]["sources"].get("predicted", 0) == len(expected_pred)


def test_near_duplicate_groups_from_cached_graph(project: Project, labeled: dict, tmp_path: Path) -> None:
    from classkit.engine.similarity.graph import KnnGraph

    ids = np.asarray(sorted(sum(labeled.values(), [])), np.int64)
    version, folder = project.new_version_dir("embeddings")
    np.save(folder / "embeddings.npy", np.ones((len(ids), 4), np.float32))
    np.save(folder / "ids.npy", ids)
    np.save(folder / "status.npy", np.zeros(len(ids), np.uint8))
    (folder / "manifest.json").write_text("{}")
    project.register_artifact("embeddings", version, {})
    n = len(ids)
    rows = np.stack([(np.arange(n) + 1) % n, (np.arange(n) + 2) % n], 1).astype(np.int64)
    sims = np.full(rows.shape, 0.5, np.float32)
    a, b = labeled["cat"][0], labeled["dog"][5]  # a near-duplicate pair across classes
    ia, ib = int(np.searchsorted(ids, a)), int(np.searchsorted(ids, b))
    rows[ia, 0], sims[ia, 0] = ib, 0.99
    KnnGraph(rows, sims, ids).save(folder / "graph")

    res = export_project(project, "csv", tmp_path / "out")
    with open(res.path / "dataset.csv", newline="", encoding="utf-8") as fh:
        by_id = {int(r["id"]): r for r in csv.DictReader(fh)}
    grouped = {i for i, r in by_id.items() if r["dup_group"] != ""}
    assert grouped == {a, b} and by_id[a]["dup_group"] == by_id[b]["dup_group"]
    assert by_id[a]["split"] == by_id[b]["split"]  # near-duplicates never straddle splits
    m = json.loads(res.manifest.read_text())
    assert m["versions"]["near_duplicates"] == {"embeddings": version, "threshold": 0.97}
    assert m["versions"]["embeddings"] == version
