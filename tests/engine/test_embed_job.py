"""The embedding job: row alignment, failures, resume after cancel, reuse, fp16, versions."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.embed import (ModelRef, OnnxEmbedder, builtin_models, current_embeddings,
                                   embed_project, list_embedding_versions, load_embeddings,
                                   load_image, use_embeddings)
from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.ingest import ingest
from classkit.engine.ingest.probe import hash_file
from classkit.engine.jobs import CancelToken
from classkit.engine.project import Project
from tests.conftest import make_image

from .test_embed_support import DIM, model_dir, tiny_model

__all__ = ["model_dir", "tiny_model"]  # fixtures used here


def _ingest(project: Project, folder: Path) -> None:
    summary = ingest(project, [folder], config=IngestConfig(workers=1))
    assert summary["issues"] == 0, summary["issue_examples"]


def _images(project: Project, folder: Path, n: int, dup_every: int = 0) -> list[int]:
    """Ingest ``n`` JPEGs (every ``dup_every``-th a copy of image 0); returns ids in order."""
    for i in range(n):
        dup = dup_every and i % dup_every == 0
        size = (48, 40) if dup else (40 + i % 7 * 9, 36 + i % 5 * 11)
        make_image(folder / f"img{i:03d}.jpg", size=size, seed=0 if dup else i + 1)
    _ingest(project, folder)
    return [r["id"] for r in project.db.execute("SELECT id FROM images ORDER BY id")]


def _alone(project: Project, model: ModelRef, image_id: int) -> np.ndarray:
    """The embedding of one image computed on its own."""
    path = project.db.execute("SELECT path FROM images WHERE id=?", (image_id,)).fetchone()[0]
    arr = load_image(str(project.paths.resolve(path)), model.spec.input_size, model.spec.resize)
    return OnnxEmbedder(model, threads=1).embed(arr[None])[0]


def test_rows_follow_image_ids(project: Project, tmp_path: Path, tiny_model: ModelRef) -> None:
    ids = _images(project, tmp_path / "imgs", 23, dup_every=5)
    summary = embed_project(project, tiny_model, batch_size=4, decode_workers=2)
    assert summary["count"] == 23 and summary["failed"] == 0
    assert summary["images_computed"] == 23 - 4  # 5 copies of image 0 embedded once
    emb = current_embeddings(project)
    assert emb is not None and emb.version == summary["version"]
    assert emb.ids.tolist() == ids and emb.vectors.shape == (23, DIM)
    assert emb.vectors.dtype == np.float32 and not emb.vectors.flags.writeable
    assert (emb.status == 0).all() and emb.ok.all()
    for image_id in ids[:7]:
        np.testing.assert_allclose(emb.vectors[emb.row_of(image_id)],
                                   _alone(project, tiny_model, image_id), atol=1e-6)
    np.testing.assert_array_equal(emb.vectors[0], emb.vectors[5])  # duplicates share a vector
    assert emb.rows_of(ids[::-1]).tolist() == list(range(22, -1, -1))
    with pytest.raises(KeyError, match="image 9999"):
        emb.row_of(9999)
    m = emb.manifest
    assert m["model"] == "tiny" and m["dim"] == DIM and m["count"] == 23 and m["state"] == "complete"
    assert m["dtype"] == "float32" and len(m["model_sha256"]) == 64 and m["failures"] == []
    assert m["batch_size"] == 4 and m["decode_workers"] == 2 and m["classkit_version"]
    assert {"decode_s", "infer_s", "total_s", "images_per_s"} <= set(m["timings"])
    assert m["spec"]["input_size"] == 32 and not (emb.path / "done.npy").exists()


def test_failed_images_keep_their_rows(project: Project, tmp_path: Path,
                                       tiny_model: ModelRef) -> None:
    ids = _images(project, tmp_path / "imgs", 9)
    changed = project.db.execute("SELECT path FROM images WHERE id=?", (ids[3],)).fetchone()[0]
    Path(project.paths.resolve(changed)).write_bytes(b"garbage, not the ingested image")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(make_image(tmp_path / "x.jpg", size=(60, 50)).read_bytes()[:200])
    with project.transaction() as con:  # a row whose file decodes badly (hash matches)
        broken_id = con.execute(
            "INSERT INTO images(path, content_hash, file_size, mtime_ns, width, height, format, "
            "added_at) VALUES (?,?,?,?,?,?,?,?)",
            (str(broken), hash_file(str(broken)), 200, 0, 60, 50, "JPEG", time.time())).lastrowid
    summary = embed_project(project, tiny_model, batch_size=4)
    emb = load_embeddings(project, summary["version"])
    assert emb.ids.tolist() == [*ids, broken_id]
    assert np.flatnonzero(emb.status).tolist() == [3, 9]
    assert not emb.vectors[3].any() and not emb.vectors[9].any()
    reasons = {f["id"]: f["reason"] for f in emb.manifest["failures"]}
    assert reasons[ids[3]] == "changed" and reasons[broken_id] in ("truncated", "corrupt")
    assert summary["failed"] == 2 and {f["id"] for f in summary["failures"]} == set(reasons)
    for row in (0, 2, 4, 8):
        np.testing.assert_allclose(emb.vectors[row], _alone(project, tiny_model, ids[row]),
                                   atol=1e-6)


def test_resume_after_cancel(project: Project, tmp_path: Path, tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 20)
    token = CancelToken()
    seen: list[int] = []

    def cancel_after_first_batch(done: int, total: int, msg: str = "") -> None:
        seen.append(done)
        if done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        embed_project(project, tiny_model, batch_size=6, progress=cancel_after_first_batch,
                      cancel=token)
    assert seen == [0, 6] and current_embeddings(project) is None
    partial = next((project.root / "runs/classkit/embeddings").iterdir())
    with pytest.raises(ClassKitError, match="unfinished"):
        load_embeddings(project, partial.name)
    done: list[int] = []
    resumed = embed_project(project, tiny_model, batch_size=6,
                            progress=lambda d, t, m="": done.append(d))
    assert resumed["version"] == partial.name and resumed["resumed"]
    assert (resumed["rows_resumed"], resumed["rows_computed"]) == (6, 14)
    assert done[0] == 6 and done[-1] == 20
    fresh = embed_project(project, tiny_model, batch_size=5, reuse=False)
    assert fresh["rows_computed"] == 20 and fresh["version"] != partial.name
    a, b = load_embeddings(project, partial.name), load_embeddings(project, fresh["version"])
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    assert a.manifest["state"] == "complete"


_CRASH = """
import os, sys
from classkit.engine.embed import job, load_spec_file, embed_project
from classkit.engine.project import Project
job.CHECKPOINT_EVERY_S = 0.0  # checkpoint after every batch
def progress(done, total, msg=""):
    if done >= 8:
        os._exit(3)  # a hard crash: no cleanup, no exception handlers
