"""PoseKit projects: crop every labelled individual into its own image, keeping the pose.

Accepted layouts (DESIGN.md section 7); ``path`` may be the dataset folder, its
``posekit_project`` folder, or a project/manifest JSON file::

    dataset/images/                                 frames
    dataset/posekit_project/hydra_project.json      bundle manifest (newer)
    dataset/posekit_project/state/pose_project.json project state (newer)
    dataset/posekit_project/pose_project.json       project state (older)
    dataset/posekit_project/labels/pose_project.json   (older still)
    dataset/posekit_project/labels/<stem>.txt       YOLO-pose lines, one per individual

Assumptions, because PoseKit versions differ:

* ``hydra_project.json`` is the shared Hydra bundle manifest: its ``state_path`` (relative to
  the manifest) names the state file, which wins. A manifest without a usable state file is
  read as the project itself when it holds project keys (``images_dir``...); an unreadable
  manifest is skipped with a hint in favour of the conventional state files.
* Relative paths are tried against the JSON file's folder, then the dataset folder, whatever
  ``paths_relative`` says. Paths that do not exist (e.g. absolute ones from before the dataset
  moved) fall back to the conventional folders, with a hint.
* The PoseKit class is metadata (``origin``), never a ClassKit label.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ClassKitError
from ...parallel import map_chunks
from ..model import Candidate, Issue, Plan, SourceContext
from ..scan import is_image_name
from .posekit_crops import crop_jobs

MANIFEST = "hydra_project.json"
STATE_FILES = ("state/pose_project.json", "pose_project.json", "labels/pose_project.json")
PROJECT_KEYS = ("images_dir", "labels_dir", "out_root", "class_names", "keypoint_names")
BUNDLE = "posekit_project"


@dataclass
class PoseKitProject:
    """A PoseKit project with its folders resolved on this machine."""

    json_path: Path
    images_dir: Path
    labels_dir: Path
    class_names: list[str]
    keypoint_names: list[str]
    dims: int
    bbox_pad_frac: float
    hints: list[str] = field(default_factory=list)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ClassKitError(f"cannot read PoseKit project file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ClassKitError(f"PoseKit project file {path} does not hold a JSON object")
    return data


def _from_manifest(manifest: Path, hints: list[str]) -> tuple[Path, dict[str, Any]] | None:
    """The project a bundle manifest points at (or holds), or None to keep looking."""
    try:
        data = _read_json(manifest)
    except ClassKitError as exc:
        hints.append(f"{exc}; used the PoseKit state file instead")
        return None
    state = data.get("state_path")
    if isinstance(state, str) and state.strip():
        target = Path(state.strip()).expanduser()
        target = target if target.is_absolute() else manifest.parent / target
        if target.is_file():
            return target, _read_json(target)
    if any(key in data for key in PROJECT_KEYS):
        return manifest, data
    return None


def find_project_json(path: Path, hints: list[str]) -> tuple[Path, dict[str, Any]]:
    """Locate and parse the project JSON for a dataset folder, bundle folder or JSON file."""
    tried: set[Path] = set()
    if path.is_file():
        if path.name != MANIFEST:
            return path, _read_json(path)
        tried.add(path)
        found = _from_manifest(path, hints)
        if found is not None:
            return found
        path = path.parent  # look for the state file next to the manifest
    folders = [path / BUNDLE] if (path / BUNDLE).is_dir() else []
    folders.append(path)
    if path.name in ("state", "labels"):
        folders.append(path.parent)
    for folder in folders:
        if (folder / MANIFEST).is_file() and folder / MANIFEST not in tried:
            tried.add(folder / MANIFEST)
            found = _from_manifest(folder / MANIFEST, hints)
            if found is not None:
                return found
        for rel in STATE_FILES:
            if (folder / rel).is_file():
                return folder / rel, _read_json(folder / rel)
    raise ClassKitError(f"no PoseKit project file ({', '.join(STATE_FILES)} or {MANIFEST}) "
                        f"found in {path}")


def _resolve_dir(raw: Any, key: str, bases: list[Path], fallbacks: list[Path],
                 hints: list[str]) -> Path | None:
    """A folder named in the project JSON, or the first conventional folder that exists."""
    tried: list[Path] = []
    if isinstance(raw, str) and raw.strip():
        p = Path(raw.strip()).expanduser()
        tried = [p] if p.is_absolute() else [b / p for b in bases]
        for cand in tried:
            if cand.is_dir():
                return Path(os.path.abspath(cand))
        if p.name not in ("", ".", ".."):  # e.g. /old/place/frames -> dataset/frames
            fallbacks = [*fallbacks, bases[-1] / p.name]
    for cand in fallbacks:
        if cand.is_dir():
            if tried:
                hints.append(f"PoseKit {key} {raw!r} not found; used {os.path.abspath(cand)}")
            return Path(os.path.abspath(cand))
    return None


def load_project(path: Path, default_pad: float) -> PoseKitProject:
    """Find, parse and resolve a PoseKit project; usage errors raise ClassKitError."""
    hints: list[str] = []
    json_path, data = find_project_json(path, hints)
    here = json_path.parent
    bundle = here.parent if here.name in ("state", "labels") else here
    dataset = bundle.parent
    bases = [here, dataset]
    images = _resolve_dir(data.get("images_dir"), "images_dir", bases,
                          [dataset / "images", bundle / "images", here / "images"], hints)
    if images is None:
        raise ClassKitError(f"PoseKit project {json_path}: images folder not found "
                            f"(images_dir={data.get('images_dir')!r}, no {dataset / 'images'})")
    in_labels = [here] if here.name == "labels" else []
    labels = _resolve_dir(data.get("labels_dir"), "labels_dir", bases,
                          [bundle / "labels", here / "labels", *in_labels], hints)
    if labels is None:
        raise ClassKitError(f"PoseKit project {json_path}: labels folder not found "
                            f"(labels_dir={data.get('labels_dir')!r}, no {bundle / 'labels'})")
    dims = data.get("dims", 3)
    if dims not in (2, 3) or isinstance(dims, bool):
        hints.append(f"PoseKit dims={dims!r} is not 2 or 3; read keypoints as x y visibility")
        dims = 3
    pad = data.get("bbox_pad_frac", default_pad)
    if isinstance(pad, bool) or not isinstance(pad, (int, float)) or not math.isfinite(pad) \
            or not 0 <= pad <= 2:
        hints.append(f"PoseKit bbox_pad_frac={pad!r} is invalid; used {default_pad}")
        pad = default_pad

    def names(key: str) -> list[str]:
        value = data.get(key)
        return [str(v) for v in value] if isinstance(value, list) else []

    return PoseKitProject(json_path=Path(os.path.abspath(json_path)), images_dir=images,
                          labels_dir=labels, class_names=names("class_names"),
                          keypoint_names=names("keypoint_names"), dims=int(dims),
                          bbox_pad_frac=float(pad), hints=hints)


def _list_files(folder: Path, keep: Callable[[str], bool]) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(Path(e.path) for e in it if not e.name.startswith(".")
                          and keep(e.name) and e.is_file())
    except OSError as exc:
        raise ClassKitError(f"cannot read PoseKit folder {folder}: {exc}") from exc


def _match_images(proj: PoseKitProject, plan: Plan) -> list[tuple[Path, Path]]:
    """Pair each label file with the image of the same stem; hint about the rest."""
    by_stem: dict[str, Path] = {}
    for img in _list_files(proj.images_dir, is_image_name):
        by_stem.setdefault(img.stem, img)  # a.jpg and a.png: the first name wins
    lowered = {s.lower(): p for s, p in reversed(list(by_stem.items()))}
    labels = _list_files(proj.labels_dir, lambda n: n.lower().endswith(".txt"))
    pairs, orphans = [], 0
    for label in labels:
        img = by_stem.get(label.stem) or lowered.get(label.stem.lower())
        if img is None:
            orphans += 1
        else:
            pairs.append((img, label))
    plan.stats["posekit_labels_without_image"] = orphans
    plan.stats["posekit_images_unlabeled"] = len(by_stem) - len({i for i, _ in pairs})
    if orphans:
        plan.hints.append(f"{orphans} PoseKit label file(s) in {proj.labels_dir} have no "
                          f"image of the same name in {proj.images_dir}; skipped")
    if not pairs:
        plan.hints.append(f"no PoseKit label file in {proj.labels_dir} matches an image in "
                          f"{proj.images_dir}; nothing to crop")
    return pairs


def plan_posekit(ctx: SourceContext, path: Path) -> Plan:
    """Crop each labelled individual (in worker processes) and return the crops to ingest."""
    proj = load_project(path, ctx.config.bbox_pad_frac)
    plan = Plan(hints=list(proj.hints))
    crops_dir = ctx.media_dir / "crops"
    jobs = [{"image": str(img), "label": str(label), "out_stem": str(crops_dir / img.stem),
             "ext": ".png" if img.suffix.lower() == ".png" else ".jpg"}
            for img, label in _match_images(proj, plan)]
    plan.stats.update(posekit_images=len(jobs), crops_created=0, crops_reused=0)
    if not jobs:
        return plan
    crops_dir.mkdir(parents=True, exist_ok=True)
    opts = {"pad": proj.bbox_pad_frac, "min_px": ctx.config.min_crop_px, "dims": proj.dims,
            "quality": ctx.config.frame_quality, "max_pixels": ctx.config.max_pixels}
    results: dict[str, list[dict[str, Any]]] = {}

    def on_result(chunk: Sequence[dict[str, Any]], res: list[dict[str, Any]]) -> None:
        for r in res:
            results.setdefault(r["image"], []).append(r)

    def on_crash(job: dict[str, Any], why: str) -> None:
        results[job["image"]] = [{"ok": False, "image": job["image"], "path": job["image"],
                                  "reason": "decoder_crash", "detail": why}]

    map_chunks(crop_jobs, jobs, args=(opts,), workers=ctx.config.n_workers, chunk_size=8,
               on_result=on_result, on_crash=on_crash, progress=ctx.progress,
               cancel=ctx.cancel, msg=f"cropping PoseKit individuals from {proj.images_dir.name}")
    for job in jobs:  # in image order, whatever order the workers finished in
        for r in results.get(job["image"], []):
            if not r["ok"]:
                plan.issues.append(Issue(r["path"], r["reason"], r["detail"]))
                continue
            plan.stats["crops_created" if r["created"] else "crops_reused"] += 1
            cls = r["class"]
            plan.candidates.append(Candidate(Path(r["crop"]), kind="crop", origin={
                "posekit_image": r["image"], "instance": r["instance"], "posekit_class": cls,
                "posekit_class_name": (proj.class_names[cls] if cls < len(proj.class_names)
                                       else None),
                "bbox_norm": r["bbox_norm"], "crop_box": r["crop_box"],
                "keypoints": r["keypoints"], "keypoint_names": proj.keypoint_names,
                "posekit_project": str(proj.json_path)}))
    return plan
