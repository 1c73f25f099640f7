"""Video ingestion: real small videos made with PyAV, frames sampled, stored and reused."""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from classkit.engine.config import IngestConfig
from classkit.engine.errors import Cancelled, ClassKitError
from classkit.engine.ingest import ingest
from classkit.engine.ingest.sources.video import MARKER, _FpsPicker
from classkit.engine.jobs import CancelToken
from classkit.engine.project import Project

N_FRAMES, FPS, W, H = 30, 10, 64, 48


def make_video(path: Path, codec: str = "libx264", n: int = N_FRAMES, fps: int = FPS,
               rotation: int | None = None, noise: bool = False,
               options: dict[str, str] | None = None, gop: int | None = None,
               reverse: bool = False) -> Path:
    """Frame i is grey with brightness i*8, or (n-1-i)*8 when ``reverse`` (a noisy band on
    top when ``noise``); ``gop`` sets the keyframe interval."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if gop is not None:
            stream.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            arr = np.full((H, W, 3), (n - 1 - i if reverse else i) * 8, np.uint8)
            if noise:
                arr[:12] = rng.integers(0, 255, (12, W, 3), dtype=np.uint8)
            if rotation is not None:
                arr[:, :16] = 255  # white stripe on the left edge
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def rows(project) -> list[tuple[str, dict, str]]:
    return [(r["kind"], json.loads(r["origin"]), r["path"]) for r in
            project.db.execute("SELECT kind, origin, path FROM images ORDER BY id")]


def issues(project) -> list[tuple[str, str, str]]:
    return [(r["path"], r["reason"], r["detail"]) for r in
            project.db.execute("SELECT path, reason, detail FROM ingest_issues")]


def brightness(path: Path) -> float:
    with Image.open(path) as im:
        return float(np.asarray(im.convert("L"), dtype=np.float32).mean())


@pytest.mark.parametrize("ext,codec", [("mp4", "libx264"), ("avi", "mpeg4"),
                                       ("mov", "mjpeg"), ("mkv", "libx264")])
def test_containers_ingest_with_auto_kind(project, tmp_path: Path, ext: str, codec: str) -> None:
    video = make_video(tmp_path / f"clip.{ext}", codec)
    summary = ingest(project, [video], config=IngestConfig(video_every_n=10))
    assert summary["status"] == "done"
    src = summary["sources"][0]
    assert src["kind"] == "video"
    assert src["frames_extracted"] == 3 and src["frames_reused"] == 0
    assert summary["added"] == 3 and summary["issues"] == 0
    got = rows(project)
    assert [o["frame_index"] for _, o, _ in got] == [0, 10, 20]
    for kind, origin, stored in got:
        assert kind == "frame"
        assert not os.path.isabs(stored) and stored.startswith("media/")
        assert stored.endswith(f"clip_f{origin['frame_index']:07d}.jpg")
        assert abs(brightness(project.root / stored) - origin["frame_index"] * 8) < 12


def test_every_nth_frame_content_and_origin(project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "walk.mp4")
    ingest(project, [video], config=IngestConfig(video_every_n=5))
    got = rows(project)
    assert [o["frame_index"] for _, o, _ in got] == [0, 5, 10, 15, 20, 25]
    for _, origin, stored in got:
        assert origin["video"] == str(video)
        assert origin["time_s"] == pytest.approx(origin["frame_index"] / FPS, abs=1e-3)
        assert origin["fps"] == pytest.approx(10.0)
        assert abs(brightness(project.root / stored) - origin["frame_index"] * 8) < 12
    folder = (project.root / got[0][2]).parent
    assert folder.parent == project.root / "media" / f"source-{1}"
    assert folder.name.startswith("walk-") and len(folder.name) == len("walk-") + 8
    assert (folder / MARKER).is_file()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_target_fps_sampling(project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4")
    summary = ingest(project, [video], config=IngestConfig(video_fps=2.0))
    idx = [o["frame_index"] for _, o, _ in rows(project)]
    assert idx == [0, 5, 10, 15, 20, 25]
    assert summary["sources"][0]["frames_extracted"] == 6


def test_fps_picker_handles_gaps_and_jitter() -> None:
    pick = _FpsPicker(1.0)
    times = [0.0, 0.4, 0.999995, 1.2, 3.7, 3.9, 4.0, 4.5]
    assert [t for i, t in enumerate(times) if pick(i, t)] == [0.0, 0.999995, 3.7, 4.0]


def test_reingest_reuses_frames_without_decoding(project, tmp_path: Path, monkeypatch) -> None:
    video = make_video(tmp_path / "clip.mkv")
    cfg = IngestConfig(video_every_n=5)
    first = ingest(project, [video], config=cfg)
    assert first["added"] == 6

    def no_decode(*a, **k):
        raise AssertionError("the video was opened again")

    monkeypatch.setattr(av, "open", no_decode)
    second = ingest(project, [video], config=cfg)
    src = second["sources"][0]
    assert second["added"] == 0 and second["unchanged"] == 6
    assert src["frames_extracted"] == 0 and src["frames_reused"] == 6
    monkeypatch.undo()

    # A missing frame file, or new sampling settings, mean decoding again.
    frame = project.root / rows(project)[1][2]
    frame.unlink()
    third = ingest(project, [video], config=cfg)
    assert third["sources"][0]["frames_extracted"] == 6
    assert frame.is_file() and third["added"] == 0 and third["unchanged"] == 6
    fourth = ingest(project, [video], config=IngestConfig(video_every_n=3))
    assert fourth["sources"][0]["frames_extracted"] == 10
    assert fourth["added"] == 8 and fourth["unchanged"] == 2  # frames 0 and 15 were known


def test_changed_video_is_extracted_again(project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.mp4", n=10)
    cfg = IngestConfig(video_every_n=5)
    ingest(project, [video], config=cfg)
    make_video(video, n=20)
    summary = ingest(project, [video], config=cfg)
    assert summary["sources"][0]["frames_extracted"] == 4
    assert summary["added"] == 2


def test_max_frames_stops_with_hint(project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "long.mp4")
    cfg = IngestConfig(video_every_n=2, video_max_frames=3)
    summary = ingest(project, [video], config=cfg)
    assert [o["frame_index"] for _, o, _ in rows(project)] == [0, 2, 4]
    assert any("video_max_frames" in h for h in summary["hints"])
    again = ingest(project, [video], config=cfg)
    assert again["sources"][0]["frames_reused"] == 3
    assert any("video_max_frames" in h for h in again["hints"])


def test_display_rotation_is_applied(project, tmp_path: Path) -> None:
    video = make_video(tmp_path / "phone.mp4", n=3, rotation=90)
    ingest(project, [video], config=IngestConfig(video_every_n=1))
    r = project.db.execute("SELECT path, width, height FROM images LIMIT 1").fetchone()
    assert (r["width"], r["height"]) == (H, W)
    with Image.open(project.root / r["path"]) as im:
        arr = np.asarray(im.convert("L"), dtype=np.float32)
    # 90 degrees counter-clockwise: the left stripe ends up at the bottom.
    assert arr[-8:].mean() > 200 and arr[:8].mean() < 100


@pytest.mark.parametrize("name", ["random.mp4", "moov-cut.mp4", "notes.avi", "audio.mkv"])
def test_bad_videos_become_issues(project, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "random.mp4":
        path.write_bytes(np.random.default_rng(1).integers(0, 255, 5000, np.uint8).tobytes())
    elif name == "moov-cut.mp4":  # index at the end of the file: cut it off
        data = make_video(tmp_path / "full.mp4", noise=True).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif name == "notes.avi":
        path.write_text("not a video at all\n")
    else:
        with av.open(str(path), "w") as out:
            stream = out.add_stream("pcm_s16le", rate=8000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                               layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    summary = ingest(project, [path])
    assert summary["status"] == "done" and summary["added"] == 0
    assert summary["issues_by_reason"] == {"video_error": 1}
    [(stored, reason, detail)] = issues(project)
    assert stored == str(path) and reason == "video_error" and detail
    if name == "audio.mkv":
        assert "no video stream" in detail


@pytest.mark.parametrize("ext,options", [("mp4", {"movflags": "faststart"}), ("mkv", {})])
def test_truncated_video_keeps_frames(project, tmp_path: Path, ext: str, options) -> None:
    data = make_video(tmp_path / f"full.{ext}", noise=True, options=options).read_bytes()
    video = tmp_path / f"cut.{ext}"
    video.write_bytes(data[: int(len(data) * 0.6)])
    cfg = IngestConfig(video_every_n=1)
    summary = ingest(project, [video], config=cfg)
    kept = summary["sources"][0]["frames_extracted"]
    assert 0 < kept < N_FRAMES and summary["added"] == kept
    [(_, reason, detail)] = issues(project)
    assert reason == "video_error" and f"after {kept} " in detail
    folder = (project.root / rows(project)[0][2]).parent
    assert not (folder / MARKER).exists()
    again = ingest(project, [video], config=cfg)
    assert again["added"] == 0 and again["sources"][0]["frames_extracted"] == kept


class _Wrapped:
    """Wraps a real input container (a context manager); subclasses override ``decode``."""

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._real.close()


class _FailingContainer(_Wrapped):
    """Its decoder raises an FFmpeg error after 7 frames."""

    def decode(self, stream):
        for i, frame in enumerate(self._real.decode(stream)):
            if i == 7:
                raise av.error.InvalidDataError(1094995529, "Invalid data found")
            yield frame


def test_decode_error_partway_keeps_frames(project, tmp_path: Path, monkeypatch) -> None:
    video = make_video(tmp_path / "clip.mp4")
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _FailingContainer(real_open(*a, **k)))
    summary = ingest(project, [video], config=IngestConfig(video_every_n=2))
    assert summary["status"] == "done"
    assert [o["frame_index"] for _, o, _ in rows(project)] == [0, 2, 4, 6]
    [(_, reason, detail)] = issues(project)
    assert reason == "video_error" and "decoding failed after 7 frames" in detail
    assert "Invalid data" in detail
    folder = (project.root / rows(project)[0][2]).parent
    assert not (folder / MARKER).exists()
    monkeypatch.undo()
    again = ingest(project, [video], config=IngestConfig(video_every_n=2))
    assert again["sources"][0]["frames_extracted"] == 15 and again["added"] == 11


def test_replaced_bad_video_resolves_its_issue(project, tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(os.urandom(4096))
    ingest(project, [video])
    assert project.counts()["ingest_issues"] == 1
    video.unlink()
    make_video(video)
    summary = ingest(project, [video], config=IngestConfig(video_every_n=10))
    assert summary["added"] == 3
    assert project.counts()["ingest_issues"] == 0


# --- resuming an interrupted extraction ---------------------------------------------------

PARTIAL = ".classkit-frames.partial"  # the progress log of an unfinished extraction


class _Counting(_Wrapped):
    """Counts the frames its decoder yields (class-wide)."""

    decoded = 0

    def decode(self, stream):
        for frame in self._real.decode(stream):
            _Counting.decoded += 1
            yield frame


def count_work(monkeypatch) -> dict[str, int]:
    """Count decoded frames and JPEG encodes from now on."""
    from classkit.engine.ingest.sources import video as video_mod

    counts = {"encoded": 0}
    real_open, real_jpeg = av.open, video_mod._jpeg

    def jpeg(*a, **k):
        counts["encoded"] += 1
        return real_jpeg(*a, **k)

    _Counting.decoded = 0
    monkeypatch.setattr(av, "open", lambda *a, **k: _Counting(real_open(*a, **k)))
    monkeypatch.setattr(video_mod, "_jpeg", jpeg)
    return counts


def interrupt(project, video: Path, cfg: IngestConfig, after: int, exc=Cancelled) -> Path:
    """Ingest ``video``, stopping extraction (cancel, or Ctrl-C) once ``after`` frames were
    decoded; returns the frames folder."""
    token = CancelToken()

    def progress(done: int, total: int, msg: str = "") -> None:
        if msg.startswith("extracting") and done >= after:
            if exc is KeyboardInterrupt:
                raise KeyboardInterrupt
            token.cancel()

    with pytest.raises(exc):
        ingest(project, [video], config=cfg, progress=progress, cancel=token)
    [status] = [r[0] for r in project.db.execute("SELECT status FROM ingest_runs")]
    assert status == "cancelled"
    return next((project.root / "media").glob(f"source-*/{video.stem}-*"))


def snapshot(project) -> tuple[list[tuple], dict[str, bytes]]:
    """Image rows (in id order) and every file under media/, to compare two projects."""
    got = [tuple(r) for r in project.db.execute(
        "SELECT path, kind, content_hash, file_size, width, height, format, origin, duplicate_of "
        "FROM images ORDER BY id")]
    media = project.root / "media"
    files = {p.relative_to(media).as_posix(): p.read_bytes() for p in media.rglob("*")
             if p.is_file() and p.name != MARKER}
    return got, files


def reference(tmp_path: Path, video: Path, cfg: IngestConfig) -> tuple[list[tuple], dict]:
    """What an uninterrupted ingest of ``video`` gives, in a fresh project."""
    ref = Project.create(tmp_path / "ref", name="ref", classes=["cat", "dog"])
    try:
        assert ingest(ref, [video], config=cfg)["status"] == "done"
        return snapshot(ref)
    finally:
        ref.close()


@pytest.mark.parametrize("name,codec,gop,cfg,exc", [
    ("clip.mov", "mjpeg", None, IngestConfig(video_every_n=1), Cancelled),
    ("clip.mp4", "libx264", 5, IngestConfig(video_fps=3.0), KeyboardInterrupt),
    ("clip.mkv", "libx264", 4, IngestConfig(video_every_n=2), Cancelled),
    ("clip.avi", "mpeg4", 6, IngestConfig(video_every_n=3), KeyboardInterrupt),
    ("long-gop.mkv", "libx264", None, IngestConfig(video_fps=4.0), Cancelled),
])
def test_interrupted_extraction_resumes(project, tmp_path: Path, monkeypatch, name: str,
                                        codec: str, gop: int | None, cfg: IngestConfig,
                                        exc) -> None:
    video = make_video(tmp_path / name, codec, gop=gop)
    want_rows, want_files = reference(tmp_path, video, cfg)
    folder = interrupt(project, video, cfg, after=8, exc=exc)
    written = sorted(folder.glob("*.jpg"))
    before, last = len(written), int(written[-1].stem.rsplit("_f", 1)[1])
    assert 0 < before < len(want_rows) and not (folder / MARKER).exists()
    assert (folder / PARTIAL).is_file()

    counts = count_work(monkeypatch)
    summary = ingest(project, [video], config=cfg)
    src = summary["sources"][0]
    assert summary["status"] == "done" and summary["added"] == len(want_rows)
    assert counts["encoded"] == len(want_rows) - before
    assert src["frames_extracted"] == len(want_rows) - before and src["frames_reused"] == before
    if gop is not None:  # decoding restarted at the keyframe before the last frame written
        assert _Counting.decoded <= N_FRAMES - last + gop
    assert snapshot(project) == (want_rows, want_files)
    assert (folder / MARKER).is_file() and not (folder / PARTIAL).exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_resume_falls_back_to_decoding_from_the_start(project, tmp_path: Path,
                                                      monkeypatch) -> None:
    video = make_video(tmp_path / "clip.mp4", gop=5)
    cfg = IngestConfig(video_every_n=2)
    want = reference(tmp_path, video, cfg)
    folder = interrupt(project, video, cfg, after=8)
    before = len(list(folder.glob("*.jpg")))
    counts = count_work(monkeypatch)

    def no_seek(self, *a, **k):
        raise av.error.PermissionError(1, "seek refused")

    monkeypatch.setattr(_Counting, "seek", no_seek, raising=False)
    summary = ingest(project, [video], config=cfg)
    assert summary["sources"][0]["frames_reused"] == before
    assert counts["encoded"] == 15 - before
    assert snapshot(project) == want


def test_crash_debris_is_never_registered(project, tmp_path: Path, monkeypatch) -> None:
    video = make_video(tmp_path / "clip.mov", "mjpeg")
    cfg = IngestConfig(video_every_n=1)
    want = reference(tmp_path, video, cfg)
    folder = interrupt(project, video, cfg, after=8, exc=KeyboardInterrupt)
    written = sorted(folder.glob("*.jpg"))
    before = len(written)
    # What a killed process can leave: a temporary file of a frame being written, a log
    # line cut in half, and (say after a power loss) a logged frame whose file is short.
    tmp = folder / f".clip_f{before:07d}.jpg.x1y2z3.tmp"
    tmp.write_bytes(written[0].read_bytes()[:100])
    os.utime(tmp, (0, 0))
    with open(folder / PARTIAL, "a", encoding="utf-8") as fh:
        fh.write("[99, 9.9")
    last = written[-1]
    last.write_bytes(last.read_bytes()[:50])
    counts = count_work(monkeypatch)
    summary = ingest(project, [video], config=cfg)
    assert summary["sources"][0]["frames_reused"] == before - 1
    assert counts["encoded"] == N_FRAMES - before + 1
    assert snapshot(project) == want
    assert not tmp.exists()


@pytest.mark.parametrize("how", ["rewritten", "same-size-and-mtime"])
def test_video_changed_after_interrupt_starts_over(project, tmp_path: Path, monkeypatch,
                                                   how: str) -> None:
    video = make_video(tmp_path / "clip.mov", "mjpeg")
    cfg = IngestConfig(video_every_n=2)
    folder = interrupt(project, video, cfg, after=8)
    assert list(folder.glob("*.jpg"))
    if how == "rewritten":
        make_video(video, "mjpeg", n=20, noise=True)
    else:
        st = os.stat(video)
        make_video(video, "mjpeg", reverse=True)
        assert os.stat(video).st_size == st.st_size
        os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns))
    want_rows, want_files = reference(tmp_path, video, cfg)
    counts = count_work(monkeypatch)
    summary = ingest(project, [video], config=cfg)
    src = summary["sources"][0]
    assert src["frames_reused"] == 0 and src["frames_extracted"] == len(want_rows)
    assert counts["encoded"] == len(want_rows) and summary["added"] == len(want_rows)
    got_rows, got_files = snapshot(project)
    assert got_rows == want_rows
    # Frames of the stale partial run past the new video's end stay on disk, unregistered
    # (like any frame a changed video no longer produces); all others are the new frames.
    assert {k: got_files[k] for k in want_files} == want_files
    registered = {r[0] for r in got_rows}
    for stale in set(got_files) - set(want_files):
        assert f"media/{stale}" not in registered


def test_sparse_frames_are_not_a_truncated_video(project, tmp_path: Path) -> None:
    # AVI stores dropped frames as empty chunks: the header counts 28 frames, 10 decode,
    # and the last of them is at the end (OpenCV's sample tree.avi: 444 counted, 68 decode)
    video = tmp_path / "sparse.avi"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), i * 20, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i * 3, Fraction(1, FPS)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(video)) as check:
        assert check.streams.video[0].frames > 20  # the header counts the empty chunks
    summary = ingest(project, [video], config=IngestConfig(video_every_n=1))
    assert summary["added"] == 10 and summary["issues"] == 0 and issues(project) == []
    times = [o["time_s"] for _, o, _ in rows(project)]
    assert times == pytest.approx([i * 3 / FPS for i in range(10)], abs=1e-3)
    assert ((project.root / rows(project)[0][2]).parent / MARKER).is_file()  # complete


def test_a_folder_of_videos_with_kind_video(project, tmp_path: Path) -> None:
    (tmp_path / "clips" / "day2").mkdir(parents=True)
    make_video(tmp_path / "clips" / "b.avi", "mpeg4")
    make_video(tmp_path / "clips" / "day2" / "a.mp4")
    (tmp_path / "clips" / "notes.txt").write_text("not a video")
    summary = ingest(project, [tmp_path / "clips"], kind="video", config=IngestConfig(video_every_n=10))
    assert [s["kind"] for s in summary["sources"]] == ["video", "video"]
    assert summary["added"] == 6 and summary["issues"] == 0
    assert sorted({Path(o["video"]).name for _, o, _ in rows(project)}) == ["a.mp4", "b.avi"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClassKitError, match="no video files"):
        ingest(project, [tmp_path / "empty"], kind="video")
