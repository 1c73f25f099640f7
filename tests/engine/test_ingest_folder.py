"""Folder ingest: what is found, what is recorded, duplicates, re-ingest, changes, cancel."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.ingest import ingest, pipeline
from classkit.engine.ingest.probe import hash_bytes
from classkit.engine.jobs import CancelToken
from classkit.engine.project import Project
from tests.conftest import make_image

ONE = IngestConfig(workers=1)


def _rows(project: Project) -> dict[str, dict]:
    return {r["path"]: dict(r) for r in project.db.execute("SELECT * FROM images")}


def _spy_probe(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every path handed to the probe (inline runs only)."""
    seen: list[str] = []
    real = pipeline.probe_many

    def spy(paths: list[str], *args: object) -> list[dict]:
        seen.extend(paths)
        return real(paths, *args)

    monkeypatch.setattr(pipeline, "probe_many", spy)
    return seen


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Images in nested folders with every accepted extension in mixed case, plus noise."""
    top = tmp_path / "data"
    make_image(top / "a.jpg", seed=1)
    make_image(top / "B.JPG", seed=2, fmt="JPEG")
    make_image(top / "c.Jpeg", seed=3, fmt="JPEG")
    make_image(top / "sub" / "d.png", seed=4)
    make_image(top / "sub" / "e.PNG", seed=5, fmt="PNG")
    make_image(top / "sub" / "deeper" / "f.webp", seed=6)
    make_image(top / "sub" / "deeper" / "g.WebP", seed=7, fmt="WEBP")
    make_image(top / "h.bmp", seed=8)
    make_image(top / "i.tif", seed=9)
    make_image(top / "j.Tiff", seed=10, fmt="TIFF")
    make_image(top / "k.TIF", seed=11, fmt="TIFF")
    (top / "notes.txt").write_text("hello")
    (top / "data.csv").write_text("a,b\n")
    make_image(top / "anim.gif", seed=12)  # a real image, but not an accepted extension
    (top / "README").write_text("no extension")
    (top / "sub" / "clip.mp4").write_bytes(b"\0" * 10)
    return top


EXPECTED = {"a.jpg": "JPEG", "B.JPG": "JPEG", "c.Jpeg": "JPEG", "sub/d.png": "PNG",
            "sub/e.PNG": "PNG", "sub/deeper/f.webp": "WEBP", "sub/deeper/g.WebP": "WEBP",
            "h.bmp": "BMP", "i.tif": "TIFF", "j.Tiff": "TIFF", "k.TIF": "TIFF"}


def test_recursive_any_case_others_ignored(project: Project, tree: Path) -> None:
    summary = ingest(project, [tree], config=ONE)
    assert summary["status"] == "done"
    assert summary["found"] == summary["added"] == len(EXPECTED)
    assert summary["issues"] == 0 and summary["issues_by_reason"] == {}
    rows = _rows(project)
    assert set(rows) == {str(tree / rel) for rel in EXPECTED}
    for rel, fmt in EXPECTED.items():
        row = rows[str(tree / rel)]
        data = (tree / rel).read_bytes()
        assert row["format"] == fmt, rel
        assert row["content_hash"] == hash_bytes(data)
        assert row["file_size"] == len(data)
        assert row["mtime_ns"] == (tree / rel).stat().st_mtime_ns
        assert (row["width"], row["height"]) == (64, 48)
        assert row["kind"] == "file"
        assert json.loads(row["origin"]) == {"relpath": rel}
        assert row["duplicate_of"] is None and row["prev_hash"] is None
    # the source is recorded once, and the video gets a hint
    (src,) = project.db.execute("SELECT * FROM sources").fetchall()
    assert (src["kind"], src["path"]) == ("folder", str(tree))
    assert any("video" in h for h in summary["hints"])
    run = project.db.execute("SELECT * FROM ingest_runs").fetchone()
    assert run["status"] == "done" and run["finished_at"] >= run["started_at"]
    assert json.loads(run["summary"])["added"] == len(EXPECTED)


def test_dimensions_follow_exif_orientation(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "rot"
    make_image(top / "o1.jpg", size=(80, 30), exif_orientation=1)
    make_image(top / "o3.jpg", size=(80, 30), exif_orientation=3)
    make_image(top / "o6.jpg", size=(80, 30), exif_orientation=6)
    make_image(top / "o8.jpg", size=(80, 30), exif_orientation=8)
    make_image(top / "o6.webp", size=(80, 30), exif_orientation=6)
    make_image(top / "gray.png", size=(7, 5), mode="L")
    make_image(top / "rgba.png", size=(9, 11), mode="RGBA")
    make_image(top / "pal.bmp", size=(13, 3), mode="P")
    ingest(project, [top], config=ONE)
    dims = {Path(p).name: (r["width"], r["height"]) for p, r in _rows(project).items()}
    assert dims == {"o1.jpg": (80, 30), "o3.jpg": (80, 30), "o6.jpg": (30, 80),
                    "o8.jpg": (30, 80), "o6.webp": (30, 80), "gray.png": (7, 5),
                    "rgba.png": (9, 11), "pal.bmp": (13, 3)}


def test_exact_duplicates_link_to_first(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "dups"
    original = make_image(top / "a.png", seed=1)
    for name in ("b.png", "sub/c.png", "d.PNG"):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_bytes(original.read_bytes())
    make_image(top / "other.png", seed=2)
    summary = ingest(project, [top], config=ONE)
    assert summary["duplicates"] == 3
    rows = _rows(project)
    first = rows[str(top / "a.png")]
    assert first["duplicate_of"] is None
    for name in ("b.png", "sub/c.png", "d.PNG"):
        assert rows[str(top / name)]["duplicate_of"] == first["id"], name
    assert rows[str(top / "other.png")]["duplicate_of"] is None
    assert project.counts()["duplicates"] == 3
    # a duplicate found in a later run links to the same first image
    (top / "later.png").write_bytes(original.read_bytes())
    ingest(project, [top], config=ONE)
    assert _rows(project)[str(top / "later.png")]["duplicate_of"] == first["id"]


def test_reingest_adds_nothing_and_reads_nothing(project: Project, tree: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(project, [tree], config=ONE)
    before = _rows(project)
    seen = _spy_probe(monkeypatch)
    summary = ingest(project, [tree], config=ONE)
    assert summary["added"] == 0 and summary["changed"] == 0
    assert summary["unchanged"] == summary["found"] == len(EXPECTED)
    assert seen == []  # no file was opened again
    assert _rows(project) == before
    assert project.counts()["sources"] == 1
    assert project.db.execute("SELECT COUNT(*) FROM ingest_runs").fetchone()[0] == 2


def test_new_file_in_known_folder_is_the_only_one_read(project: Project, tree: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ingest(project, [tree], config=ONE)
    seen = _spy_probe(monkeypatch)
    make_image(tree / "sub" / "new.png", seed=99)
    summary = ingest(project, [tree], config=ONE)
    assert (summary["added"], summary["unchanged"]) == (1, len(EXPECTED))
    assert seen == [str(tree / "sub" / "new.png")]


def test_changed_file_is_noticed_and_labels_kept(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "chg"
    target = make_image(top / "a.png", seed=1)
    make_image(top / "b.png", seed=2)
    ingest(project, [top], config=ONE)
    row = _rows(project)[str(target)]
    with project.transaction() as con:
        con.execute("INSERT INTO label_events(image_id, label, source, created_at) "
                    "VALUES (?, 'cat', 'manual', 1)", (row["id"],))
    make_image(target, seed=42, size=(30, 20))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    summary = ingest(project, [top], config=ONE)
    assert (summary["changed"], summary["added"], summary["unchanged"]) == (1, 0, 1)
    new = _rows(project)[str(target)]
    assert new["id"] == row["id"]
    assert new["prev_hash"] == row["content_hash"]
    assert new["content_hash"] == hash_bytes(target.read_bytes()) != row["content_hash"]
    assert new["changed_at"] is not None and new["changed_at"] >= row["added_at"]
    assert (new["width"], new["height"]) == (30, 20)
    label = project.db.execute("SELECT label FROM current_labels WHERE image_id=?",
                               (row["id"],)).fetchone()
    assert label["label"] == "cat"


def test_touched_but_identical_file_is_unchanged(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "touch"
    target = make_image(top / "a.png", seed=1)
    ingest(project, [top], config=ONE)
    os.utime(target, ns=(time.time_ns(), target.stat().st_mtime_ns + 10**9))
    summary = ingest(project, [top], config=ONE)
    assert (summary["changed"], summary["unchanged"], summary["added"]) == (0, 1, 0)
    assert _rows(project)[str(target)]["mtime_ns"] == target.stat().st_mtime_ns
    assert _rows(project)[str(target)]["prev_hash"] is None


def test_changed_canonical_relinks_remaining_duplicates(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "relink"
    a = make_image(top / "a.png", seed=1)
    for name in ("b.png", "c.png", "d.png"):
        (top / name).write_bytes(a.read_bytes())
    ingest(project, [top], config=ONE)
    make_image(a, seed=50)  # the canonical copy changes content
    os.utime(a, ns=(time.time_ns(), a.stat().st_mtime_ns + 10**9))
    ingest(project, [top], config=ONE)
    rows = _rows(project)
    b_id = rows[str(top / "b.png")]["id"]
    assert rows[str(a)]["duplicate_of"] is None
    assert rows[str(top / "b.png")]["duplicate_of"] is None  # the new first of the group
    assert rows[str(top / "c.png")]["duplicate_of"] == b_id
    assert rows[str(top / "d.png")]["duplicate_of"] == b_id
    assert project.counts()["duplicates"] == 2


def test_file_changed_into_a_duplicate(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "into"
    a = make_image(top / "a.png", seed=1)
    b = make_image(top / "b.png", seed=2)
    ingest(project, [top], config=ONE)
    b.write_bytes(a.read_bytes())
    os.utime(b, ns=(time.time_ns(), b.stat().st_mtime_ns + 10**9))
    summary = ingest(project, [top], config=ONE)
    assert summary["changed"] == 1 and summary["duplicates"] == 1
    rows = _rows(project)
    assert rows[str(b)]["duplicate_of"] == rows[str(a)]["id"]


def test_hidden_files_and_folders_skipped(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "hid"
    make_image(top / "visible.png", seed=1)
    make_image(top / ".hidden.png", seed=2)
    make_image(top / ".cache" / "inner.png", seed=3)
    make_image(top / "sub" / "._resource.jpg", seed=4)
    summary = ingest(project, [top], config=ONE)
    assert summary["found"] == summary["added"] == 1
    assert set(_rows(project)) == {str(top / "visible.png")}


def test_odd_paths(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "odd folder ü"
    names = ["with space.jpg", "ünïcødé_猫.png", 'quote"double.png', "quote'single.jpg",
             "hash#tag.png", "semi;colon,comma.jpg", "pct%20.png", "tab\there.png",
             "back\\slash.png", "-leading-dash.png", "sub dir/ü ä/😀.webp"]
    for i, name in enumerate(names):
        make_image(top / name, seed=i)
    summary = ingest(project, [top], config=ONE)
    assert summary["added"] == len(names) and summary["issues"] == 0
    assert set(_rows(project)) == {str(top / n) for n in names}
    for stored in _rows(project):
        assert project.paths.resolve(stored).is_file()
    again = ingest(project, [top], config=ONE)
    assert (again["added"], again["unchanged"]) == (0, len(names))


def test_images_inside_project_are_relative(project: Project) -> None:
    inbox = project.root / "inbox"
    make_image(inbox / "x" / "a.png")
    ingest(project, [inbox], config=ONE)
    assert set(_rows(project)) == {"inbox/x/a.png"}
    assert project.db.execute("SELECT path FROM sources").fetchone()[0] == "inbox"


def test_imagefolder_like_folder_gets_hint(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "looks_labelled"
    make_image(top / "cat" / "1.png", seed=1)
    make_image(top / "dog" / "2.png", seed=2)
    summary = ingest(project, [top], config=ONE)
    assert any("--kind imagefolder" in h for h in summary["hints"])
    assert project.counts()["labeled"] == 0  # a plain folder never invents labels


def test_missing_source_and_bad_kind(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ClassKitError, match="not found"):
        ingest(project, [tmp_path / "nope"])
    with pytest.raises(ClassKitError, match="unknown source kind"):
        ingest(project, [tmp_path], kind="zip")
    with pytest.raises(ClassKitError, match="no sources"):
        ingest(project, [])
    assert project.db.execute("SELECT COUNT(*) FROM ingest_runs").fetchone()[0] == 0


# ----------------------------------------------------------------- progress and cancel
def _many(top: Path, n: int) -> Path:
    for i in range(n):
        make_image(top / f"img{i:03d}.png", size=(16, 12), seed=i)
    return top


def test_progress_reaches_total(project: Project, tmp_path: Path) -> None:
    top = _many(tmp_path / "many", 40)
    calls: list[tuple[int, int]] = []
    ingest(project, [top], config=ONE, progress=lambda d, t, m="": calls.append((d, t)))
    probe_calls = [c for c in calls if c[1] == 40]
    assert probe_calls[0] == (0, 40) and probe_calls[-1] == (40, 40)
    dones = [d for d, _ in probe_calls]
    assert dones == sorted(dones)


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_from_progress_keeps_committed_and_resumes(project: Project, tmp_path: Path,
                                                          workers: int) -> None:
    n = 100 if workers == 1 else 230  # 8 chunks: the pool cannot finish them all at once
    top = _many(tmp_path / "many", n)
    token = CancelToken()

    def progress(done: int, total: int, msg: str = "") -> None:
        if total == n and done >= 32:
            token.cancel()

    with pytest.raises(Cancelled):
        ingest(project, [top], config=IngestConfig(workers=workers), progress=progress,
               cancel=token)
    run = project.db.execute("SELECT * FROM ingest_runs").fetchone()
    assert run["status"] == "cancelled" and run["finished_at"] is not None
    assert json.loads(run["summary"])["status"] == "cancelled"
    committed = project.counts()["images"]
    assert 32 <= committed < n
    if workers == 1:
        assert committed == 32  # exactly the first chunk
    summary = ingest(project, [top], config=IngestConfig(workers=workers))
    assert summary["status"] == "done"
    assert summary["added"] == n - committed
    assert summary["unchanged"] == committed
    assert project.counts()["images"] == n


def test_cancel_before_start(project: Project, tmp_path: Path) -> None:
    top = _many(tmp_path / "few", 3)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ingest(project, [top], config=ONE, cancel=token)
    assert project.counts()["images"] == 0
    assert project.db.execute("SELECT status FROM ingest_runs").fetchone()[0] == "cancelled"


def test_parallel_ingest_matches_inline(tmp_path: Path) -> None:
    top = _many(tmp_path / "many", 60)
    (top / "bad.png").write_text("nope")
    results = []
    for workers in (1, 2):
        with Project.create(tmp_path / f"p{workers}") as p:
            s = ingest(p, [top], config=IngestConfig(workers=workers))
            results.append((s["added"], s["issues_by_reason"],
                            {r["path"]: (r["content_hash"], r["width"]) for r in
                             p.db.execute("SELECT * FROM images")}))
    assert results[0] == results[1]
    assert results[0][0] == 60 and results[0][1] == {"not_an_image": 1}


def test_real_image_content_is_decodable(tmp_path: Path) -> None:
    # sanity check of the fixture helper the other tests rely on
    p = make_image(tmp_path / "x.tiff", size=(10, 7), fmt="TIFF")
    with Image.open(p) as im:
        assert im.size == (10, 7) and im.format == "TIFF"


def test_project_inside_data_folder_skips_its_own_files(tmp_path: Path) -> None:
    """`classkit init data/proj; classkit ingest data/proj data`: thumbnails, frames and
    artifacts the project wrote must not come back in as new images."""
    data = tmp_path / "data"
    make_image(data / "a.png", seed=1)
    with Project.create(data / "proj") as p:
        make_image(p.root / "inbox" / "mine.png", seed=2)  # the user's own files are fine
        ingest(p, [data], config=ONE)
        for sub in ("cache/thumbs/1.jpg", "media/source-9/f.jpg", "runs/classkit/x/v/p.png",
                    "logs/shot.png", "state/s.png"):
            make_image(p.root / sub, seed=3)
        summary = ingest(p, [data], config=ONE)
        assert summary["added"] == 0 and summary["issues"] == 0
        assert set(_rows(p)) == {str(data / "a.png"), "inbox/mine.png"}
        # ingesting a managed folder by name still works (the user asked for it)
        assert ingest(p, [p.root / "cache"], config=ONE)["added"] == 1


def test_single_image_file_is_a_source(project, tmp_path) -> None:
    img = make_image(tmp_path / "one shot.JPG", seed=3)
    summary = ingest(project, [img])
    assert summary["sources"][0]["kind"] == "folder"
    assert summary["added"] == 1
    assert ingest(project, [img])["unchanged"] == 1
