"""Plain data passed between ingest sources, the probe pool and the database writer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import IngestConfig
from ..jobs import CancelToken, ProgressFn, no_progress

SOURCE_KINDS = ("folder", "video", "imagefolder", "csv", "ultralytics", "posekit")


@dataclass
class Candidate:
    """One file to ingest, with what its source knows about it."""

    path: Path  # absolute path of the image file to probe
    kind: str = "file"  # file | frame (from a video) | crop (from a PoseKit box)
    origin: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # a label the source dataset carries


@dataclass
class Issue:
    """A problem with one item; it is recorded and never stops the run."""

    path: str
    reason: str
    detail: str = ""


@dataclass
class Plan:
    """What a source reader found: files to probe, issues, counters, hints for the user."""

    candidates: list[Candidate] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    hints: list[str] = field(default_factory=list)
    fingerprint: str | None = None  # set when the whole source can be skipped if unchanged

    def extend(self, other: Plan) -> None:
        self.candidates += other.candidates
        self.issues += other.issues
        for k, v in other.stats.items():
            self.stats[k] = self.stats.get(k, 0) + v
        self.hints += other.hints


@dataclass
class SourceContext:
    """What a source reader may use: where to write derived media, settings, progress."""

    root: Path  # project root
    media_dir: Path  # folder for files this source creates (frames, crops)
    config: IngestConfig
    source_id: int
    progress: ProgressFn = no_progress
    cancel: CancelToken = field(default_factory=CancelToken)
