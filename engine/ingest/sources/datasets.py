"""Existing labelled datasets: ImageFolder trees, CSV lists, Ultralytics classify layouts."""
from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from pathlib import Path

from ...errors import ClassKitError
from ..detect import SPLITS, class_subfolders
from ..model import Candidate, Issue, Plan, SourceContext
from ..scan import project_own_dirs, walk_images
from .folder import other_images_hint

PATH_COLUMNS = ("path", "filepath", "file", "filename", "image", "original_path")  # last: exports
LABEL_COLUMNS = ("label", "class", "category")
DELIMITERS = (",", ";", "\t", "|")


def _class_tree(ctx: SourceContext, root: Path, origin: dict) -> Plan:
    """``root/<class>/**/image`` -> candidates labelled with the class folder name."""
    plan = Plan()
    classes = class_subfolders(root)
    skipped: Counter[str] = Counter()
    for folder in classes:
        for item in walk_images(folder, ctx.config.follow_symlinks, ctx.cancel, skipped,
                                exclude=project_own_dirs(ctx.root)):
            if isinstance(item, Issue):
                plan.issues.append(item)
            else:
                plan.candidates.append(Candidate(
                    item, label=folder.name,
                    origin={**origin, "dataset_label": folder.name,
                            "relpath": item.relative_to(root).as_posix()}))
    try:
        loose = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    except OSError as exc:
        raise ClassKitError(f"cannot read dataset folder {root}: {exc}") from exc
    if loose:
        plan.hints.append(f"{len(loose)} file(s) directly in {root} have no class folder and "
                          f"were not ingested")
    other = other_images_hint(root, skipped)
    if other:
        plan.hints.append(other)
    return plan


def plan_imagefolder(ctx: SourceContext, path: Path) -> Plan:
    """An ImageFolder tree: one subfolder per class."""
    if not path.is_dir():
        raise ClassKitError(f"an ImageFolder source must be a folder: {path}")
    plan = _class_tree(ctx, path, {"dataset": "imagefolder"})
    if not plan.candidates and not plan.issues:
        raise ClassKitError(f"no class folders with images found in {path}")
    return plan


def plan_ultralytics(ctx: SourceContext, path: Path) -> Plan:
    """``train|val|test/<class>/image``: labels from folders, original split kept in origin."""
    if not path.is_dir():
        raise ClassKitError(f"an Ultralytics classify source must be a folder: {path}")
    splits = [s for s in SPLITS if (path / s).is_dir()]
    if not splits:
        raise ClassKitError(f"{path} has none of the folders {', '.join(SPLITS)}; "
                            f"is it an Ultralytics classify dataset?")
    plan = Plan()
    for split in splits:
        part = _class_tree(ctx, path / split, {"dataset": "ultralytics", "split": split})
        for cand in part.candidates:
            cand.origin["relpath"] = f"{split}/{cand.origin['relpath']}"
        plan.extend(part)
    return plan


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _existing_spelling(file: Path) -> Path:
    """``file``, or its other Unicode normal form when only that exists (a CSV written on
    macOS spells accents decomposed; most Linux file names are composed)."""
    if file.exists():
        return file
    for form in ("NFC", "NFD"):
        other = Path(unicodedata.normalize(form, str(file)))
        if other != file and other.exists():
            return other
    return file


def read_csv_text(path: Path) -> str:
    """The text of a CSV file (UTF-8, with or without BOM); a clear error otherwise."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClassKitError(
            f"cannot read CSV {path}: it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"offset {exc.start}); save it as UTF-8 (Excel: 'CSV UTF-8') and try again") from None
    except OSError as exc:
        raise ClassKitError(f"cannot read CSV {path}: {exc.strerror or exc}") from exc


def plan_csv(ctx: SourceContext, path: Path) -> Plan:
    """A CSV with a header holding a path column and a label column.

    Relative paths are taken from the CSV file's folder. An empty label means unlabelled.
    """
    text = read_csv_text(path)
    for delim in DELIMITERS:  # Excel writes ';' where ',' is the decimal mark
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
        if not rows:
            raise ClassKitError(f"CSV {path} is empty")
        header = rows[0]
        pcol, lcol = _pick(header, PATH_COLUMNS), _pick(header, LABEL_COLUMNS)
        if pcol is not None:
            break
    else:
        raise ClassKitError(f"CSV {path} has no path column (expected a header with one of "
                            f"{', '.join(PATH_COLUMNS)}); found {text.splitlines()[0][:200]}")
    plan = Plan()
    seen: set[Path] = set()
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{lineno}"
        if len(row) <= pcol or not row[pcol].strip():
            plan.issues.append(Issue(where, "label_error", "row has no path"))
            continue
        file = Path(row[pcol].strip()).expanduser()
        file = _existing_spelling(file if file.is_absolute() else path.parent / file)
        if file in seen:
            plan.issues.append(Issue(where, "label_error", f"{file} is listed twice; first row kept"))
            continue
        seen.add(file)
        label = row[lcol].strip() if lcol is not None and len(row) > lcol else ""
        plan.candidates.append(Candidate(file, label=label or None,
                                         origin={"dataset": "csv", "csv_row": lineno}))
    if lcol is None:
        plan.hints.append(f"CSV {path} has no label column; images were ingested unlabelled")
    return plan
