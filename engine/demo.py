"""A small, generated demo dataset that exercises every ingest source.

Made on the fly (nothing downloaded): three shape classes as an ImageFolder tree, a CSV,
a short video, a tiny PoseKit project, and a few broken files to show issue reporting.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def _shape_image(kind: str, rng: np.random.Generator, size: int = 96) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(0, 120, 3))
    noise = rng.normal(0, 12, (size, size, 3))
    arr = np.clip(np.array(bg, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    r = int(rng.integers(size // 6, size // 3))
    cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
    color = tuple(int(v) for v in rng.integers(130, 256, 3))
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
    elif kind == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=color)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
    return img


def _video(path: Path, rng: np.random.Generator, frames: int = 40, fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", (128, 96), (20, 30, 40))
            ImageDraw.Draw(img).ellipse((4 + i * 2, 30, 36 + i * 2, 62), fill=(230, 200, 60))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _posekit(root: Path, rng: np.random.Generator) -> None:
    images, labels = root / "images", root / "posekit_project" / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        arr = np.clip(rng.normal((60, 90, 60), 10, (120, 200, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "RGB")
        draw = ImageDraw.Draw(img)
        lines = []
        for j, (x, y) in enumerate([(50 + 5 * i, 60), (140, 55 - 4 * i)]):
            draw.ellipse((x - 25, y - 15, x + 25, y + 15), fill=(140 + 40 * j, 110, 90))
            kp = [(x - 20) / 200, y / 120, 2, (x + 20) / 200, y / 120, 2]
            lines.append(" ".join(f"{v:.5f}" if isinstance(v, float) else str(v) for v in
                                  [0, x / 200, y / 120, 54 / 200, 34 / 120, *kp]))
        img.save(images / f"frame_{i:03d}.jpg", quality=92)
        (labels / f"frame_{i:03d}.txt").write_text("\n".join(lines) + "\n")
    project = {"images_dir": "../images", "labels_dir": "labels", "paths_relative": True,
               "class_names": ["mouse"], "keypoint_names": ["nose", "tail"],
               "skeleton_edges": [[0, 1]], "dims": 3, "bbox_pad_frac": 0.05}
    (root / "posekit_project" / "pose_project.json").write_text(json.dumps(project, indent=2))


def make_demo_data(root: Path, per_class: int = 40, seed: int = 0) -> dict[str, Path]:
    """Write the demo sources under ``root`` (idempotent: same seed, same files)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    tree = root / "shapes"
    for kind in CLASSES:
        for i in range(per_class):
            path = tree / kind / f"{kind}_{i:03d}.jpg"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                _shape_image(kind, rng, 96).save(path, quality=90)
    loose = root / "unsorted"
    loose.mkdir(exist_ok=True)
    for i in range(12):
        path = loose / f"img_{i:03d}.png"
        if not path.exists():
            _shape_image(CLASSES[i % 3], rng).save(path)
    (loose / "empty.jpg").write_bytes(b"")
    (loose / "notes.jpg").write_text("this is a text file with an image extension\n")
    good = (tree / "circle" / "circle_000.jpg").read_bytes()
    (loose / "truncated.jpg").write_bytes(good[: len(good) // 2])
    csv = root / "labels.csv"
    csv.write_text("path,label\n" + "".join(
        f"unsorted/img_{i:03d}.png,{CLASSES[i % 3]}\n" for i in range(0, 12, 2)))
    video = root / "arena.mp4"
    if not video.exists():
        _video(video, rng)
    _posekit(root / "posekit_dataset", rng)
    return {"imagefolder": tree, "folder": loose, "csv": csv, "video": video,
            "posekit": root / "posekit_dataset"}
