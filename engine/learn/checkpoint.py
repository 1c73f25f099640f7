"""Save and load a trained head with its temperature, without ever unpickling arbitrary objects.

One file, written atomically: ``torch.save`` of a flat ``{name: tensor}`` dict holding the module's
weights (``module.<param>``) and ``__info__``, a uint8 tensor with UTF-8 JSON (format, version,
config, sizes, temperature, training record, caller's meta). Loading uses
``torch.load(weights_only=True)``, whose unpickler only rebuilds tensors and plain containers, so a
crafted file cannot run code; anything unexpected becomes a :class:`ClassKitError` naming the path.
torch's own format (not safetensors) so that reading never depends on an optional package.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ClassKitError
from ..fsutil import write_bytes_atomic
from .heads import Head, HeadConfig, build_module

FORMAT = "classkit-head"
VERSION = 1
_INFO = "__info__"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _brief(exc: BaseException) -> str:
    """One short line for an exception from torch or json (their messages can be long)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def save_checkpoint(path: Path, head: Head, temperature: float, meta: dict) -> None:
    """Write ``head`` (trained), its temperature and a JSON-able ``meta`` dict to ``path``."""
    head._check_fitted()
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ClassKitError(f"temperature must be a positive number, got {temperature!r}")
    info = {"format": FORMAT, "version": VERSION, "config": head.config.to_dict(),
            "n_classes": int(head.n_classes_), "dim": int(head.dim_), "temperature": float(temperature),
            "epochs": int(head.epochs_), "best_epoch": int(head.best_epoch_),
            "seconds": float(head.seconds_), "history": head.history_, "meta": meta or {}}
    try:
        text = json.dumps(info, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ClassKitError(f"checkpoint meta is not JSON-serialisable: {exc}") from None
    tensors = {f"module.{k}": v.detach().to(torch.float32).contiguous().clone()
               for k, v in head.module_.state_dict().items()}
    tensors[_INFO] = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).clone()
    buf = io.BytesIO()
    torch.save(tensors, buf)
    write_bytes_atomic(Path(path), buf.getvalue())


def load_checkpoint(path: Path) -> tuple[Head, float, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(head, temperature, meta)``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClassKitError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: any parse failure means "not ours"
        raise ClassKitError(f"{path}: not a readable ClassKit head checkpoint ({_brief(exc)})") from None
    try:
        return _restore(obj)
    except ClassKitError as exc:
        raise ClassKitError(f"{path}: invalid head checkpoint: {exc}") from None


def _restore(obj: Any) -> tuple[Head, float, dict]:
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ClassKitError("expected a flat {name: tensor} dict")
    raw = obj.get(_INFO)
    if raw is None or raw.dtype != torch.uint8 or raw.dim() != 1:
        raise ClassKitError(f"missing the {_INFO} record")
    try:
        info = json.loads(raw.numpy().tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClassKitError(f"unreadable {_INFO} record ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ClassKitError(f"not a {FORMAT} file")
    if info.get("version") != VERSION:
        raise ClassKitError(f"format version {info.get('version')!r} is not supported (expected {VERSION})")
    try:
        config = HeadConfig.from_dict(info["config"], "config")
        n_classes, dim = int(info["n_classes"]), int(info["dim"])
        temperature = float(info["temperature"])
        if n_classes < 1 or dim < 1 or not (math.isfinite(temperature) and temperature > 0):
            raise ValueError("bad sizes or temperature")
        module = build_module(config.kind, dim, n_classes, config.hidden, config.dropout)
        state = {k[len("module."):]: v for k, v in obj.items() if k.startswith("module.")}
        module.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ClassKitError(_brief(exc)) from None
    module.eval()
    head = Head(config)
    head.n_classes_, head.dim_, head.module_ = n_classes, dim, module
    head.epochs_, head.best_epoch_ = int(info.get("epochs", 0)), int(info.get("best_epoch", 0))
    head.history_, head.seconds_ = list(info.get("history", [])), float(info.get("seconds", 0.0))
    meta = info.get("meta", {})
    return head, temperature, meta if isinstance(meta, dict) else {}
