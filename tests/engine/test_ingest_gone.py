"""Re-ingesting a folder after some of its files were deleted says so (and keeps labels)."""
from __future__ import annotations

from pathlib import Path

import pytest

from classkit.engine.config import IngestConfig
from classkit.engine.errors import ClassKitError
from classkit.engine.ingest import ingest, pipeline
from classkit.engine.labels import add_labels, current_labels
from classkit.engine.project import Project
from tests.conftest import make_image

ONE = IngestConfig(workers=1)


def test_deleted_files_are_reported_missing_then_resolved(project: Project, tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    for i in range(4):
        make_image(src / f"{i}.jpg", seed=i)
    assert ingest(project, [src], config=ONE)["added"] == 4
    ids = {Path(r["path"]).name: r["id"] for r in project.db.execute("SELECT id, path FROM images")}
    add_labels(project, [ids["1.jpg"]], "cat", source="manual")
    kept = (src / "1.jpg").read_bytes()
    (src / "1.jpg").unlink()

    again = ingest(project, [src], config=ONE)
    assert again["unchanged"] == 3 and again["added"] == 0
    assert again["issues_by_reason"] == {"missing": 1}, again
    example = again["issue_examples"][0]
    assert example["path"].endswith("1.jpg") and "labels are kept" in example["detail"]
    assert project.counts()["ingest_issues"] == 1
    assert current_labels(project)[ids["1.jpg"]] == "cat"  # nothing lost

    again = ingest(project, [src], config=ONE)  # reported each run while it is gone
    assert again["issues_by_reason"] == {"missing": 1}

    (src / "1.jpg").write_bytes(kept)
    back = ingest(project, [src], config=ONE)
    assert back["issues"] == 0 and back["added"] == 0
    assert project.counts()["ingest_issues"] == 0
    assert current_labels(project)[ids["1.jpg"]] == "cat"


def test_images_in_other_formats_are_named_in_a_hint(project: Project, tmp_path: Path) -> None:
    src = tmp_path / "crops"
    make_image(src / "a.jpg")
    make_image(src / "sub" / "b.gif", fmt="GIF")
    make_image(src / "sub" / "c.GIF", fmt="GIF")
    (src / "notes.txt").write_text("not an image, no hint")
    summary = ingest(project, [src], config=ONE)
    assert summary["added"] == 1
    hints = [h for h in summary["hints"] if "formats ClassKit does not ingest" in h]
    assert len(hints) == 1 and "2 image file(s)" in hints[0] and ".gif 2" in hints[0], hints

    tree = tmp_path / "tree"
    make_image(tree / "cat" / "x.png", fmt="PNG")
    make_image(tree / "cat" / "y.heic", fmt="PNG")  # the name is what counts
    summary = ingest(project, [tree], kind="imagefolder", config=ONE)
    assert any(".heic 1" in h for h in summary["hints"]), summary["hints"]


def test_ctrl_c_marks_the_run_cancelled_not_failed(project: Project, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "imgs" / "a.jpg")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "map_chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(project, [tmp_path / "imgs"], config=ONE)
    status = project.db.execute("SELECT status FROM ingest_runs").fetchone()[0]
    assert status == "cancelled"


def test_single_gif_source_and_empty_folder_say_why(project: Project, tmp_path: Path) -> None:
    gif = make_image(tmp_path / "anim.gif", fmt="GIF")
    with pytest.raises(ClassKitError, match=r"\.gif image, a format ClassKit does not ingest"):
        ingest(project, [gif], config=ONE)
    (tmp_path / "empty").mkdir()
    summary = ingest(project, [tmp_path / "empty"], config=ONE)
    assert any(h.startswith("no image files (") for h in summary["hints"]), summary["hints"]


@pytest.mark.parametrize("name", ["cam.MTS", "stream.ts", "old.wmv"])
def test_camcorder_and_stream_videos_are_recognised(name: str) -> None:
    from classkit.engine.ingest.detect import is_video_name

    assert is_video_name(name)


def test_bad_video_messages_are_plain(project: Project, tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 50)
    (tmp_path / "empty.mp4").write_bytes(b"")
    summary = ingest(project, [tmp_path / "junk.mp4", tmp_path / "empty.mp4"], config=ONE)
    details = {Path(e["path"]).name: e["detail"] for e in summary["issue_examples"]}
    assert details["empty.mp4"] == "zero-byte file"
    assert details["junk.mp4"].startswith("cannot open as a video: ")
    assert "Errno" not in details["junk.mp4"] and str(tmp_path) not in details["junk.mp4"]
