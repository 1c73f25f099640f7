"""Video files: sample frames with PyAV and save them as JPEGs inside the project.

Frames go to ``<media_dir>/<stem>-<hash of the video path>/<stem>_f<index>.jpg``. After a
complete extraction a small JSON marker records the video's size/mtime and the sampling
settings, so re-ingesting an unchanged video rebuilds its candidates without decoding; an
extraction that was cancelled or killed resumes after its last frame written (frame_log.py).
Bad videos never raise: they become ``video_error`` issues.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
from PIL import Image

from ...fsutil import write_bytes_atomic, write_json_atomic
from ..model import Candidate, Issue, Plan, SourceContext
from . import frame_log

MARKER = ".classkit-frames.json"
MARKER_VERSION = 1
CHECK_EVERY = 8  # decoded frames between cancel checks and progress calls
TIME_EPS = 1e-4  # seconds of slack when a frame time meets a sampling instant
_TRANSPOSE = {90: Image.Transpose.ROTATE_90, -90: Image.Transpose.ROTATE_270,
              270: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
              -180: Image.Transpose.ROTATE_180}


def frames_dir(media_dir: Path, video: Path) -> Path:
    """Folder for one video's frames; the path hash keeps same-named videos apart."""
    digest = hashlib.sha1(os.path.abspath(video).encode("utf-8")).hexdigest()[:8]
    return media_dir / f"{video.stem}-{digest}"


def frame_path(folder: Path, stem: str, index: int) -> Path:
    return folder / f"{stem}_f{index:07d}.jpg"


class _FpsPicker:
    """Takes a frame when its time reaches the next instant of a ``fps`` grid anchored at
    the first frame (always taken); robust to variable frame rates and gaps."""

    def __init__(self, fps: float) -> None:
        self.step = 1.0 / fps
        self.t0: float | None = None
        self.k = 0

    def __call__(self, index: int, t: float) -> bool:
        if self.t0 is None:
            self.t0 = t
        elif t < self.t0 + self.k * self.step - TIME_EPS:
            return False
        self.k = math.floor((t - self.t0 + TIME_EPS) / self.step) + 1
        return True

    def resume(self, t0: float, t_last: float) -> None:
        """The state after taking a first frame at ``t0`` and, last, one at ``t_last``."""
        self.t0 = t0
        self.k = math.floor((t_last - t0 + TIME_EPS) / self.step) + 1


def _picker(ctx: SourceContext, done: list[frame_log.Done]) -> Callable[[int, float], bool]:
    """The frame picker, in the state it had after the frames ``done`` (the first is frame 0)."""
    n = ctx.config.video_every_n
    if n > 0:
        return lambda i, t: i % n == 0
    pick = _FpsPicker(ctx.config.video_fps)
    if done:
        pick.resume(done[0].t, done[-1].t)
    return pick


def _params(ctx: SourceContext) -> dict[str, Any]:
    c = ctx.config
    return {"every_n": c.video_every_n, "fps": None if c.video_every_n else c.video_fps,
            "max_frames": c.video_max_frames, "quality": c.frame_quality}


def _jpeg(frame: av.VideoFrame, quality: int) -> bytes:
    """Encode one decoded frame, turned upright per the display matrix."""
    img = frame.to_image()
    rot = frame.rotation
    if rot in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[rot])
    elif rot:
        img = img.rotate(rot, expand=True)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _plan_from(video: Path, folder: Path, frames: list[list[Any]], fps: float | None) -> Plan:
    plan = Plan()
    for index, t in frames:
        plan.candidates.append(Candidate(
            frame_path(folder, video.stem, index), kind="frame",
            origin={"video": str(video), "frame_index": index, "time_s": t, "fps": fps}))
    return plan


def _max_hint(video: Path, limit: int) -> str:
    return (f"{video.name}: stopped after video_max_frames={limit} frames; raise it, or sample "
            f"fewer frames (video_every_n / video_fps), to cover the whole video")


def _load_marker(folder: Path, video: Path, ident: dict[str, Any]) -> dict[str, Any] | None:
    """The marker of a complete earlier extraction with the same settings whose frames exist."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in ident.items()):
        return None
    try:
        frames = [[int(i), float(t)] for i, t in data["frames"]]
    except (KeyError, TypeError, ValueError):
        return None
    if not all(frame_path(folder, video.stem, i).is_file() for i, _ in frames):
        return None
    return {**data, "frames": frames}


def _error_text(exc: Exception) -> str:
    """FFmpeg's message without its numeric code and the path (the issue names the file)."""
    return getattr(exc, "strerror", None) or str(exc)


def plan_video(ctx: SourceContext, path: Path) -> Plan:
    """Frames sampled from one video file (every Nth frame, or at a target fps)."""
    video = Path(os.path.abspath(path))
    folder = frames_dir(ctx.media_dir, video)
    try:
        st = os.stat(video)
    except OSError as exc:
        return Plan(issues=[Issue(str(video), "video_error", f"cannot read the video: {exc}")])
    ident = {"version": MARKER_VERSION, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "params": _params(ctx)}
    marker = _load_marker(folder, video, ident)
    if marker is not None:
        plan = _plan_from(video, folder, marker["frames"], marker.get("fps"))
        plan.stats = {"frames_extracted": 0, "frames_reused": len(plan.candidates)}
        if marker.get("hit_max"):
            plan.hints.append(_max_hint(video, ctx.config.video_max_frames))
        return plan
    if st.st_size == 0:
        return Plan(issues=[Issue(str(video), "video_error", "zero-byte file")])
    try:
        container = av.open(str(video))
    except (av.FFmpegError, OSError) as exc:
        return Plan(issues=[Issue(str(video), "video_error",
                                  f"cannot open as a video: {_error_text(exc)}")])
    with container:
        if not container.streams.video:
            return Plan(issues=[Issue(str(video), "video_error", "the file has no video stream")])
        return _extract(ctx, container, video, folder, ident)


