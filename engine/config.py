"""Typed configuration objects used by the engine, with validation that names the bad field.

They are plain dataclasses: ``from_dict`` validates JSON loaded from disk (unknown keys and
wrong types are errors naming the field), ``to_dict`` gives JSON back.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T", bound="_Config")

# Distinguishable on light and dark backgrounds (Tableau 10 + extras).
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b",
)
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_KEY_RE = re.compile(r"^[0-9a-z]$")
RESERVED_LABELS = ("unsure", "junk", "skip")
WEIGHT_SETTINGS = {"uncertainty": "weight_uncertainty", "diversity": "weight_diversity",
                   "representativeness": "weight_representativeness", "audit": "weight_audit"}


class _Config:
    """Shared from_dict/to_dict for the config dataclasses."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
        """Build from a JSON-like dict; unknown keys or bad values raise ConfigError."""
        prefix = f"{where}." if where else ""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(where or cls.__name__, f"expected an object, got {type(data).__name__}")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        names = {f.name for f in fields}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(prefix + unknown[0], f"unknown setting (known: {', '.join(sorted(names))})")
        for f in fields:  # name a missing required field (TypeError would not say which)
            if (f.name not in data and f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING):
                raise ConfigError(prefix + f.name, "required setting is missing")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(prefix + exc.field, str(exc).split(": ", 1)[-1]) from None
        except TypeError as exc:  # wrong call shape
            raise ConfigError(where or cls.__name__, str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def is_color(value: Any) -> bool:
    """True for a ``#rrggbb`` colour string."""
    return isinstance(value, str) and _COLOR_RE.match(value) is not None


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}, got {value}")


def _check_float(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"must be a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}, got {value}")


def check_class_name(name: Any) -> str:
    """Validate a class name: non-empty, printable, not a reserved status word."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", "class name must be a non-empty string")
    name = name.strip()
    if len(name) > 100:
        raise ConfigError("name", "class name is longer than 100 characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError("name", f"class name {name!r} contains control characters")
    if name.lower() in RESERVED_LABELS:
        raise ConfigError("name", f"{name!r} is reserved for a label status ({', '.join(RESERVED_LABELS)})")
    return name


@dataclass(frozen=True)
class ClassDef(_Config):
    """A class to label: name, keyboard key, display colour, optional description."""

    name: str
    key: str = ""
    color: str = "#4e79a7"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_class_name(self.name))
        if self.key and not (isinstance(self.key, str) and _KEY_RE.match(self.key)):
            raise ConfigError("key", f"must be one character 0-9 or a-z, got {self.key!r}")
        if not is_color(self.color):
            raise ConfigError("color", f"must look like #rrggbb, got {self.color!r}")
        if not isinstance(self.description, str):
            raise ConfigError("description", "must be a string")


def default_class_defs(names: list[str], taken_keys: set[str] | None = None,
                       first_color: int = 0) -> list[ClassDef]:
    """Class definitions with keys 1-9 (then none) and palette colours, in the given order."""
    taken = set(taken_keys or ())
    free_keys = [k for k in "123456789" if k not in taken]
    out = []
    for i, name in enumerate(names):
        key = free_keys[i] if i < len(free_keys) else ""
        out.append(ClassDef(name=name, key=key, color=PALETTE[(first_color + i) % len(PALETTE)]))
    return out


@dataclass(frozen=True)
class ProjectSettings(_Config):
    """Per-project settings the app's Settings view edits; stored in the manifest."""

    autosave_ms: int = 250
    thumbnail_size: int = 256
    thumbnail_quality: int = 90
    cache_max_mb: int = 4096
    # the next active-learning batch: size, the recipe's shares (uncertainty, diversity,
    # representativeness, audit; they need not sum to 1) and the per-cluster cap
    # (-1: automatic, 0: none); `classkit select` uses them unless told otherwise
    batch_size: int = 50
    weight_uncertainty: float = 0.40
    weight_diversity: float = 0.35
    weight_representativeness: float = 0.15
    weight_audit: float = 0.10
    cap_per_cluster: int = -1
    # whether the head reads graph features (engine.learn.graphfeat): off, auto or on; opt-in
    # because they helped on one benchmark dataset and cost on another
    graph_features: str = "off"

    def __post_init__(self) -> None:
        _check_int("autosave_ms", self.autosave_ms, 50, 60_000)
        _check_int("thumbnail_size", self.thumbnail_size, 32, 1024)
        _check_int("thumbnail_quality", self.thumbnail_quality, 30, 100)
        _check_int("cache_max_mb", self.cache_max_mb, 0, 10_000_000)
        _check_int("batch_size", self.batch_size, 1, 100_000)
        for name in WEIGHT_SETTINGS.values():
            _check_float(name, getattr(self, name), 0.0, 1.0)
        if sum(getattr(self, name) for name in WEIGHT_SETTINGS.values()) <= 0:
            raise ConfigError("weight_uncertainty", "at least one batch share must be above 0")
        _check_int("cap_per_cluster", self.cap_per_cluster, -1, 100_000)
        if self.graph_features not in ("off", "auto", "on"):
            raise ConfigError("graph_features", f"must be off, auto or on, got {self.graph_features!r}")

    def batch_weights(self) -> dict[str, float]:
        """The recipe's shares by strategy name, as ``select_batch`` takes them."""
        return {k: float(getattr(self, name)) for k, name in WEIGHT_SETTINGS.items()}

    def batch_cap(self) -> int | None:
        """The per-cluster cap as ``select_batch`` takes it (None: automatic)."""
        return None if self.cap_per_cluster < 0 else self.cap_per_cluster


