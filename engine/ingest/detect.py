"""Tell what kind of source a path is, conservatively (a wrong guess would invent labels)."""
from __future__ import annotations

from pathlib import Path

from ..errors import ClassKitError
from .probe import IMAGE_EXTENSIONS
from .scan import OTHER_IMAGE_EXTENSIONS, is_image_name

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg",
                              ".mts", ".m2ts", ".ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf"})
SPLITS = ("train", "val", "test")
POSEKIT_FILES = ("pose_project.json", "hydra_project.json")


def is_video_name(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def looks_like_posekit(path: Path) -> bool:
    """A PoseKit dataset folder, its posekit_project folder, or a project JSON file."""
    if path.is_file():
        return path.name in POSEKIT_FILES
    return (path / "posekit_project").is_dir() or any(
        (path / rel / name).is_file()
        for rel in (".", "state", "labels") for name in POSEKIT_FILES)


def _has_images(folder: Path, limit: int = 200) -> bool:
    try:
        for i, entry in enumerate(folder.iterdir()):
            if i >= limit:
                break
            if entry.is_file() and is_image_name(entry.name):
                return True
    except OSError:
        return False
    return False


def class_subfolders(folder: Path) -> list[Path]:
    """Immediate, non-hidden subfolders of ``folder``, sorted by name."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def looks_like_ultralytics(path: Path) -> bool:
    """``train/<class>/img`` plus ``val`` or ``test`` laid out the same way."""
    if not path.is_dir() or not (path / "train").is_dir():
        return False
    present = [s for s in SPLITS if (path / s).is_dir()]
    if len(present) < 2:
        return False
    return any(_has_images(c) for c in class_subfolders(path / "train"))


def looks_like_imagefolder(path: Path) -> bool:
    """Two or more class folders with images and no images at the top."""
    if not path.is_dir() or _has_images(path):
        return False
    subs = class_subfolders(path)
    return len(subs) >= 2 and sum(_has_images(s) for s in subs) >= 2


def detect_kind(path: Path) -> str:
    """Pick a source kind for ``path``; ImageFolder is never guessed (only hinted)."""
    if path.is_file():
        if is_video_name(path.name):
            return "video"
        if path.suffix.lower() == ".csv":
            return "csv"
        if looks_like_posekit(path):
            return "posekit"
        if is_image_name(path.name):
            return "folder"  # a single image file
        if path.suffix.lower() in OTHER_IMAGE_EXTENSIONS:
            raise ClassKitError(
                f"{path} is a {path.suffix.lower()} image, a format ClassKit does not ingest "
                f"(it reads {', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))}); "
                f"convert it to PNG or JPEG first")
        raise ClassKitError(f"cannot tell what kind of source {path} is; pass a folder, a "
                            f"video, a CSV or a PoseKit project, or set --kind")
    if path.is_dir():
        if looks_like_posekit(path):
            return "posekit"
        if looks_like_ultralytics(path):
            return "ultralytics"
        return "folder"
    raise ClassKitError(f"source not found: {path}")
