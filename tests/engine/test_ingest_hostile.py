"""A hostile folder: every bad file becomes an ingest issue with the right reason; the run completes."""
from __future__ import annotations

import builtins
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.ingest import REASONS, ingest, pipeline, probe
from classkit.engine.ingest.probe import probe_file, probe_many
from classkit.engine.project import Project
from tests.conftest import make_image

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_header(width: int, height: int, idat: bytes) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (RGB 8-bit) with the given IDAT body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _garbage(n: int, seed: int = 0) -> bytes:
    import numpy as np
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def crashy_probe(paths: list[str], *args: Any) -> list[dict]:
    """Probe that kills its worker process on any file named like ``*CRASH*``."""
    if any("CRASH" in p for p in paths):
        os._exit(1)
    return probe_many(paths, *args)


def build_hostile(top: Path) -> tuple[dict[str, str], list[str]]:
    """Write the hostile folder; returns ({relpath: reason} for bad items, [good relpaths])."""
    bad: dict[str, str] = {}
    good: list[str] = []
    for i in range(3):
        make_image(top / f"good{i}.jpg", seed=i)
        good.append(f"good{i}.jpg")
    make_image(top / "nested" / "good.png", seed=10)
    good.append("nested/good.png")
    os.symlink("good0.jpg", top / "link_to_good.jpg")  # a working link is ingested
    good.append("link_to_good.jpg")

    (top / "zero.jpg").write_bytes(b"")
    bad["zero.jpg"] = "empty_file"

    real = make_image(top / "_full.jpg", size=(200, 150), seed=20).read_bytes()
    (top / "_full.jpg").unlink()
    (top / "truncated.jpg").write_bytes(real[:len(real) // 2])
    bad["truncated.jpg"] = "truncated"

    full_png = make_image(top / "_full.png", size=(120, 90), seed=21).read_bytes()
    (top / "_full.png").unlink()
    (top / "truncated.png").write_bytes(full_png[:len(full_png) // 2])
    bad["truncated.png"] = "truncated"

    # valid headers, garbage bodies
    (top / "corrupt.png").write_bytes(png_with_header(64, 48, _garbage(600, 1)))
    bad["corrupt.png"] = "corrupt"
    (top / "corrupt.jpg").write_bytes(real[:20] + b"\0" * 4000)  # SOI + JFIF APP0, then junk
    bad["corrupt.jpg"] = "corrupt"
    # (garbage in a JPEG's entropy-coded scan data often decodes without error: libjpeg
    # only warns, so such files cannot be told apart from odd-looking pictures)

    (top / "x.png").write_text("this is a text file, not a picture\n")
    bad["x.png"] = "not_an_image"

    Image.new("RGB", (8, 8)).save(top / "really_a_gif.jpg", format="GIF")
    bad["really_a_gif.jpg"] = "unsupported_format"

    # decompression bomb: tiny file whose header claims 100000 x 100000 pixels
    (top / "bomb.png").write_bytes(png_with_header(100_000, 100_000, zlib.compress(b"\0" * 1000)))
    bad["bomb.png"] = "too_large"
    # a real image over the configured max_pixels (the tests use max_pixels=100_000)
    make_image(top / "big.png", size=(400, 300), seed=22)
    bad["big.png"] = "too_large"

    # over max_file_mb (tests use 1 MB): a sparse file costs no disk
    with open(top / "huge.jpg", "wb") as fh:
        fh.truncate(3 << 20)
    bad["huge.jpg"] = "file_too_large"

    os.mkfifo(top / "pipe.jpg")
    bad["pipe.jpg"] = "not_a_file"

    os.symlink("does_not_exist.jpg", top / "broken_link.jpg")
    bad["broken_link.jpg"] = "broken_symlink"
    os.symlink("loop_b.jpg", top / "loop_a.jpg")
    os.symlink("loop_a.jpg", top / "loop_b.jpg")
    bad["loop_a.jpg"] = bad["loop_b.jpg"] = "symlink_loop"
    os.symlink("..", top / "nested" / "up")  # a folder link back to its parent
    bad["nested/up"] = "symlink_loop"
    os.symlink(".", top / "self")
    bad["self"] = "symlink_loop"
    return bad, good


CONFIG = dict(max_pixels=100_000, max_file_mb=1)


def _issues(project: Project, unresolved: bool = True) -> dict[str, dict]:
    where = " WHERE resolved_at IS NULL" if unresolved else ""
    return {r["path"]: dict(r) for r in project.db.execute(f"SELECT * FROM ingest_issues{where}")}


def _unreadable(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """Make ``victim`` fail to open with EACCES in this process (root can read anything)."""
    real_open = builtins.open

    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(file) == str(victim):
            raise PermissionError(13, "Permission denied", str(victim))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(probe, "open", fake_open, raising=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_folder(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        workers: int) -> None:
    top = tmp_path / "hostile"
    top.mkdir()
    bad, good = build_hostile(top)
    if workers == 1:  # a monkeypatch reaches only this process
        make_image(top / "locked.jpg", seed=30)
        _unreadable(monkeypatch, top / "locked.jpg")
        bad["locked.jpg"] = "unreadable"
    else:  # enough files for the worker pool
        for i in range(50):
            make_image(top / "pad" / f"p{i}.png", size=(8, 8), seed=100 + i)
            good.append(f"pad/p{i}.png")

    summary = ingest(project, [top], config=IngestConfig(workers=workers, **CONFIG))

    assert summary["status"] == "done"
    issues = _issues(project)
    assert {p: r["reason"] for p, r in issues.items()} == {str(top / k): v for k, v in bad.items()}
    for row in issues.values():
        assert row["reason"] in REASONS and row["detail"]
        assert row["source_id"] is not None
    images = {r["path"] for r in project.db.execute("SELECT path FROM images")}
    assert images == {str(top / g) for g in good}
    assert summary["added"] == len(good)
    assert project.counts()["ingest_issues"] == len(bad) == summary["issues"]
    expected_by_reason: dict[str, int] = {}
    for reason in bad.values():
        expected_by_reason[reason] = expected_by_reason.get(reason, 0) + 1
    assert summary["issues_by_reason"] == expected_by_reason
    assert len(summary["issue_examples"]) == min(20, len(bad))


def test_fixed_files_get_their_issues_resolved(project: Project, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "hostile"
    top.mkdir()
    bad, good = build_hostile(top)
    make_image(top / "locked.jpg", seed=30)
    _unreadable(monkeypatch, top / "locked.jpg")
    bad["locked.jpg"] = "unreadable"
    cfg = IngestConfig(workers=1, **CONFIG)
    ingest(project, [top], config=cfg)
    assert project.counts()["ingest_issues"] == len(bad)

    # fix some: rewrite the truncated file, create the link target, unlock, empty file filled
    make_image(top / "truncated.jpg", seed=40)
    make_image(top / "does_not_exist.jpg", seed=41)
    make_image(top / "zero.jpg", seed=42)
    monkeypatch.undo()
    fixed = {"truncated.jpg", "broken_link.jpg", "zero.jpg", "locked.jpg"}
    summary = ingest(project, [top], config=cfg)
    all_issues = _issues(project, unresolved=False)
    for rel in fixed:
        assert all_issues[str(top / rel)]["resolved_at"] is not None, rel
    for rel in set(bad) - fixed:
        assert all_issues[str(top / rel)]["resolved_at"] is None, rel
    assert project.counts()["ingest_issues"] == len(bad) - len(fixed)
    assert summary["issues"] == len(bad) - len(fixed)
    images = {r["path"] for r in project.db.execute("SELECT path FROM images")}
    assert {str(top / f) for f in fixed} | {str(top / "does_not_exist.jpg")} <= images

    # a file that breaks again reopens its issue
    (top / "zero.jpg").write_bytes(b"")
    ingest(project, [top], config=cfg)
    assert _issues(project)[str(top / "zero.jpg")]["reason"] == "empty_file"


def test_chmod_unreadable_when_not_root(project: Project, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file; covered by the monkeypatch tests")
    top = tmp_path / "perm"
    locked = make_image(top / "locked.jpg")
    locked.chmod(0)
    try:
        ingest(project, [top], config=IngestConfig(workers=1))
    finally:
        locked.chmod(0o644)
    assert _issues(project)[str(locked)]["reason"] == "unreadable"


def test_unreadable_folder(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "dirs"
    make_image(top / "ok" / "a.png")
    make_image(top / "locked" / "b.png", seed=1)
    real_scandir = os.scandir

    def fake_scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(top / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    summary = ingest(project, [top], config=IngestConfig(workers=1))
    assert summary["added"] == 1
    assert _issues(project)[str(top / "locked")]["reason"] == "unreadable"


def test_follow_symlinks_false(project: Project, tmp_path: Path) -> None:
    top = tmp_path / "links"
    make_image(top / "real.png")
    other = tmp_path / "elsewhere"
    make_image(other / "far.png", seed=3)
    os.symlink("real.png", top / "link.png")
    os.symlink(other, top / "linkdir")
    os.symlink("nothing.png", top / "broken.png")
    summary = ingest(project, [top], config=IngestConfig(workers=1, follow_symlinks=False))
    assert {r["path"] for r in project.db.execute("SELECT path FROM images")} == {str(top / "real.png")}
    assert summary["issues_by_reason"] == {"broken_symlink": 1}
    summary = ingest(project, [top], config=IngestConfig(workers=1))
    assert summary["added"] == 2  # link.png and linkdir/far.png


def test_a_folder_under_another_name_is_the_same_source(project: Project, tmp_path: Path) -> None:
    """The data folder reached through a symlink (or another mount name) is the source
    already ingested: nothing is added twice, new files land under the first name."""
    real = tmp_path / "disk" / "data"
    for i in range(3):
        make_image(real / f"im{i}.png", seed=i)
    assert ingest(project, [real], config=IngestConfig(workers=1))["added"] == 3
    os.symlink(real, tmp_path / "alias")
    make_image(real / "im3.png", seed=3)
    summary = ingest(project, [tmp_path / "alias"], config=IngestConfig(workers=1))
    assert (summary["added"], summary["unchanged"], summary["duplicates"]) == (1, 3, 0)
    assert any("under another name" in h for h in summary["hints"])
    paths = {r["path"] for r in project.db.execute("SELECT path FROM images")}
    assert paths == {str(real / f"im{i}.png") for i in range(4)}
    assert project.db.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 1
    other = tmp_path / "copy"  # a real second folder with the same files stays a source of its own
    for i in range(2):
        make_image(other / f"im{i}.png", seed=i)
    summary = ingest(project, [other], config=IngestConfig(workers=1))
    assert summary["added"] == 2 and not any("under another name" in h for h in summary["hints"])


def test_worker_crash_becomes_decoder_crash_issue(project: Project, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    top = tmp_path / "crash"
    for i in range(60):
        make_image(top / f"g{i:02d}.png", size=(8, 8), seed=i)
    make_image(top / "g30_CRASH.png", size=(8, 8), seed=999)
    monkeypatch.setattr(pipeline, "probe_many", crashy_probe)
    summary = ingest(project, [top], config=IngestConfig(workers=2))
    assert summary["status"] == "done"
    assert summary["added"] == 60
    assert summary["issues_by_reason"] == {"decoder_crash": 1}
    assert set(_issues(project)) == {str(top / "g30_CRASH.png")}


# ----------------------------------------------------------------- the probe alone
def test_probe_never_raises_on_junk(tmp_path: Path) -> None:
    for i, n in enumerate((1, 2, 7, 100, 5000)):
        p = tmp_path / f"junk{i}.png"
        p.write_bytes(_garbage(n, i))
        res = probe_file(str(p), 10**8, 1 << 30)
        assert res["ok"] is False and res["reason"] in REASONS
    for prefix in (PNG_SIG, b"\xff\xd8\xff", b"GIF89a", b"BM", b"RIFF\0\0\0\0WEBP", b"II*\0"):
        p = tmp_path / "pref.png"
        p.write_bytes(prefix + _garbage(64, 9))
        res = probe_file(str(p), 10**8, 1 << 30)
        assert res["ok"] is False and res["reason"] in REASONS, prefix


def test_probe_missing_file(tmp_path: Path) -> None:
    assert probe_file(str(tmp_path / "gone.png"), 10**8, 1 << 30)["reason"] == "missing"


def test_max_pixels_above_pillow_limit_is_honoured(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's own bomb limit must not override a larger configured ingest.max_pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    p = make_image(tmp_path / "a.png", size=(64, 48))
    res = probe_file(str(p), 10_000, 1 << 30)
    assert res["ok"] is True, res
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored
    assert probe_file(str(p), 3000, 1 << 30)["reason"] == "too_large"


def test_too_large_detail_is_readable(tmp_path: Path) -> None:
    p = make_image(tmp_path / "a.png", size=(64, 48))
    res = probe_file(str(p), 1000, 1 << 30)
    assert res["reason"] == "too_large"
    assert "3,072" in res["detail"] and "1,000" in res["detail"], res["detail"]


def test_gone_problems_are_resolved(project: Project, tmp_path: Path) -> None:
    """Issues of a source that a complete rescan no longer sees are resolved (deleted files,
    removed link loops), so counts()["ingest_issues"] tells the current state."""
    top = tmp_path / "hostile"
    top.mkdir()
    bad, _ = build_hostile(top)
    cfg = IngestConfig(workers=1, **CONFIG)
    ingest(project, [top], config=cfg)
    assert project.counts()["ingest_issues"] == len(bad)
    gone = {"truncated.jpg", "nested/up", "loop_a.jpg", "loop_b.jpg", "x.png"}
    for rel in gone:
        os.unlink(top / rel)
    summary = ingest(project, [top], config=cfg)
    assert summary["issues"] == len(bad) - len(gone)
    assert set(_issues(project)) == {str(top / rel) for rel in set(bad) - gone}
    assert project.counts()["ingest_issues"] == len(bad) - len(gone)
    # another source's issues are not touched by this source's rescan
    other = tmp_path / "other"
    other.mkdir()
    (other / "bad.png").write_text("nope")
    ingest(project, [other], config=cfg)
    ingest(project, [top], config=cfg)
    assert str(other / "bad.png") in _issues(project)


def test_cancelled_rescan_resolves_nothing(project: Project, tmp_path: Path) -> None:
    from classkit.engine.errors import Cancelled
    from classkit.engine.jobs import CancelToken

    top = tmp_path / "h"
    for i in range(40):
        make_image(top / f"g{i:02d}.png", size=(8, 8), seed=i)
    (top / "zz_bad.png").write_text("nope")
    cfg = IngestConfig(workers=1)
    ingest(project, [top], config=cfg)
    (top / "zz_bad.png").unlink()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        ingest(project, [top], config=cfg, cancel=token)
    assert project.counts()["ingest_issues"] == 1
