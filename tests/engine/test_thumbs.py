"""The thumbnail cache: sizes, orientation, modes, sharing, lazy builds, the job, pruning."""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from classkit.engine.config import IngestConfig
from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.ingest import ingest
from classkit.engine.jobs import CancelToken
from classkit.engine.project import Project
from classkit.engine.thumbs import (build_thumbnails, cache_size_bytes, fit_size,
                                    get_thumbnail, make_thumbnail, prune_thumbnails,
                                    thumbnail_path, thumbs_root)
from classkit.engine.thumbs import prune as prune_mod
from tests.conftest import make_image

ONE_WORKER = IngestConfig(workers=1)


def _ingest(project: Project, folder: Path, expected: int) -> dict[str, int]:
    """Ingest ``folder``; returns {file name: image id}."""
    summary = ingest(project, [folder], config=ONE_WORKER)
    assert summary["issues"] == 0, summary["issue_examples"]
    rows = project.db.execute("SELECT id, path FROM images").fetchall()
    assert len(rows) == expected
    return {Path(r["path"]).name: r["id"] for r in rows}


def _jpeg(path: Path) -> Image.Image:
    with Image.open(path) as im:
        assert im.format == "JPEG"
        im.load()
        return im.copy()


def _thumb_files(project: Project) -> list[Path]:
    return sorted(thumbs_root(project).rglob("*.jpg"))


# --------------------------------------------------------------------------- rendering
def test_fit_size_keeps_aspect_and_never_upscales() -> None:
    assert fit_size(640, 480, 256) == (256, 192)
    assert fit_size(300, 900, 256) == (85, 256)
    assert fit_size(100, 50, 256) == (100, 50)
    assert fit_size(5000, 3, 256) == (256, 1)


