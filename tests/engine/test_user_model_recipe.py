"""The documented export recipe (docs/models.md) end to end on a small random-weight DINOv2:
transformers -> torch.onnx.export -> sidecar spec -> `resolve_model` -> `embed_project`."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from classkit.engine.embed.job import embed_project
from classkit.engine.embed.preprocess import load_image
from classkit.engine.embed.spec import resolve_model
from classkit.engine.embed.store import load_embeddings
from classkit.engine.ingest import ingest
from tests.conftest import make_image

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


class Backbone(torch.nn.Module):
    """The wrapper docs/models.md tells users to export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.m = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.m(pixel_values=pixel_values).last_hidden_state


@pytest.fixture(scope="module")
def tiny_dinov2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, image_size=56, patch_size=14)
    backbone = Backbone(transformers.Dinov2Model(cfg).eval())
    folder = tmp_path_factory.mktemp("user_model")
    onnx = folder / "tiny_dinov2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(backbone, torch.randn(1, 3, 56, 56), str(onnx), dynamo=False,
                          opset_version=17, input_names=["pixel_values"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={"pixel_values": {0: "batch"},
                                        "last_hidden_state": {0: "batch"}})
    spec = {"name": "tiny-dinov2", "file": onnx.name, "output_dim": 32, "input_size": 56,
            "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
            "resize": "center_crop", "input_name": "pixel_values",
            "output_name": "last_hidden_state", "pooling": "cls"}
    (folder / "tiny_dinov2.json").write_text(json.dumps(spec))
    return onnx, backbone


def test_recipe_end_to_end(project, tmp_path: Path, tiny_dinov2) -> None:
    onnx, backbone = tiny_dinov2
    for i in range(5):
        make_image(tmp_path / "imgs" / f"{i}.jpg", size=(80, 60), seed=i)
    ingest(project, [tmp_path / "imgs"])
    ref = resolve_model(str(onnx))
    assert ref.spec.name == "tiny-dinov2" and ref.spec.pooling == "cls"
    summary = embed_project(project, ref, batch_size=2)
    emb = load_embeddings(project)
    assert emb.vectors.shape == (5, 32) and summary["dim"] == 32
    vectors = np.asarray(emb.vectors, dtype=np.float32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # torch on the same preprocessed pixels gives the same CLS embedding as ORT's row
    row = int(emb.row_of(int(emb.ids[0])))
    path = project.paths.resolve(project.db.execute(
        "SELECT path FROM images WHERE id=?", (int(emb.ids[0]),)).fetchone()[0])
    pixels = load_image(str(path), 56, "center_crop").astype(np.float32)
    x = (pixels - np.array(ref.spec.mean, np.float32)) / np.array(ref.spec.std, np.float32)
    with torch.no_grad():
        cls = backbone(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()))[0, 0].numpy()
    assert np.abs(cls / np.linalg.norm(cls) - vectors[row]).max() < 1e-4
