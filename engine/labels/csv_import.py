"""Import labels for images already in the project from a CSV (``path`` or ``id``, ``label``).

With both a path and an id column (a ClassKit export's ``original_path`` and ``id``) the
path decides and the id must agree, so another project's ids never label the wrong images.

The whole file is read and validated before anything is written; the write is one
transaction. Nothing is dropped silently: unmatched or bad rows are counted and reported
with their line numbers, and a file where no row matches is an error.
"""
from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import check_class_name
from ..errors import ClassKitError, ConfigError
from ..ingest.sources.datasets import LABEL_COLUMNS, PATH_COLUMNS, read_csv_text
from ..project import Project
from .events import SQL_CHUNK, canonical_label, class_lookup, current_round, insert_events

ID_COLUMNS = ("id", "image_id")
REVIEW_COLUMN = "suggested"  # written by `classkit suspects --out`: the file is a review sheet
IMPORT_SOURCES = ("import", "manual")
MAX_REPORTED = 20


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _parse(text: str, where: Path) -> tuple[list[tuple[int, list[str]]], int | None, int | None, int,
                                            list[str]]:
    """Rows with their line numbers, the path, id and label column indexes, and the header."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ClassKitError(f"CSV {where} is empty")
    for delim in (",", ";", "\t", "|"):
        header = next(csv.reader([lines[first]], delimiter=delim))
        pcol, icol, lcol = (_find(header, PATH_COLUMNS), _find(header, ID_COLUMNS),
                            _find(header, LABEL_COLUMNS))
        if lcol is not None and (pcol is not None or icol is not None):
            break
    else:
        raise ClassKitError(
            f"CSV {where} needs a header with a label column ({', '.join(LABEL_COLUMNS)}) and a "
            f"path ({', '.join(PATH_COLUMNS)}) or id column; found: {lines[first].strip()[:200]}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows = []
    for row in reader:
        lineno = reader.line_num
        if lineno <= first + 1 or not any(cell.strip() for cell in row):
            continue
        rows.append((lineno, row))
    return rows, pcol, icol, lcol, [h.strip().lower() for h in header]


class _Matcher:
    """Find an image id for a CSV path: the stored path itself, or the file it names
    (absolute, relative to the CSV's folder, the project root or the working folder), or
    else the one image whose path ends with it (``cat_01.jpg``, ``train/cat_01.jpg``; also
    without the extension when the cell has none), as in CSVs made for other tools.
    Several images ending the same way match none (reported, never guessed).

    Paths compare in Unicode NFC, so a CSV written on macOS (decomposed accents) matches.
    """

    def __init__(self, project: Project, csv_dir: Path) -> None:
        self.paths = project.paths
        self.csv_dir = csv_dir
        self.root = project.root
        self.by_path = {r[1]: int(r[0]) for r in project.db.execute("SELECT id, path FROM images")}
        self.ids = set(self.by_path.values())
        self._tails: dict[str, list[tuple[str, int]]] | None = None  # built on first need
        self.ambiguous: dict[str, int] = {}  # cell -> how many images end with it
        for path, image_id in list(self.by_path.items()):
            self.by_path.setdefault(unicodedata.normalize("NFC", path), image_id)

    def by_id(self, cell: str) -> int | None:
        try:
            i = int(cell)
        except ValueError:
            return None
        return i if i in self.ids else None

    def match(self, id_cell: str, path_cell: str) -> tuple[int | None, tuple[str, str] | None]:
        """``(image id, None)`` or ``(None, (count kind, error))`` for one row.

        With both a path and an id the path decides and the id must agree: a CSV exported
        from another project carries that project's ids, which here name other images.
        """
        if not path_cell:
            found = self.by_id(id_cell)
            return (found, None) if found is not None else (
                None, ("unmatched", f"id {id_cell!r} matches no image in the project"))
        found = self.find(path_cell)
        if found is None and path_cell in self.ambiguous:
            return None, ("unmatched", f"path {path_cell!r} matches {self.ambiguous[path_cell]} images "
                                       f"(their paths all end with it): give more of the path")
        if found is None:
            return None, ("unmatched", f"path {path_cell!r} matches no image in the project")
        if id_cell and id_cell != str(found):
            return None, ("conflicting", f"id {id_cell} and path {path_cell!r} name different "
                                         f"images (that path is image {found} here): is the CSV "
                                         f"from another project? Remove its id column to match "
                                         f"by path")
        return found, None

    def find(self, cell: str) -> int | None:
        cell = unicodedata.normalize("NFC", cell)
        hit = self.by_path.get(cell)
        if hit is not None:
            return hit
        p = os.path.expanduser(cell)
        bases = [""] if os.path.isabs(p) else [self.csv_dir, self.root, Path.cwd()]
        for base in bases:
            stored = self.paths.to_stored(os.path.join(base, p) if base else p)
            hit = self.by_path.get(unicodedata.normalize("NFC", stored))
            if hit is not None:
                return hit
        return None if os.path.isabs(p) else self._by_tail(cell)

    def _by_tail(self, cell: str) -> int | None:
        """The one image whose path ends with ``cell`` (whole path components); a cell
        without an extension also matches a file name's stem."""
        tail = cell.replace("\\", "/").strip("/")
        while tail.startswith("./"):
            tail = tail[2:]
        if not tail or tail.startswith("../"):
            return None
        if self._tails is None:
            self._tails = {}
            for stored, image_id in self.by_path.items():
                path = stored.replace("\\", "/")
                name = path.rsplit("/", 1)[-1]
                for key in {name, os.path.splitext(name)[0]}:
                    self._tails.setdefault(key, []).append((path, image_id))
        name = tail.rsplit("/", 1)[-1]
        stem_too = not os.path.splitext(name)[1]

        def ends(full: str) -> bool:
            return full == tail or full.endswith("/" + tail)

        hits = {image_id for path, image_id in self._tails.get(name, ())
                if ends(path) or (stem_too and ends(os.path.splitext(path)[0]))}
        if len(hits) == 1:
            return hits.pop()
        if len(hits) > 1:
            self.ambiguous[cell] = len(hits)
        return None


def import_label_csv(project: Project, csv_path: Path | str, create_classes: bool = False,
                     source: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Label project images from a CSV; returns a summary: ``rows`` (non-blank data rows),
    ``matched``, ``labeled`` (events written, or that would be with ``dry_run``; confirmations
    included), ``confirmed``, ``unchanged``, ``kept_human``, ``repeated``, ``unmatched``,
    ``invalid``, ``created_classes``, ``review``, ``error_count`` and ``errors`` (the first
    20 as {line, error}).

    ``source="import"`` behaves like dataset labels at ingest: it never overrides a label a
    person gave. ``source="manual"`` means the user vouches for these labels: they override.
    None (the default): ``manual`` for a review sheet (a CSV with a ``suggested`` column, as
    ``classkit suspects --out`` writes), else ``import``. A review sheet imported as
    ``manual`` also records every label left as it was as a confirmation (an event with the
    same label), so a suspect the person checked and kept leaves the suspects list.
    Unknown classes are an error listing them, unless ``create_classes``.
    """
    path = Path(csv_path)
    text = read_csv_text(path)
    rows, pcol, icol, lcol, header = _parse(text, path)
    review = REVIEW_COLUMN in header
    if source is None:
        source = "manual" if review else "import"
    if source not in IMPORT_SOURCES:
        raise ClassKitError(f"CSV label source must be one of {', '.join(IMPORT_SOURCES)}, got {source!r}")
    matcher = _Matcher(project, path.resolve().parent)
    classes = class_lookup(project)
    errors: list[dict[str, Any]] = []
    unknown: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    wanted: dict[int, tuple[str, int]] = {}  # image id -> (label as written, line)

    def fail(kind: str, lineno: int, msg: str) -> None:
        counts[kind] += 1
        errors.append({"line": lineno, "error": msg})

    for lineno, row in rows:
        def cell(col: int | None, row: list[str] = row) -> str:
            return row[col].strip() if col is not None and col < len(row) else ""
        label = cell(lcol)
        key = cell(pcol) or cell(icol)
        if not key:
            fail("invalid", lineno, "row has no path or id")
            continue
        if not label:
            fail("invalid", lineno, f"{key}: empty label")
            continue
        if canonical_label(label, classes) is None:
            unknown[label.lower()] += 1
        image_id, problem = matcher.match(cell(icol), cell(pcol))
        if problem is not None:
            fail(problem[0], lineno, problem[1])
            continue
        assert image_id is not None
        if image_id in wanted:
            prev, prev_line = wanted[image_id]
            if prev.lower() != label.lower():
                fail("conflicting", lineno, f"image {image_id} already labeled {prev!r} on line "
                                            f"{prev_line}; first row kept")
            else:
                counts["repeated"] += 1
            continue
        wanted[image_id] = (label, lineno)

    if not rows:
        raise ClassKitError(f"CSV {path} has a header but no rows")
    if not wanted:
        shown = "; ".join(f"line {e['line']}: {e['error']}" for e in errors[:3])
        raise ClassKitError(f"none of the {len(rows)} row(s) in {path.name} could be used ({shown}); "
                            f"paths must be as ingested, absolute, relative to the CSV's folder, "
                            f"the project or the current folder, or end the path of exactly one image")
    if unknown and not create_classes:
        listed = ", ".join(f"{name} ({n})" for name, n in unknown.most_common())
        raise ClassKitError(f"{len(unknown)} label(s) in {path.name} are not classes of this project: "
                            f"{listed}; add them with --create-classes or "
                            f"'classkit classes PROJECT --add NAME'; nothing was imported")
    spellings: dict[str, str] = {}
    for written, _ in wanted.values():
        spellings.setdefault(written.lower(), written)
    new_classes: list[str] = []
    spelled: dict[str, str] = {}
    for name in unknown:
        if name not in spellings:
            continue  # only on unmatched rows: no class is needed for them
        try:
            spelled[name] = check_class_name(spellings[name])
        except ConfigError as exc:
            raise ClassKitError(f"cannot create class {spellings[name]!r} from {path.name}: "
                                f"{exc}") from None
        new_classes.append(spelled[name])
    lookup = {**classes, **spelled}
    plan = _plan(project, wanted, lookup, source, path.name, counts,
                 confirm=review and source == "manual")
    if not dry_run and (plan or new_classes):
        with project.transaction(labels_only=not new_classes) as con:
            project.ensure_classes_in(con, new_classes)
            rnd = current_round(con)
            insert_events(con, [(i, lab, source, rnd, reason, None) for i, lab, reason in plan])
    return {"csv": str(path), "source": source, "dry_run": dry_run, "rows": len(rows),
            "matched": len(wanted), "labeled": len(plan), "confirmed": counts["confirmed"],
            "review": review, "unchanged": counts["unchanged"],
            "kept_human": counts["kept_human"], "repeated": counts["repeated"],
            "unmatched": counts["unmatched"], "invalid": counts["invalid"] + counts["conflicting"],
            "created_classes": new_classes, "error_count": len(errors),
            "errors": errors[:MAX_REPORTED]}


def summary_lines(s: dict[str, Any]) -> list[str]:
    """What an import did (or would do, dry run), for people: the CLI prints these lines and
    the app shows them."""
    verb = "would label" if s["dry_run"] else "labeled"
    lines = [f"review sheet: imported as {s['source']} labels"] if s["review"] else []
    confirmed = f" ({s['confirmed']} confirmed as they were)" if s["confirmed"] else ""
    lines.append(f"{s['rows']} row(s): {verb} {s['labeled']}{confirmed}, unchanged {s['unchanged']}, "
                 f"kept a person's label {s['kept_human']}, unmatched {s['unmatched']}, invalid "
                 f"{s['invalid']}" + (f", repeated {s['repeated']}" if s["repeated"] else ""))
    if s["created_classes"]:
        lines.append(f"{'would create' if s['dry_run'] else 'created'} class(es): "
                     f"{', '.join(s['created_classes'])}")
    lines += [f"  line {e['line']}: {e['error']}" for e in s["errors"]]
    if s["error_count"] > len(s["errors"]):
        lines.append(f"  ... and {s['error_count'] - len(s['errors'])} more (the first "
                     f"{len(s['errors'])} are listed)")
    return lines


def _plan(project: Project, wanted: dict[int, tuple[str, int]], lookup: dict[str, str], source: str,
          name: str, counts: Counter[str], confirm: bool = False) -> list[tuple[int, str, str]]:
    """Events to write as (image id, canonical label, reason); counts what is skipped.
    ``confirm``: a label left as it was is written again (a person re-checked it)."""
    last: dict[int, tuple[str | None, str]] = {}
    ids = sorted(wanted)
    for i in range(0, len(ids), SQL_CHUNK):
        part = ids[i:i + SQL_CHUNK]
        marks = ",".join("?" * len(part))
        for r in project.db.execute(
                f"SELECT e.image_id, e.label, e.source FROM label_events e JOIN (SELECT image_id, "
                f"MAX(id) AS m FROM label_events WHERE image_id IN ({marks}) GROUP BY image_id) x "
                f"ON e.id = x.m", part):
            last[int(r[0])] = (r[1], r[2])
    plan = []
    for image_id in ids:
        written, lineno = wanted[image_id]
        label = canonical_label(written, lookup)
        assert label is not None  # validated above
        prev = last.get(image_id)
        if confirm and prev is not None and prev[0] == label:
            counts["confirmed"] += 1
            plan.append((image_id, label, f"csv {name} line {lineno}: confirmed"))
        elif prev is not None and prev[0] == label and (source == "import" or prev[1] != "import"):
            counts["unchanged"] += 1
        elif source == "import" and prev is not None and prev[1] != "import":
            counts["kept_human"] += 1
        else:
            plan.append((image_id, label, f"csv {name} line {lineno}"))
    return plan