def default_workers() -> int:
    """Worker count for CPU-bound jobs: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class IngestConfig(_Config):
    """How sources are ingested. ``workers=0`` means one per core."""

    workers: int = 0
    max_pixels: int = 178_956_970  # Pillow's default bomb limit; bigger images are reported
    max_file_mb: int = 2048
    follow_symlinks: bool = True
    video_every_n: int = 0  # take every Nth frame; 0 = use video_fps
    video_fps: float = 1.0  # target frames per second when video_every_n is 0
    video_max_frames: int = 100_000
    frame_quality: int = 95
    bbox_pad_frac: float = 0.03  # PoseKit crop padding, fraction of the box size
    min_crop_px: int = 4
    check: str = "decode"  # "decode": decode every image fully; "quick": JPEG structure only

    def __post_init__(self) -> None:
        _check_int("workers", self.workers, 0, 256)
        _check_int("max_pixels", self.max_pixels, 1, 10**11)
        _check_int("max_file_mb", self.max_file_mb, 1, 10**6)
        if not isinstance(self.follow_symlinks, bool):
            raise ConfigError("follow_symlinks", "must be true or false")
        _check_int("video_every_n", self.video_every_n, 0, 10**7)
        _check_float("video_fps", self.video_fps, 0.0001, 1000.0)
        _check_int("video_max_frames", self.video_max_frames, 1, 10**8)
        _check_int("frame_quality", self.frame_quality, 30, 100)
        _check_float("bbox_pad_frac", self.bbox_pad_frac, 0.0, 2.0)
        _check_int("min_crop_px", self.min_crop_px, 1, 10_000)
        if self.check not in ("decode", "quick"):
            raise ConfigError("check", f"must be 'decode' or 'quick', got {self.check!r}")

    @property
    def n_workers(self) -> int:
        return self.workers or default_workers()


@dataclass
class Manifest(_Config):
    """The project manifest ``classkit_project.json``."""

    name: str
    schema_version: int
    created_at: str
    classkit_version: str
    project_id: str
    last_root: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("name", "must be a non-empty string")
        _check_int("schema_version", self.schema_version, 1, 10**6)
        for key in ("created_at", "classkit_version", "project_id", "last_root"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(key, "must be a string")
        ProjectSettings.from_dict(self.settings, "settings")
        IngestConfig.from_dict(self.ingest, "ingest")
