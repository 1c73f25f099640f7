"""PoseKit import: every layout, padded crops, pose metadata, bad input, re-ingest."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest import ingest
from classkit.engine.project import Project

from ..conftest import make_image

# a.png is 100x80. Line 0: box 40x40 px at the centre -> with pad 0.03 (1.2 px a side)
# x 28.8..71.2 -> [28, 72), y 18.8..61.2 -> [18, 62): 44x44. Line 1 (after a blank
# line, so instance 2): box 20x24 at (10, 16) -> x -0.6..20.6 -> [0, 21) clipped,
# y 3.28..28.72 -> [3, 29): 21x26.
A_LINES = ["0 0.5 0.5 0.4 0.5 0.5 0.5 2 0.4 0.6 1", "", "1 0.1 0.2 0.2 0.3 0 0 0 0.1 0.2 2"]
A_BOXES = {0: [28, 18, 72, 62], 2: [0, 3, 21, 29]}
# b.jpg is 120x90; one box 60x45 at the centre -> pad 1.8 / 1.35 -> [28, 92) x [21, 69).
B_LINES = ["0 0.5 0.5 0.5 0.5 0.5 0.5 2 0.25 0.5 2"]
B_BOX = [28, 21, 92, 69]

LAYOUTS = {  # where the state file lives -> its relative images_dir, labels_dir, out_root
    "newer": ("state/pose_project.json", "../../images", "../labels", ".."),
    "older": ("pose_project.json", "../images", "labels", "."),
    "in_labels": ("labels/pose_project.json", "../../images", ".", ".."),
}


def make_posekit(root: Path, layout: str = "newer", absolute_to: Path | None = None,
                 **extra: Any) -> Path:
    """A small PoseKit dataset folder; returns the state JSON path.

    ``absolute_to`` writes absolute folder paths under a location that does not exist
    (as if the dataset had moved); ``extra`` overrides project keys (None removes one).
    """
    ds = root
    make_image(ds / "images" / "a.png", size=(100, 80), seed=1, fmt="PNG")
    make_image(ds / "images" / "b.jpg", size=(120, 90), seed=2, fmt="JPEG")
    make_image(ds / "images" / "unlabelled.jpg", size=(40, 30), seed=3)
    labels = ds / "posekit_project" / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    (labels / "a.txt").write_text("\n".join(A_LINES) + "\n")
    (labels / "b.txt").write_text("\n".join(B_LINES) + "\n")
    rel, images_dir, labels_dir, out_root = LAYOUTS[layout]
    state = ds / "posekit_project" / rel
    if absolute_to is not None:
        images_dir, labels_dir, out_root = (str(absolute_to / "images"),
                                            str(absolute_to / "posekit_project" / "labels"),
                                            str(absolute_to / "posekit_project"))
    data = {"images_dir": images_dir, "labels_dir": labels_dir, "out_root": out_root,
            "paths_relative": absolute_to is None, "class_names": ["ant", "queen"],
            "keypoint_names": ["head", "tail"], "skeleton_edges": [[0, 1]], "dims": 3,
            "bbox_pad_frac": 0.03, "autosave": True, "last_index": 0}
    for key, value in extra.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(data, indent=2))
    if layout == "newer":
        (ds / "posekit_project" / "hydra_project.json").write_text(json.dumps(
            {"bundle_version": 1, "kit": "posekit", "state_path": "state/pose_project.json"}))
    return state


def rows(project: Project) -> dict[str, dict[str, Any]]:
    """Ingested crops by file name: kind, size and origin."""
    out = {}
    for r in project.db.execute("SELECT path, kind, origin, width, height FROM images"):
        out[Path(r["path"]).name] = {"path": r["path"], "kind": r["kind"],
                                     "origin": json.loads(r["origin"]),
                                     "size": (r["width"], r["height"])}
    return out


def issues(project: Project) -> dict[str, str]:
    return {r["path"]: r["reason"]
            for r in project.db.execute("SELECT path, reason FROM ingest_issues")}


def size_of(box: list[int]) -> tuple[int, int]:
    return box[2] - box[0], box[3] - box[1]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_crops_every_individual(project: Project, tmp_path: Path,
                                            layout: str) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, layout)
    summary = ingest(project, [ds])
    src = summary["sources"][0]
    assert src["kind"] == "posekit"
    assert summary["added"] == 3 and summary["issues"] == 0
    assert (src["crops_created"], src["crops_reused"], src["posekit_images"]) == (3, 0, 2)
    got = rows(project)
    assert set(got) == {"a_i000.png", "a_i002.png", "b_i000.jpg"}
    for name, box in [("a_i000.png", A_BOXES[0]), ("a_i002.png", A_BOXES[2]),
                      ("b_i000.jpg", B_BOX)]:
        assert got[name]["kind"] == "crop"
        assert got[name]["size"] == size_of(box)
        assert got[name]["origin"]["crop_box"] == box
        assert got[name]["path"].startswith("media/source-")  # stored inside the project
    assert project.db.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 0


def test_origin_keeps_pose_metadata(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds)
    ingest(project, [ds])
    got = rows(project)
    o = got["a_i000.png"]["origin"]
    assert o["posekit_image"] == str(ds / "images" / "a.png")
    assert o["instance"] == 0 and o["posekit_class"] == 0 and o["posekit_class_name"] == "ant"
    assert o["bbox_norm"] == [0.5, 0.5, 0.4, 0.5]
    assert o["keypoint_names"] == ["head", "tail"]
    # (0.5, 0.5) -> (50, 40) in the image -> (22, 22) in the crop; (0.4, 0.6) -> (12, 30)
    assert o["keypoints"] == [[22, 22, 2], [12, 30, 1]]
    o2 = got["a_i002.png"]["origin"]
    assert o2["instance"] == 2 and o2["posekit_class_name"] == "queen"
    assert o2["keypoints"] == [[0, -3, 0], [10, 13, 2]]  # (0,0) left of the clipped crop
    ob = got["b_i000.jpg"]["origin"]
    assert ob["keypoints"] == [[32, 24, 2], [2, 24, 2]]
    # the crop holds exactly the box's pixels (PNG is lossless)
    crop = np.asarray(Image.open(project.root / got["a_i000.png"]["path"]))
    src = np.asarray(Image.open(ds / "images" / "a.png"))
    assert np.array_equal(crop, src[18:62, 28:72])


def test_json_padding_class_ids_and_two_dims(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "older", bbox_pad_frac=0.1, dims=2, class_names=["ant"])
    (ds / "posekit_project" / "labels" / "a.txt").write_text("3 0.5 0.5 0.4 0.5 0.5 0.5 0.25 0.5\n")
    (ds / "posekit_project" / "labels" / "b.txt").unlink()
    ingest(project, [ds])
    o = rows(project)["a_i000.png"]
    assert o["size"] == (48, 48)  # 40 px box + 4 px a side
    assert o["origin"]["posekit_class"] == 3 and o["origin"]["posekit_class_name"] is None
    assert o["origin"]["keypoints"] == [[24, 24, None], [-1, 24, None]]


def test_json_file_itself_and_manifest_are_accepted(project: Project, tmp_path: Path) -> None:
    state = make_posekit(tmp_path / "ds")
    assert ingest(project, [state])["added"] == 3
    # Every way of naming the same project is one source: nothing is cropped twice.
    for other in (state.parent.parent / "hydra_project.json", state.parent.parent,
                  state.parent.parent.parent):
        summary = ingest(project, [other])
        assert summary["sources"][0]["kind"] == "posekit"
        assert summary["added"] == 0 and summary["unchanged"] == 3
    assert project.counts()["sources"] == 1


def test_manifest_holding_the_keys_itself(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    state = make_posekit(ds, "older")
    data = json.loads(state.read_text())
    state.unlink()
    (ds / "posekit_project" / "hydra_project.json").write_text(json.dumps(
        {"kit": "posekit", "state_path": "state/missing.json", **data}))
    assert ingest(project, [ds])["added"] == 3


def test_broken_manifest_falls_back_to_the_state_file(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "newer")
    (ds / "posekit_project" / "hydra_project.json").write_text("{bad-manifest")
    summary = ingest(project, [ds])
    assert summary["added"] == 3
    assert any("hydra_project.json" in h for h in summary["hints"])


def test_moved_project_and_missing_keys_fall_back(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "newer", absolute_to=tmp_path / "gone")
    summary = ingest(project, [ds])
    assert summary["added"] == 3
    assert any("images_dir" in h and "not found" in h for h in summary["hints"])
    ds2 = tmp_path / "ds2"
    make_posekit(ds2, "older", images_dir=None, labels_dir=None, out_root=None,
                 bbox_pad_frac=None, dims=None)
    summary = ingest(project, [ds2])
    assert summary["added"] == 3
    got = rows(project)
    assert any(r["size"] == (44, 44) for r in got.values())  # default padding


def test_exif_rotated_source_is_cropped_in_the_oriented_frame(project: Project,
                                                               tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "older", bbox_pad_frac=0.0)
    labels = ds / "posekit_project" / "labels"
    for f in labels.glob("*.txt"):
        f.unlink()
    # stored 64x48, shown 48x64 (orientation 6). The box is in the shown frame:
    # 24x16 px at x 12..36, y 8..24 (stored frame would have given 32x12).
    make_image(ds / "images" / "r.jpg", size=(64, 48), seed=5, fmt="JPEG", exif_orientation=6)
    (labels / "r.txt").write_text("0 0.5 0.25 0.5 0.25 0.5 0.25 2\n")
    ingest(project, [ds])
    r = rows(project)["r_i000.jpg"]
    assert r["size"] == (24, 16) and r["origin"]["crop_box"] == [12, 8, 36, 24]
    assert r["origin"]["keypoints"] == [[12, 8, 2]]
    crop = np.asarray(Image.open(project.root / r["path"]), dtype=float)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(ds / "images" / "r.jpg")), dtype=float)
    assert np.abs(crop - shown[8:24, 12:36]).mean() < 6  # only JPEG re-encoding noise


def test_bad_lines_boxes_and_images_become_issues(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "older")
    labels = ds / "posekit_project" / "labels"
    (labels / "b.txt").write_text("\n".join([
        "0 0.5 0.5",                      # line 1: too few numbers
        "0 x 0.5 0.2 0.2",                # line 2: not a number
        "0 nan 0.5 0.2 0.2",              # line 3: NaN
        "0 0.5 0.5 0.2 0.2 0.5 0.5",      # line 4: 2 keypoint values, dims 3
        "0 1.5 1.5 0.2 0.2",              # instance 4: outside the image
        "0 0.5 0.5 0 0.2",                # instance 5: zero size
        "0 0.5 0.5 0.01 0.01",            # instance 6: 2x2 px, under min_crop_px
        "0 0.5 0.5 0.5 0.5",              # instance 7: fine
    ]) + "\n")
    jpeg = (ds / "images" / "b.jpg").read_bytes()
    (ds / "images" / "t.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (labels / "t.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (labels / "orphan.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    summary = ingest(project, [ds])
    assert summary["added"] == 3  # a: 2, b: instance 7
    assert "b_i007.jpg" in rows(project)
    got = issues(project)
    b, img = str(labels / "b.txt"), str(ds / "images" / "b.jpg")
    for n in (1, 2, 3, 4):
        assert got[f"{b}#line {n}"] == "label_error"
    for i in (4, 5, 6):
        assert got[f"{img}#instance {i}"] == "bad_crop"
    assert got[str(ds / "images" / "t.jpg")] in ("truncated", "corrupt")
    assert summary["sources"][0]["posekit_labels_without_image"] == 1
    assert sum("no image of the same name" in h for h in summary["hints"]) == 1


def test_reingest_reuses_crops_and_recrops_changed_labels(project: Project,
                                                          tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds)
    ingest(project, [ds])
    again = ingest(project, [ds])
    src = again["sources"][0]
    assert again["added"] == 0 and again["unchanged"] == 3
    assert (src["crops_created"], src["crops_reused"]) == (0, 3)
    label = ds / "posekit_project" / "labels" / "b.txt"
    label.write_text("0 0.5 0.5 0.25 0.25\n")
    future = label.stat().st_mtime_ns + 5_000_000_000
    os.utime(label, ns=(future, future))
    third = ingest(project, [ds])
    assert (third["sources"][0]["crops_created"], third["sources"][0]["crops_reused"]) == (1, 2)
    assert third["changed"] == 1
    # 30x22.5 px box + pad 0.9 / 0.675 -> [44, 76) x [33, 57)
    assert rows(project)["b_i000.jpg"]["size"] == (32, 24)


def test_invalid_or_missing_project_json_is_a_usage_error(project: Project,
                                                          tmp_path: Path) -> None:
    state = make_posekit(tmp_path / "ds", "older")
    state.write_text("{not json")
    with pytest.raises(ClassKitError, match="cannot read PoseKit project file"):
        ingest(project, [tmp_path / "ds"])
    state.write_text(json.dumps({"images_dir": "nowhere", "labels_dir": "labels"}))
    (tmp_path / "ds" / "images").rename(tmp_path / "ds" / "frames_elsewhere")
    with pytest.raises(ClassKitError, match="images folder not found"):
        ingest(project, [tmp_path / "ds"])


def test_many_images_are_cropped_in_worker_processes(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "older")
    labels = ds / "posekit_project" / "labels"
    for i in range(50):
        make_image(ds / "images" / f"m{i:02d}.png", size=(32, 24), seed=i, fmt="PNG")
        (labels / f"m{i:02d}.txt").write_text("0 0.5 0.5 0.5 0.5\n0 0.25 0.25 0.5 0.5\n")
    summary = ingest(project, [ds], config=IngestConfig(workers=2))
    src = summary["sources"][0]
    assert src["posekit_images"] == 52 and src["crops_created"] == 103
    assert summary["added"] == 103 and summary["issues"] == 0


def test_fixed_lines_resolve_their_issues(project: Project, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    make_posekit(ds, "older")
    label = ds / "posekit_project" / "labels" / "b.txt"
    label.write_text("0 0.5 0.5\n0 1.5 1.5 0.2 0.2\n")
    ingest(project, [ds])
    assert len(issues(project)) == 2
    label.write_text("0 0.5 0.5 0.5 0.5\n")
    future = label.stat().st_mtime_ns + 5_000_000_000
    os.utime(label, ns=(future, future))
    ingest(project, [ds])
    assert project.counts()["ingest_issues"] == 0
