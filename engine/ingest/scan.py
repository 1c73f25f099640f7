"""Walk a folder tree for image files, reporting broken links, loops and unreadable folders."""
from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..jobs import CancelToken
from .model import Issue
from .probe import IMAGE_EXTENSIONS

# Image formats people keep next to their crops that ingest does not read: named in a hint,
# never skipped in silence.
OTHER_IMAGE_EXTENSIONS = frozenset({
    ".gif", ".heic", ".heif", ".avif", ".jfif", ".jpe", ".jp2", ".j2k", ".jxl", ".ico", ".tga",
    ".psd", ".svg", ".pgm", ".ppm", ".pbm", ".pnm", ".exr", ".hdr", ".dng", ".cr2", ".nef",
    ".arw", ".raw", ".dcm", ".czi", ".nd2", ".lif"})


def is_utf8(path: str | Path) -> bool:
    """False for names that are not valid UTF-8 on disk (old archives, Latin-1 file systems):
    Python holds them with surrogate escapes, which the database cannot store."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: str | Path) -> str:
    """``path`` with undecodable bytes shown as ``\\xe9``: storable, and readable in a message."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def bad_name_issue(path: str | Path) -> Issue:
    return Issue(printable_path(path), "bad_file_name",
                 "the name is not valid UTF-8 text; rename it (e.g. convmv -f latin1 -t utf-8)")


def is_image_name(name: str) -> bool:
    """True for jpg/jpeg/png/webp/bmp/tif/tiff in any letter case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


# Folders a project writes itself (thumbnails, frames, artifacts): never ingested again when
# a source folder happens to contain the project.
PROJECT_OWN_DIRS = ("state", "runs", "media", "cache", "logs")


# A folder holding this file is a ClassKit export root: copies of images some project already
# has. Walks skip it (unless it is the top) and count it under EXPORT_ROOT_KEY in ``skipped``.
EXPORT_MARKER = "classkit_exports.json"
EXPORT_ROOT_KEY = "<classkit export>"


def project_own_dirs(root: Path) -> list[Path]:
    return [Path(root) / name for name in PROJECT_OWN_DIRS]


def _is_dir(entry: os.DirEntry, follow_symlinks: bool) -> bool:
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def walk_images(top: Path, follow_symlinks: bool = True, cancel: CancelToken | None = None,
                skipped: Counter[str] | None = None,
                exclude: Iterable[Path] = ()) -> Iterator[Path | Issue]:
    """Yield image paths under ``top`` (sorted, recursive) and an Issue for each problem.

    Non-image files are counted in ``skipped`` by lower-case extension, ClassKit export
    folders below ``top`` under EXPORT_ROOT_KEY (they are not walked). Symlinked folders
    are followed once; a link back into a folder already on the walk is a loop and is
    reported. Hidden files and folders (leading dot) are skipped, and so are
    the folders in ``exclude`` (unless ``top`` is one of them).
    """
    top = Path(top)
    seen: set[tuple[int, int]] = set()
    excluded: set[tuple[int, int]] = set()
    for folder in exclude:
        try:
            st = os.stat(folder)
        except OSError:
            continue
        excluded.add((st.st_dev, st.st_ino))

    def visit(folder: Path) -> Iterator[Path | Issue]:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if not is_utf8(folder):
            yield bad_name_issue(folder)
            return
        try:
            st = folder.stat()
        except OSError as exc:
            yield Issue(str(folder), "unreadable", f"folder: {exc}")
            return
        ident = (st.st_dev, st.st_ino)
        if ident in excluded and folder is not top:
            return
        if ident in seen:
            yield Issue(str(folder), "symlink_loop", "folder already visited through another link")
            return
        seen.add(ident)
        if folder is not top and os.path.isfile(folder / EXPORT_MARKER):
            if skipped is not None:
                skipped[EXPORT_ROOT_KEY] += 1
            return
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Issue(str(folder), "unreadable", f"folder: {exc}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if not is_utf8(entry.name):  # reported when it is an image or a folder
                if is_image_name(entry.name) or _is_dir(entry, follow_symlinks):
                    yield bad_name_issue(path)
                continue
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=follow_symlinks)
            except OSError as exc:  # is_dir() follows links: a link cycle raises ELOOP
                reason = "symlink_loop" if exc.errno == errno.ELOOP else "unreadable"
                yield Issue(str(path), reason, str(exc))
                continue
            if is_dir:
                if is_link and not follow_symlinks:
                    continue
                yield from visit(path)
                continue
            if not is_image_name(entry.name):
                if skipped is not None:
                    skipped[os.path.splitext(entry.name)[1].lower()] += 1
                continue
            if is_link:
                try:
                    os.stat(path)
                except OSError as exc:
                    loop = getattr(exc, "errno", None) == errno.ELOOP
                    reason = "symlink_loop" if loop else "broken_symlink"
                    yield Issue(str(path), reason, f"-> {os.readlink(path)}")
                    continue
                if not follow_symlinks:
                    continue
            yield path

    yield from visit(top)
