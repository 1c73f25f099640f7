"""How an ONNX embedder is described: a small, validated spec (JSON next to the model).

Built-in models are listed in ``models/registry.json`` (files relative to ``models/``); a
user model is an ONNX file with a sidecar spec ``<file>.json`` (or ``<stem>.json``), or
fields given on the command line. Everything preprocessing needs is in the spec, so the
same image always yields the same embedding.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import _check_float, _check_int, _Config
from ..errors import ClassKitError, ConfigError

RESIZE_MODES = ("squash", "center_crop", "letterbox")
NEAR_DUPLICATE_COSINE = 0.97  # default near-duplicate cosine (similarity.dedup uses it too)
POOLING = ("none", "mean", "cls")


@dataclass(frozen=True)
class ModelSpec(_Config):
    """One embedder: file, input geometry and normalisation, output, provenance."""

    name: str
    file: str  # the .onnx path; relative paths are resolved against the spec's folder
    output_dim: int
    input_size: int = 224  # square input, pixels
    channel_order: str = "RGB"  # RGB | BGR
    layout: str = "NCHW"  # NCHW | NHWC
    mean: list[float] = field(default_factory=lambda: [127.0, 127.0, 127.0])  # 0-255 units
    std: list[float] = field(default_factory=lambda: [128.0, 128.0, 128.0])  # 0-255 units
    resize: str = "squash"  # squash | center_crop (shorter side, then crop) | letterbox
    input_name: str = ""  # "" = the model's first input
    output_name: str = ""  # "" = the model's first output
    # none: flatten each image's output | mean: average the token axis of (N, T, D) or the
    # spatial axes of a feature map ((N, C, H, W) for NCHW models) | cls: token 0 of (N, T, D)
    pooling: str = "none"
    # Cosine at or above which two images count as near-duplicates (grouped: never labeled
    # twice by the AL recipe, kept in one split). Each model spreads cosines differently
    # (models/README.md: efficientnet-lite0's 0.97 is about efficientnet-lite0-ms's 0.983).
    near_duplicate_cosine: float = NEAR_DUPLICATE_COSINE
    sha256: str = ""  # checked at load when set
    description: str = ""
    source: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("name", "must be a non-empty string")
        if not isinstance(self.file, str) or not self.file:
            raise ConfigError("file", "must name the .onnx file")
        _check_int("output_dim", self.output_dim, 1, 1 << 16)
        _check_int("input_size", self.input_size, 8, 4096)
        for key, allowed in (("channel_order", ("RGB", "BGR")), ("layout", ("NCHW", "NHWC")),
                             ("resize", RESIZE_MODES), ("pooling", POOLING)):
            if getattr(self, key) not in allowed:
                raise ConfigError(key, f"must be one of {', '.join(allowed)}, "
                                       f"got {getattr(self, key)!r}")
        for key in ("mean", "std"):
            value = getattr(self, key)
            if (not isinstance(value, (list, tuple)) or len(value) != 3
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in value)):
                raise ConfigError(key, "must be three numbers (R, G, B) in 0-255 units")
            object.__setattr__(self, key, [float(v) for v in value])
        if any(v <= 0 for v in self.std):
            raise ConfigError("std", "must be positive")
        _check_float("near_duplicate_cosine", self.near_duplicate_cosine, 0.0, 1.0)

    def resolve_file(self, base: Path) -> Path:
        """The model file, relative paths taken from ``base`` (the spec's folder)."""
        path = Path(self.file).expanduser()
        return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class ModelRef:
    """A spec together with the folder its relative file path is resolved from."""

    spec: ModelSpec
    base: Path
    builtin: bool = False

    @property
    def path(self) -> Path:
        return self.spec.resolve_file(self.base)


def models_dir() -> Path:
    """The folder of the bundled models (``classkit.models``)."""
    from ... import models  # the classkit.models package

    return Path(models.__file__).parent


def builtin_models() -> list[ModelRef]:
    """The bundled embedders listed in ``models/registry.json``, default first."""
    base = models_dir()
    registry = base / "registry.json"
    try:
        data = json.loads(registry.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClassKitError(f"cannot read the model registry {registry}: {exc}") from exc
    return [ModelRef(ModelSpec.from_dict(entry, f"models/registry.json[{i}]"), base, True)
            for i, entry in enumerate(data.get("models", []))]


def default_model_name() -> str:
    refs = builtin_models()
    if not refs:
        raise ClassKitError("no bundled embedder is installed (models/registry.json is empty)")
    return refs[0].spec.name


def model_for_project(requested: str | None, current: str | None) -> tuple[ModelRef, str | None]:
    """The model a project embeds with, and a hint for the user (or None).

    An explicit ``requested`` name or file wins. Otherwise a project keeps the bundled model
    its current embeddings came from, so embedding newly added images never silently
    re-embeds every image with another model (the default changed to efficientnet-lite0-ms);
    a project without embeddings, or embedded with a user model, gets the default."""
    if requested:
        return resolve_model(requested), None
    default = default_model_name()
    if current and current != default and current in {r.spec.name for r in builtin_models()}:
        return resolve_model(current), (
            f"this project's embeddings come from {current}, so it keeps that model; the default "
            f"is {default} (`--model {default}` re-embeds every image with it)")
    return resolve_model(None), None


def near_duplicate_cosine(manifest: dict[str, Any] | None) -> float:
    """The near-duplicate cosine for the vectors an embedding manifest describes: its stored
    spec's value, else that of the bundled model of the same name (versions embedded before
    the field existed), else the spec default."""
    manifest = manifest or {}
    stored = (manifest.get("spec") or {}).get("near_duplicate_cosine")
    if isinstance(stored, (int, float)) and not isinstance(stored, bool) and 0 <= stored <= 1:
        return float(stored)
    for ref in builtin_models():
        if ref.spec.name == manifest.get("model"):
            return ref.spec.near_duplicate_cosine
    return NEAR_DUPLICATE_COSINE


def _sidecar(onnx: Path) -> Path | None:
    for candidate in (onnx.with_name(onnx.name + ".json"), onnx.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    return None


def load_spec_file(path: Path) -> ModelRef:
    """A spec JSON file (its ``file`` relative to the JSON's folder)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClassKitError(f"cannot read model spec {path}: {exc}") from exc
    return ModelRef(ModelSpec.from_dict(data, str(path)), Path(path).parent)


def resolve_model(name_or_path: str | None, overrides: dict[str, Any] | None = None) -> ModelRef:
    """A built-in by name, an ONNX file (with its sidecar spec), or a spec JSON file."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not name_or_path:
        name_or_path = default_model_name()
    for ref in builtin_models():
        if ref.spec.name == name_or_path:
            return _override(ref, overrides)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".json" and path.is_file():
        return _override(load_spec_file(path), overrides)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise ClassKitError(f"model file not found: {path}")
        side = _sidecar(path)
        if side is not None:
            ref = load_spec_file(side)
            return _override(ModelRef(ref.spec, ref.base), {"file": str(path.resolve()), **overrides})
        # No spec: output_dim (and input_size/layout when the input dims are static) come
        # from the model itself; explicit overrides always win.
        from .onnx_backend import probe_model

        overrides = {**probe_model(path, overrides), **overrides}
        spec = ModelSpec.from_dict({"name": path.stem, "file": str(path.resolve()), **overrides})
        return ModelRef(spec, path.parent)
    known = ", ".join(r.spec.name for r in builtin_models())
    raise ClassKitError(f"unknown model {name_or_path!r}: give a built-in ({known}), an .onnx "
                        f"file (spec in a sidecar <file>.json) or a spec .json file")


def _override(ref: ModelRef, overrides: dict[str, Any]) -> ModelRef:
    if not overrides:
        return ref
    spec = ModelSpec.from_dict({**ref.spec.to_dict(), **overrides}, ref.spec.name)
    return ModelRef(spec, ref.base, ref.builtin)
