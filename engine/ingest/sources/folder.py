"""Plain folders of images, recursive."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..detect import is_video_name, looks_like_imagefolder
from ..model import Candidate, Issue, Plan, SourceContext
from ..probe import IMAGE_EXTENSIONS
from ..scan import EXPORT_ROOT_KEY, OTHER_IMAGE_EXTENSIONS, project_own_dirs, walk_images


def other_images_hint(path: Path, skipped: Counter[str]) -> str | None:
    """A hint naming the image files under ``path`` left out for their format, or None."""
    others = sorted(((ext, n) for ext, n in skipped.items() if ext in OTHER_IMAGE_EXTENSIONS),
                    key=lambda item: (-item[1], item[0]))
    if not others:
        return None
    total = sum(n for _, n in others)
    listed = ", ".join(f"{ext} {n}" for ext, n in others)
    return (f"{total} image file(s) under {path} are in formats ClassKit does not ingest "
            f"({listed}); convert them to PNG or JPEG to include them")


def plan_folder(ctx: SourceContext, path: Path) -> Plan:
    """Every image under ``path`` (or ``path`` itself when it is one image file); hints when
    it looks like a labelled dataset or holds videos."""
    plan = Plan()
    if path.is_file():
        plan.candidates.append(Candidate(path, origin={"relpath": path.name}))
        return plan
    skipped: Counter[str] = Counter()
    for item in walk_images(path, ctx.config.follow_symlinks, ctx.cancel, skipped,
                            exclude=project_own_dirs(ctx.root)):
        if isinstance(item, Issue):
            plan.issues.append(item)
        else:
            rel = item.relative_to(path).as_posix()
            plan.candidates.append(Candidate(item, origin={"relpath": rel}))
    other = other_images_hint(path, skipped)
    if not (plan.candidates or plan.issues or skipped[EXPORT_ROOT_KEY] or other):
        plan.hints.append(f"no image files ({', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))}) "
                          f"found under {path}")
    if looks_like_imagefolder(path):
        plan.hints.append(f"{path} looks like an ImageFolder dataset (one folder per class); "
                          f"ingest it with --kind imagefolder to import the folder names as labels")
    if other:
        plan.hints.append(other)
    if skipped[EXPORT_ROOT_KEY]:
        plan.hints.append(f"{skipped[EXPORT_ROOT_KEY]} ClassKit export folder(s) under {path} were "
                          f"skipped (copies of images a project already has); ingest such a folder "
                          f"itself to take it in")
    videos = sum(n for ext, n in skipped.items() if is_video_name("x" + ext))
    if videos:
        plan.hints.append(f"{videos} video file(s) under {path} were not ingested; "
                          f"pass them, or this folder with --kind video, as sources to extract frames")
    return plan
