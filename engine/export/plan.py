"""Checks and planning between gathering rows and writing: options, missing source files,
class folders, Ultralytics split coverage, counts, and where each image goes."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

from ..config import RESERVED_LABELS
from ..errors import ClassKitError
from ..jobs import CancelToken, ProgressFn
from ..labels.splits import SPLITS
from ..project import Project
from .names import class_folders, export_file_name
from .rows import STATUSES, ExportOptions, ExportRows
from .writers import LINK_MODES, FileItem

FORMATS = ("imagefolder", "csv", "parquet", "ultralytics")
TREE_FORMATS = ("imagefolder", "ultralytics")
NO_LABEL = "(none)"  # count key for rows without a label (csv/parquet with unlabeled included)


def _listing(items: list[str], n: int = 10) -> str:
    return ", ".join(items[:n]) + (f" ... and {len(items) - n} more" if len(items) > n else "")


def check_options(fmt: str, options: ExportOptions) -> None:
    """Reject unknown formats, link modes, statuses and impossible combinations up front."""
    if fmt not in FORMATS:
        raise ClassKitError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    if options.link not in LINK_MODES:
        raise ClassKitError(f"unknown link mode {options.link!r} (one of: {', '.join(LINK_MODES)})")
    bad = sorted(set(options.include) - set(STATUSES))
    if bad:
        raise ClassKitError(f"unknown label status {bad[0]!r} to include (one of: {', '.join(STATUSES)})")
    conf = options.include_predicted
    if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float))
                             or not math.isfinite(conf) or not 0.0 <= conf <= 1.0):
        raise ClassKitError(f"--include-predicted needs a confidence between 0 and 1, got {conf!r}")
    if options.upright and (fmt not in TREE_FORMATS or options.link != "copy"):
        raise ClassKitError("--upright re-encodes image files: it needs an imagefolder or "
                            "ultralytics export with copied files (--link copy)")
    if fmt in TREE_FORMATS and "unlabeled" in options.include:
        raise ClassKitError(f"unlabeled images have no class folder: include them with --format csv "
                            f"or parquet, not {fmt}")
    marks = sorted(set(options.include) & set(RESERVED_LABELS))
    if fmt == "ultralytics" and marks:
        raise ClassKitError(f"{', '.join(marks)} images have no train/val/test split: export them "
                            f"with imagefolder, csv or parquet")


def find_unreadable(rows: ExportRows, progress: ProgressFn, cancel: CancelToken) -> list[int]:
    """Positions of rows whose source file is missing or cannot be opened for reading."""
    bad: list[int] = []
    paths = rows.columns["original_path"]
    for k, path in enumerate(paths):
        if k % 256 == 0:
            cancel.raise_if_cancelled()
            progress(k, len(paths), "checking source files")
        try:
            with open(path, "rb"):
                pass
        except OSError:
            bad.append(k)
    progress(len(paths), len(paths), "checking source files")
    return bad


def drop_unreadable(rows: ExportRows, bad: list[int], skip: bool) -> tuple[ExportRows, list[dict]]:
    """Rows without the unreadable ones (when ``skip``), else a clear error listing them."""
    if not bad:
        return rows, []
    ids, paths = rows.columns["id"], rows.columns["original_path"]
    listed = [f"{paths[k]} (image {ids[k]})" for k in bad]
    if not skip:
        raise ClassKitError(f"{len(bad)} source image(s) are missing or unreadable: {_listing(listed)}; "
                            f"restore them, or export without them with --skip-missing")
    gone = set(bad)
    skipped = [{"id": ids[k], "path": paths[k]} for k in bad]
    return rows.take([k for k in range(len(rows)) if k not in gone]), skipped


def label_order(project: Project, rows: ExportRows) -> list[str]:
    """Labels present in the rows: project classes in their order, then any others sorted."""
    present = {x for x in rows.columns["label"] if x is not None}
    known = [c.name for c in project.classes()]
    return [c for c in known if c in present] + sorted(present - set(known))


def folders_for(project: Project, rows: ExportRows) -> dict[str, str]:
    """Label -> safe folder name for every exported label (error on a collision)."""
    return class_folders(label_order(project, rows))


def check_ultralytics(rows: ExportRows, labels: list[str], snapshot: int,
                      allow_empty: bool) -> list[str]:
    """Every exported class present in every used split; returns warnings (when allowed)."""
    splits, names = rows.columns["split"], rows.columns["label"]
    missing = sum(s is None for s in splits)
    if missing:
        raise ClassKitError(
            f"{missing} image(s) labeled at snapshot {snapshot} have no split (their label changed "
            f"since, so no split was ever given to them); export a later snapshot, or use imagefolder")
    table = Counter(zip(names, splits, strict=True))
    used = [s for s in SPLITS if any(table[(c, s)] for c in labels)]
    if "train" not in used:
        raise ClassKitError("no images in the train split: nothing to train on")
    problems = [f"class {c!r} has no images in {s}/" for s in used for c in labels if not table[(c, s)]]
    if not ({"val", "test"} & set(used)):
        problems.append("no images in val/ or test/ (each class gets val and test images once it "
                        "has 3 labels)")
    if problems and not allow_empty:
        raise ClassKitError(f"{_listing(problems, 8)}; Ultralytics needs every class in every split "
                            f"it uses (its class indices come from the folders): label more images of "
                            f"those classes, or pass --allow-empty-splits to export anyway")
    return problems


def count_rows(rows: ExportRows) -> dict[str, Any]:
    """Counts per label, split, label and split, and label source (sorted keys)."""
    labels = [NO_LABEL if x is None else x for x in rows.columns["label"]]
    splits = ["none" if s is None else s for s in rows.columns["split"]]
    sources = [NO_LABEL if s is None else s for s in rows.columns["label_source"]]
    by_both: dict[str, dict[str, int]] = {}
    for (label, split), n in sorted(Counter(zip(labels, splits, strict=True)).items()):
        by_both.setdefault(label, {})[split] = n
    return {"images": len(rows), "labels": dict(sorted(Counter(labels).items())),
            "splits": dict(sorted(Counter(splits).items())), "label_splits": by_both,
            "sources": dict(sorted(Counter(sources).items()))}


def plan_files(rows: ExportRows, fmt: str, folders: dict[str, str]) -> list[FileItem]:
    """Where each row's image goes (``<class>/<file>`` or ``<split>/<class>/<file>``); fills
    the rows' ``exported_path`` column with those relative paths."""
    items = []
    cols = rows.columns
    for k, image_id in enumerate(cols["id"]):
        name = export_file_name(cols["original_path"][k], image_id)
        folder = folders[cols["label"][k]]
        rel = f"{cols['split'][k]}/{folder}/{name}" if fmt == "ultralytics" else f"{folder}/{name}"
        cols["exported_path"][k] = rel
        items.append(FileItem(image_id, cols["original_path"][k], rel, cols["content_hash"][k]))
    return items
