"""Safe, deterministic names for exported folders and files.

Class names come from people (and from old or hand-edited projects), so they can hold
anything: path separators, ``..``, Windows device names (``CON``, ``LPT1``...), leading
dots, control characters, trailing dots or spaces. Every name is *mapped* to one safe
path component (never rejected: an old project must stay exportable) and the mapping is
reported; two names that land on the same component case-insensitively (``A/b`` and
``a_b``, ``Cat`` and ``cat``) are a clear error, because one folder would swallow the other
on Windows and macOS. File names are ``<stem>__<image id><ext>``: unique per project, and
the same for the same image in every export.
"""
from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ..errors import ClassKitError

# Windows device names, reserved with or without an extension (CON, con.txt, COM1.tar.gz).
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")])
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]')
MAX_FOLDER_BYTES = 120  # well under the 255-byte limit of common file systems
MAX_STEM_BYTES = 100


def _truncate(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def safe_component(name: str, max_bytes: int = MAX_FOLDER_BYTES) -> str:
    """One path component that is safe on Linux, macOS and Windows for ``name``.

    Control characters, separators and ``:*?"<>|`` become ``_``; leading dots become
    ``_`` (no hidden files, no ``.``/``..``); trailing dots and spaces are dropped (Windows
    drops them silently); a Windows device name gets a ``_`` after it. Deterministic:
    the same name always maps to the same component.
    """
    text = _BAD_CHARS.sub("_", unicodedata.normalize("NFC", str(name))).strip()
    stripped = text.lstrip(".")
    text = "_" * (len(text) - len(stripped)) + stripped
    text = _truncate(text, max_bytes).rstrip(". ")
    if not text:
        return "_"
    base, dot, rest = text.partition(".")
    if base.rstrip(" ").upper() in WINDOWS_RESERVED:
        text = f"{base}_{dot}{rest}"
    return text


def class_folders(names: Iterable[str]) -> dict[str, str]:
    """Label name -> folder name for every name; error when two collide case-insensitively."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        folder = safe_component(name)
        key = folder.casefold()
        if key in seen and seen[key] != name:
            raise ClassKitError(
                f"classes {seen[key]!r} and {name!r} would both be exported to the folder "
                f"{folder!r} (folder names are made safe and compared case-insensitively, as "
                f"Windows and macOS do); relabel the images of one of them into another class")
        seen[key] = name
        out[name] = folder
    return out


def export_file_name(original: str, image_id: int) -> str:
    """``<safe stem>__<id><ext>``: unique per image, stable across exports."""
    pure = Path(original.replace("\\", "/")).name
    stem, ext = os.path.splitext(pure)
    ext = ext.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", ext) else ""
    stem = safe_component(stem or "image", MAX_STEM_BYTES)
    return safe_component(f"{stem}__{int(image_id)}{ext}", 255)


def ensure_inside(root: Path, path: Path) -> Path:
    """``path`` resolved; error unless it lies strictly inside ``root`` (also resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root or real == real_root:
        raise ClassKitError(f"refusing to write {path}: it is outside the export folder {root}")
    return Path(real)