def _extract(ctx: SourceContext, container: av.container.InputContainer, video: Path,
             folder: Path, ident: dict[str, Any]) -> Plan:
    """Decode the first video stream, write the picked frames, then the marker if complete.

    Frames an interrupted run left (see :mod:`.frame_log`) are kept: decoding restarts at a
    seek to the last of them, or, when that frame cannot be found again after the seek, from
    the start without writing the frames done.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = float(stream.average_rate) if stream.average_rate else None
    tb = stream.time_base
    start = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    expected = stream.frames or (round(float(stream.duration * tb) * rate)
                                 if stream.duration and tb and rate else 0)
    whole = round(container.duration / av.time_base * rate) if container.duration and rate else 0
    if not expected and len(container.streams) == 1:
        expected = whole  # no other stream can make the container longer than the video
    total = expected or whole
    limit, quality = ctx.config.video_max_frames, ctx.config.frame_quality
    msg = f"extracting frames from {video.name}"
    folder.mkdir(parents=True, exist_ok=True)
    frame_log.remove_stale_tmp(folder)
    header = {**ident, "sample": frame_log.sample_hash(video, ident["size"])}
    done = frame_log.load(folder, header, lambda i: frame_path(folder, video.stem, i))
    pick = _picker(ctx, done)
    frames: list[list[Any]] = [[d.index, round(d.t, 3)] for d in done]
    skip: set[int] = set()
    index, t, hit_max, error, written = -1, 0.0, False, "", 0
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(frame_log.FrameLog(folder, header, done))
        try:
            decoded_frames = _seek_past(container, stream, done[-1]) if done else None
            if decoded_frames is not None:
                index = done[-1].index
            else:
                if done:  # the seek missed: decode from the start, skip the frames done
                    container = stack.enter_context(av.open(str(video)))
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    pick, frames, skip = _picker(ctx, []), [], {d.index for d in done}
                decoded_frames = container.decode(stream)
            for frame in decoded_frames:
                index += 1
                if index % CHECK_EVERY == 0:
                    ctx.cancel.raise_if_cancelled()
                    ctx.progress(index, total, msg)
                t = frame.time - start if frame.time is not None else index / (rate or 25.0)
                if not pick(index, t):
                    continue
                if len(frames) >= limit:
                    hit_max = True
                    break
                if index not in skip:
                    data = _jpeg(frame, quality)
                    write_bytes_atomic(frame_path(folder, video.stem, index), data)
                    log.add(frame_log.Done(index, t, frame.pts, len(data)))
                    written += 1
                frames.append([index, round(t, 3)])
        except av.FFmpegError as exc:
            error = (f"decoding failed after {index + 1} frames (last at {t:.3f} s): "
                     f"{_error_text(exc)}")
    decoded = index + 1
    if not error and not hit_max:
        if decoded == 0:
            error = "no frame could be decoded"
        elif (expected and decoded + max(2, expected // 50) < expected
              and not _reaches_end(t, _duration_s(container, stream), rate)):
            error = f"video ended after {decoded} of {expected} frames (truncated?)"
    ctx.progress(decoded if error or hit_max else max(decoded, total), total, msg)
    plan = _plan_from(video, folder, frames, rate)
    plan.stats = {"frames_extracted": written, "frames_reused": len(frames) - written}
    if error:  # a rerun decodes from the start again (and reports the error again)
        frame_log.discard(folder)
        plan.issues.append(Issue(str(video), "video_error", error))
        return plan
    if hit_max:
        plan.hints.append(_max_hint(video, limit))
    write_json_atomic(folder / MARKER, {**ident, "video": str(video), "fps": rate,
                                        "frames": frames, "hit_max": hit_max})
    frame_log.discard(folder)
    return plan


def _duration_s(container: av.container.InputContainer,
                stream: av.video.stream.VideoStream) -> float | None:
    """The video's length in seconds as its header gives it (stream, else container)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _reaches_end(last_t: float, duration: float | None, rate: float | None) -> bool:
    """Whether the last decoded frame (at ``last_t`` s) is at the video's end: then fewer
    frames than the header counts means frames stored as "repeat the previous one" (AVI's
    empty chunks, variable frame rate), not a truncated file."""
    if not duration or not rate:
        return False
    return last_t + 1.0 / rate >= duration - max(2.0 / rate, duration / 50)


def _seek_past(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
               last: frame_log.Done) -> Iterator[av.VideoFrame] | None:
    """The decoder positioned just after frame ``last``: seek to the keyframe before it,
    then decode until its timestamp comes back. None when that fails (no timestamps, a
    seek error, or the frame not met), the caller then decodes from the start."""
    if last.pts is None:
        return None
    try:
        container.seek(last.pts, stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
        for frame in frames:
            if frame.pts is None or frame.pts > last.pts:
                return None
            if frame.pts == last.pts:
                return frames
    except av.FFmpegError:
        return None
    return None