with Project.open(sys.argv[1]) as project:
    embed_project(project, load_spec_file(sys.argv[2]), batch_size=4, progress=progress)
"""


def test_resume_after_a_hard_crash(project: Project, tmp_path: Path,
                                   tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 14)
    spec = tiny_model.path.with_name(tiny_model.path.name + ".json")
    run = subprocess.run([sys.executable, "-c", _CRASH, str(project.root), str(spec)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    assert current_embeddings(project) is None
    resumed = embed_project(project, tiny_model, batch_size=4)
    assert resumed["resumed"] and (resumed["rows_resumed"], resumed["rows_computed"]) == (8, 6)
    fresh = embed_project(project, tiny_model, reuse=False)
    np.testing.assert_allclose(load_embeddings(project, resumed["version"]).vectors,
                               load_embeddings(project, fresh["version"]).vectors, atol=1e-6)


def test_changed_image_set_reuses_rows_by_content(project: Project, tmp_path: Path,
                                                  tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 6)
    first = embed_project(project, tiny_model)
    make_image(tmp_path / "more" / "new1.png", seed=101)
    make_image(tmp_path / "more" / "new2.png", seed=102)
    _ingest(project, tmp_path / "more")
    second = embed_project(project, tiny_model)
    assert second["version"] != first["version"] and second["count"] == 8
    assert (second["rows_reused"], second["rows_computed"]) == (6, 2)
    old, new = load_embeddings(project, first["version"]), load_embeddings(project)
    np.testing.assert_array_equal(new.vectors[:6], old.vectors)
    np.testing.assert_allclose(new.vectors[7], _alone(project, tiny_model, int(new.ids[7])),
                               atol=1e-6)


def test_embedding_again_when_nothing_changed_makes_no_new_version(
        project: Project, tmp_path: Path, tiny_model: ModelRef, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _images(project, tmp_path / "imgs", 5)
    first = embed_project(project, tiny_model)
    assert first["up_to_date"] is False

    def no_decode(*_a: object, **_k: object) -> None:
        raise AssertionError("an up-to-date version must not be embedded again")

    with monkeypatch.context() as m:
        m.setattr("classkit.engine.embed.job.decoded_batches", no_decode)
        again = embed_project(project, tiny_model)
    assert again["up_to_date"] is True and again["version"] == first["version"]
    assert (again["count"], again["ok"], again["failed"], again["dim"]) == (5, 5, 0, DIM)
    assert [v["version"] for v in list_embedding_versions(project)] == [first["version"]]
    # a changed dtype, an explicit recompute, or a changed image each make a new version
    assert embed_project(project, tiny_model, fp16=True)["up_to_date"] is False
    use_embeddings(project, first["version"])
    fresh = embed_project(project, tiny_model, reuse=False)
    assert fresh["up_to_date"] is False and fresh["rows_computed"] == 5
    path = project.db.execute("SELECT path FROM images WHERE id=?", (ids[0],)).fetchone()[0]
    make_image(Path(project.paths.resolve(path)), seed=99)
    _ingest(project, tmp_path / "imgs")
    changed = embed_project(project, tiny_model)
    assert changed["up_to_date"] is False and changed["rows_computed"] == 1
    assert len(list_embedding_versions(project)) == 4


def test_a_version_with_failed_rows_is_retried(project: Project, tmp_path: Path,
                                               tiny_model: ModelRef, monkeypatch: pytest.MonkeyPatch) -> None:
    # a read that failed once (a network share that dropped, say), then works again
    from classkit.engine.embed import job

    ids = _images(project, tmp_path / "imgs", 4)
    flaky = str(project.paths.resolve(
        project.db.execute("SELECT path FROM images WHERE id=?", (ids[1],)).fetchone()[0]))
    real = job.decoded_batches

    def failing_once(batches: list, items: Callable, **kw: object) -> Iterator:
        for batch, arr, issues in real(batches, items, **kw):
            paths = [group[0][0] for group in items(batch)]
            yield batch, arr, [{"reason": "unreadable", "detail": "share dropped"} if p == flaky
                               else i for p, i in zip(paths, issues, strict=True)]

    with monkeypatch.context() as m:
        m.setattr(job, "decoded_batches", failing_once)
        first = embed_project(project, tiny_model)
    assert first["failed"] == 1
    retry = embed_project(project, tiny_model)
    assert retry["up_to_date"] is False and retry["version"] != first["version"]
    assert retry["failed"] == 0 and retry["rows_computed"] == 1 and retry["rows_reused"] == 3


def test_fp16_and_switching_versions(project: Project, tmp_path: Path,
                                     tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 5)
    v32 = embed_project(project, tiny_model)["version"]
    v16 = embed_project(project, tiny_model, fp16=True)["version"]
    half = load_embeddings(project)
    assert half.version == v16 and half.vectors.dtype == np.float16
    assert half.manifest["dtype"] == "float16"
    full = load_embeddings(project, v32)
    np.testing.assert_allclose(half.vectors.astype(np.float32), full.vectors, atol=1e-3)
    versions = list_embedding_versions(project)
    assert [v["version"] for v in versions] == [v32, v16]
    assert [v["is_current"] for v in versions] == [False, True]
    assert versions[0]["model"] == "tiny" and versions[0]["count"] == 5
    assert use_embeddings(project, v32).version == v32
    assert current_embeddings(project).version == v32
    assert load_embeddings(project, v16).vectors.dtype == np.float16  # older stays usable
    with pytest.raises(ClassKitError, match="no finished embedding version 'nope'"):
        use_embeddings(project, "nope")
    assert current_embeddings(project).version == v32


def test_empty_project_and_bad_arguments(project: Project, tiny_model: ModelRef) -> None:
    assert current_embeddings(project) is None
    with pytest.raises(ClassKitError, match="no images yet: add them with `classkit ingest"):
        load_embeddings(project)  # an empty project: the step before embedding is named
    with pytest.raises(ClassKitError, match="no images to embed"):
        embed_project(project, tiny_model)
    with pytest.raises(ClassKitError, match="batch_size"):
        embed_project(project, tiny_model, batch_size=0)


def test_overlapped_and_alternating_decode_agree(project: Project, tmp_path: Path,
                                                 tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 11)
    a = embed_project(project, tiny_model, batch_size=2, decode_workers=3, overlap=True,
                      reuse=False)
    b = embed_project(project, tiny_model, batch_size=3, decode_workers=1, overlap=False,
                      reuse=False)
    assert (a["rows_computed"], b["rows_computed"]) == (11, 11)
    np.testing.assert_allclose(load_embeddings(project, a["version"]).vectors,
                               load_embeddings(project, b["version"]).vectors, atol=1e-6)
    assert load_embeddings(project, a["version"]).manifest["overlap"] is True


# ------------------------------------------------------------------ the bundled model
def _crops(folder: Path) -> dict[str, str]:
    """Three classes (three skimage photos), six random crops/flips each: {file: class}."""
    import skimage.data

    rng = np.random.default_rng(0)
    out = {}
    for name in ("astronaut", "chelsea", "coffee"):
        photo = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        w, h = photo.size
        for i in range(6):
            cw, ch = int(w * rng.uniform(0.55, 0.85)), int(h * rng.uniform(0.55, 0.85))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = photo.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(folder / f"{name}_{i}.jpg", quality=90)
            out[f"{name}_{i}.jpg"] = name
    return out


def test_bundled_model_groups_same_class_neighbours(project: Project, tmp_path: Path) -> None:
    models = builtin_models()
    if not models:
        pytest.skip("no bundled embedder in models/registry.json yet (the default model is "
                    "built separately); a random-weight model says nothing about semantics")
    folder = tmp_path / "photos"
    folder.mkdir()
    classes = _crops(folder)
    _ingest(project, folder)
    embed_project(project, models[0])
    emb = load_embeddings(project)
    names = [classes[Path(r["path"]).name] for r in
             project.db.execute("SELECT path FROM images ORDER BY id")]
    sims = np.asarray(emb.vectors, np.float32) @ np.asarray(emb.vectors, np.float32).T
    np.fill_diagonal(sims, -np.inf)
    hits = [names[int(np.argmax(sims[i]))] == names[i] for i in range(len(names))]
    assert np.mean(hits) >= 0.9, f"nearest neighbour in the same class for only {np.mean(hits):.0%}"


def test_manifest_is_json_and_folder_layout(project: Project, tmp_path: Path,
                                            tiny_model: ModelRef) -> None:
    _images(project, tmp_path / "imgs", 3)
    folder = Path(embed_project(project, tiny_model)["path"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "embeddings.npy", "ids.npy", "keys.npy", "manifest.json", "status.npy"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == folder.name and manifest["fingerprint"]["preprocess"] >= 1
    shutil.rmtree(folder)  # a deleted version fails loudly, not silently
    with pytest.raises(ClassKitError, match="damaged"):
        load_embeddings(project)


def test_map_reads_float16_rows_as_stored(project: Project, tmp_path: Path, tiny_model: ModelRef,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the map widens only the rows it fits (a float32 copy of 1M x 1584 halves is 6.3 GB)
    from classkit.engine.similarity import project_layer

    _images(project, tmp_path / "imgs", 6)
    embed_project(project, tiny_model, fp16=True)
    seen: list[np.dtype] = []

    def spy(X: np.ndarray, **_kw: object) -> np.ndarray:
        seen.append(X.dtype)
        return np.zeros((X.shape[0], 2), np.float32)

    monkeypatch.setattr(project_layer, "compute_map", spy)
    assert project_layer.compute_project_map(project)["count"] == 6
    assert seen == [np.float16]
