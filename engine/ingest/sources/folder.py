"""Plain folders of images, recursive."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..detect import is_video_name, looks_like_imagefolder
from ..model import Candidate, Issue, Plan, SourceContext
from ..scan import project_own_dirs, walk_images


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
    if looks_like_imagefolder(path):
        plan.hints.append(f"{path} looks like an ImageFolder dataset (one folder per class); "
                          f"ingest it with --kind imagefolder to import the folder names as labels")
    videos = sum(n for ext, n in skipped.items() if is_video_name("x" + ext))
    if videos:
        plan.hints.append(f"{videos} video file(s) under {path} were not ingested; "
                          f"pass them as sources (or --kind video) to extract frames")
    return plan