def test_sizes_longest_side_and_no_upscale(project: Project, tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    make_image(src / "wide.jpg", size=(640, 480), seed=1)
    make_image(src / "tall.png", size=(300, 900), seed=2)
    make_image(src / "small.webp", size=(100, 50), seed=3, fmt="WEBP")
    ids = _ingest(project, src, 3)
    assert _jpeg(get_thumbnail(project, ids["wide.jpg"])).size == (256, 192)
    assert _jpeg(get_thumbnail(project, ids["tall.png"])).size == (85, 256)
    assert _jpeg(get_thumbnail(project, ids["small.webp"])).size == (100, 50)
    small = get_thumbnail(project, ids["wide.jpg"], size=64)
    assert small.parent.parent.name == "64"
    assert _jpeg(small).size == (64, 48)
    # layout: cache/thumbs/<size>/<2 hex>/<32 hex>.jpg keyed by the content hash
    h = project.db.execute("SELECT content_hash FROM images WHERE id=?",
                           (ids["wide.jpg"],)).fetchone()[0].split(":")[1]
    assert thumbnail_path(project, ids["wide.jpg"]) == (
        project.root / "cache" / "thumbs" / "256" / h[:2] / f"{h}.jpg")


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_applied(project: Project, tmp_path: Path, orientation: int) -> None:
    path = make_image(tmp_path / "imgs" / "o.jpg", size=(400, 200), seed=4,
                      exif_orientation=orientation)
    ids = _ingest(project, tmp_path / "imgs", 1)
    thumb = _jpeg(get_thumbnail(project, ids["o.jpg"]))
    with Image.open(path) as im:
        ref = ImageOps.exif_transpose(im).convert("RGB")
    assert thumb.size == fit_size(*ref.size, 256)
    assert thumb.size == ((128, 256) if orientation in (6, 8) else (256, 128))
    ref = ref.resize(thumb.size, Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(thumb, np.float32) - np.asarray(ref, np.float32)).mean()
    assert diff < 12, diff  # same picture, same way up (only JPEG noise differs)


def _special_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    make_image(folder / "rgba.png", size=(300, 200), seed=5, mode="RGBA")
    rgba = Image.new("RGBA", (300, 200), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((0, 0, 255, 255), (0, 0, 150, 200))  # left half opaque blue
    rgba.save(folder / "half.png")
    p = Image.new("P", (120, 80), 0)
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.paste(1, (0, 0, 60, 80))
    p.save(folder / "palette.png", transparency=0)
    make_image(folder / "la.png", size=(90, 60), seed=6, mode="LA")
    make_image(folder / "grey.bmp", size=(80, 80), seed=7, mode="L", fmt="BMP")
    ramp = np.tile(np.linspace(1000, 4000, 500), (300, 1)).astype(np.uint16)  # 12-bit data
    Image.fromarray(ramp).save(folder / "sixteen.tif")
    Image.fromarray(ramp).save(folder / "sixteen.png")
    make_image(folder / "cmyk.tif", size=(320, 160), seed=8, mode="CMYK", fmt="TIFF")
    make_image(folder / "cmyk.jpg", size=(320, 160), seed=9, mode="CMYK", fmt="JPEG")


def test_all_modes_become_rgb_jpegs(project: Project, tmp_path: Path) -> None:
    _special_images(tmp_path / "imgs")
    ids = _ingest(project, tmp_path / "imgs", 9)
    expect = {"rgba.png": (256, 171), "half.png": (256, 171), "palette.png": (120, 80),
              "la.png": (90, 60), "grey.bmp": (80, 80), "sixteen.tif": (256, 154),
              "sixteen.png": (256, 154), "cmyk.tif": (256, 128), "cmyk.jpg": (256, 128)}
    thumbs = {name: _jpeg(get_thumbnail(project, i)) for name, i in ids.items()}
    for name, im in thumbs.items():
        assert im.mode == "RGB", name
        assert im.size == expect[name], name
    half = np.asarray(thumbs["half.png"], np.int16)
    assert np.abs(half[:, :100] - (0, 0, 255)).max() < 40  # opaque part kept
    assert np.abs(half[:, -100:] - (128, 128, 128)).max() < 40  # neutral grey, not red/black
    pal = np.asarray(thumbs["palette.png"], np.int16)
    assert np.abs(pal[:, 70:] - (128, 128, 128)).max() < 40  # transparent index
    assert np.abs(pal[:, :50] - (0, 255, 0)).max() < 40
    sixteen = np.asarray(thumbs["sixteen.tif"].convert("L"), np.int16)
    assert sixteen[:, :5].mean() < 20 and sixteen[:, -5:].mean() > 235  # stretched, not black


# --------------------------------------------------------------------------- lazy access
def test_identical_files_share_one_thumbnail(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a" / "x.jpg", size=(300, 300), seed=10)
    make_image(tmp_path / "imgs" / "b" / "y.jpg", size=(300, 300), seed=10)
    ids = _ingest(project, tmp_path / "imgs", 2)
    assert thumbnail_path(project, ids["x.jpg"]) == thumbnail_path(project, ids["y.jpg"])
    summary = build_thumbnails(project, workers=1)
    assert (summary["total"], summary["built"], summary["files_written"]) == (2, 2, 1)
    assert len(_thumb_files(project)) == 1


def test_get_thumbnail_builds_once(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "a.jpg", size=(500, 400), seed=11)
    ids = _ingest(project, tmp_path / "imgs", 1)
    out = thumbnail_path(project, ids["a.jpg"])
    assert not out.exists()
    assert get_thumbnail(project, ids["a.jpg"]) == out
    first = out.stat().st_mtime_ns
    assert get_thumbnail(project, ids["a.jpg"]) == out
    assert out.stat().st_mtime_ns == first
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp file left


def test_get_thumbnail_errors(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "gone.jpg", size=(64, 64), seed=12)
    make_image(tmp_path / "imgs" / "edited.jpg", size=(64, 64), seed=13)
    ids = _ingest(project, tmp_path / "imgs", 2)
    with pytest.raises(ClassKitError, match="no image with id 999"):
        get_thumbnail(project, 999)
    (tmp_path / "imgs" / "gone.jpg").unlink()
    with pytest.raises(ClassKitError, match="missing"):
        get_thumbnail(project, ids["gone.jpg"])
    (tmp_path / "imgs" / "edited.jpg").write_bytes(b"not a jpeg any more")
    with pytest.raises(ClassKitError, match="changed since ingest"):
        get_thumbnail(project, ids["edited.jpg"])
    assert _thumb_files(project) == []


def test_make_thumbnail_reports_undecodable_data(tmp_path: Path) -> None:
    import xxhash

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage" * 50)
    out = tmp_path / "t" / f"{xxhash.xxh3_128_hexdigest(bad.read_bytes())}.jpg"
    res = make_thumbnail(str(bad), str(out), 64, 90)
    assert not res["ok"] and res["reason"] in ("not_an_image", "corrupt", "truncated")
    assert not out.exists()


def test_concurrent_get_thumbnail_same_id(project: Project, tmp_path: Path) -> None:
    make_image(tmp_path / "imgs" / "big.png", size=(1600, 1200), seed=14)
    ids = _ingest(project, tmp_path / "imgs", 1)
    barrier = threading.Barrier(8)
    results: list[Path | BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(get_thumbnail(project, ids["big.png"]))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1, results
    with Image.open(results[0]) as im:
        im.verify()
    assert _jpeg(results[0]).size == (256, 192)
    assert len(list(results[0].parent.iterdir())) == 1


# --------------------------------------------------------------------------- the job
def test_build_thumbnails_counts_and_rerun(project: Project, tmp_path: Path) -> None:
    for i in range(6):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(320, 240), seed=100 + i)
    ids = _ingest(project, tmp_path / "imgs", 6)
    seen: list[tuple[int, int]] = []
    first = build_thumbnails(project, workers=1, progress=lambda d, t, m="": seen.append((d, t)))
    assert {k: first[k] for k in ("size", "total", "built", "skipped_existing", "failed")} == {
        "size": 256, "total": 6, "built": 6, "skipped_existing": 0, "failed": 0}
    assert first["failures"] == [] and first["per_s"] > 0 and seen[-1] == (6, 6)
    assert all(thumbnail_path(project, i).is_file() for i in ids.values())
    again = build_thumbnails(project, workers=1)
    assert (again["built"], again["skipped_existing"]) == (0, 6)
    forced = build_thumbnails(project, workers=1, only_missing=False)
    assert (forced["built"], forced["skipped_existing"]) == (6, 0)
    other = build_thumbnails(project, size=48, workers=1)
    assert other["built"] == 6 and _jpeg(thumbnail_path(project, ids["0.jpg"], 48)).size == (48, 36)


def test_build_thumbnails_vanished_source_fails_alone(project: Project, tmp_path: Path) -> None:
    for i in range(5):
        make_image(tmp_path / "imgs" / f"{i}.png", size=(200, 100), seed=200 + i)
    ids = _ingest(project, tmp_path / "imgs", 5)
    (tmp_path / "imgs" / "2.png").unlink()
    summary = build_thumbnails(project, workers=1, chunk_size=2)
    assert (summary["built"], summary["failed"]) == (4, 1)
    (failure,) = summary["failures"]
    assert failure["image_id"] == ids["2.png"] and failure["reason"] == "missing"
    assert failure["path"].endswith("2.png")


def test_build_thumbnails_in_worker_processes(project: Project, tmp_path: Path) -> None:
    for i in range(50):  # at least parallel.INLINE_BELOW items, so a pool really runs
        make_image(tmp_path / "imgs" / f"{i:02d}.jpg", size=(64, 48), seed=300 + i)
    _ingest(project, tmp_path / "imgs", 50)
    summary = build_thumbnails(project, workers=2, chunk_size=8)
    assert (summary["built"], summary["failed"]) == (50, 0)
    assert len(_thumb_files(project)) == 50


def test_cancel_keeps_what_was_built(project: Project, tmp_path: Path) -> None:
    for i in range(6):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(100, 80), seed=400 + i)
    _ingest(project, tmp_path / "imgs", 6)
    token = CancelToken()

    def progress(done: int, total: int, msg: str = "") -> None:
        if done >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        build_thumbnails(project, workers=1, chunk_size=2, progress=progress, cancel=token)
    assert len(_thumb_files(project)) == 2
    rest = build_thumbnails(project, workers=1)
    assert (rest["built"], rest["skipped_existing"]) == (4, 2)


# --------------------------------------------------------------------------- pruning
def test_prune_orphans_and_lru(project: Project, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(200, 200), seed=500 + i)
    ids = _ingest(project, tmp_path / "imgs", 6)
    build_thumbnails(project, workers=1)
    root = thumbs_root(project)
    orphan = root / "256" / "ab" / ("ab" + "0" * 30 + ".jpg")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"x" * 100)
    keep_foreign = [root / "README.txt", project.root / "cache" / "other.bin"]
    for p in keep_foreign:
        p.write_bytes(b"y" * 10)
    stale_tmp, fresh_tmp = (orphan.parent / f".{'ab' * 16}.jpg.{tag}.tmp" for tag in "xy")
    stale_tmp.write_bytes(b"z")
    fresh_tmp.write_bytes(b"z")  # a writer may still be busy with this one
    os.utime(stale_tmp, (1_000_000_000, 1_000_000_000))
    files = {n: thumbnail_path(project, i) for n, i in ids.items()}
    for age, name in enumerate(sorted(files)):  # 0.jpg oldest ... 5.jpg newest
        t = 1_000_000_000 + age * 1000
        os.utime(files[name], (t, t))
    total = sum(p.stat().st_size for p in files.values())
    assert cache_size_bytes(project) == total + 100 + 10 + 2

    roomy = prune_thumbnails(project)  # default 4096 MB: only the orphan and stale temp go
    assert (roomy["removed_orphans"], roomy["removed_temp"], roomy["removed_lru"]) == (1, 1, 0)
    assert not orphan.exists() and not stale_tmp.exists() and fresh_tmp.exists()
    assert all(p.exists() for p in files.values())
    fresh_tmp.unlink()

    monkeypatch.setattr(prune_mod, "MIB", 1)  # let max_mb count bytes for this test
    newest3 = sum(files[n].stat().st_size for n in ("3.jpg", "4.jpg", "5.jpg"))
    res = prune_thumbnails(project, max_mb=newest3 + 10)
    assert res["removed_lru"] == 3 and res["bytes_after"] <= newest3 + 10
    assert [n for n in sorted(files) if files[n].exists()] == ["3.jpg", "4.jpg", "5.jpg"]

    res = prune_thumbnails(project, max_mb=0)
    assert res["kept"] == 0 and not any(p.exists() for p in files.values())
    assert all(p.exists() for p in keep_foreign)  # never touches files that are not ours
    # the cache is disposable: thumbnails come back on demand
    assert get_thumbnail(project, ids["0.jpg"]).is_file()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_oriented_raw_tiff_by_path_is_not_scrambled(tmp_path: Path, mode: str, orientation: int) -> None:
    """Pillow 13 memory-maps a single-strip raw TIFF opened by path and, for orientations
    5-8, reads it at the transposed size: thumbnails and model input must decode it as from
    bytes (upright, pixels intact), for both the thumbnail and the embedding path."""
    from classkit.engine.embed.preprocess import load_image
    from classkit.engine.thumbs.render import render

    a = (np.arange(40 * 60).reshape(40, 60) % 251).astype(np.uint8)
    im = Image.fromarray(a, "L").convert(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.tif"
    im.save(path, exif=exif)
    data = path.read_bytes()
    by_path, by_bytes = render(str(path), 256), render(io.BytesIO(data), 256)
    assert by_path.size == (40, 60)
    np.testing.assert_array_equal(np.asarray(by_path), np.asarray(by_bytes))
    np.testing.assert_array_equal(load_image(str(path), 32, "squash"),
                                  load_image(io.BytesIO(data), 32, "squash"))
