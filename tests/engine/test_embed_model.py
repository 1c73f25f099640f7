"""The ONNX embedder: spec checks at load, normalisation, pooling, determinism, discovery."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from classkit.engine.embed import (ModelRef, ModelSpec, OnnxEmbedder, load_spec_file,
                                   probe_output_dim, resolve_model)
from classkit.engine.errors import ClassKitError

from .test_embed_support import (DIM, SIZE, FlatNet, NanNet, TinyNet, build, export,
                                 model_dir, tiny_model, write_spec)

__all__ = ["model_dir", "tiny_model"]  # fixtures used here


def _batch(n: int, seed: int = 0, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _torch_reference(net: torch.nn.Module, batch: np.ndarray, mean: list[float],
                     std: list[float]) -> np.ndarray:
    x = (batch.astype(np.float64) - np.array(mean)) / np.array(std)
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_embed_matches_torch_and_is_normalised(tiny_model: ModelRef) -> None:
    emb = OnnxEmbedder(tiny_model, threads=1)
    batch = _batch(5)
    out = emb.embed(batch)
    assert out.dtype == np.float32 and out.shape == (5, DIM)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    ref = _torch_reference(TinyNet(), batch, tiny_model.spec.mean, tiny_model.spec.std)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert emb.dim == DIM and len(emb.sha256) == 64


def test_same_image_same_vector_across_batch_sizes_and_positions(tiny_model: ModelRef) -> None:
    emb = OnnxEmbedder(tiny_model, threads=2)
    batch = _batch(9, seed=3)
    full = emb.embed(batch)
    np.testing.assert_array_equal(emb.embed(batch), full)  # twice: identical
    for i in range(len(batch)):
        np.testing.assert_allclose(emb.embed(batch[i:i + 1])[0], full[i], atol=1e-6)
    shuffled = emb.embed(batch[::-1].copy())
    np.testing.assert_allclose(shuffled[::-1], full, atol=1e-6)
    np.testing.assert_allclose(emb.embed(batch[2:7]), full[2:7], atol=1e-6)


def test_bgr_and_nhwc_layouts(model_dir: Path) -> None:
    batch = _batch(3, seed=5)
    base = build(model_dir, "tiny")
    nhwc = build(model_dir, "tiny_nhwc", nhwc=True)
    np.testing.assert_allclose(OnnxEmbedder(nhwc).embed(batch), OnnxEmbedder(base).embed(batch),
                               atol=1e-5)
    # BGR with mirrored mean/std on the reversed image equals RGB on the image
    bgr = ModelRef(ModelSpec.from_dict({**base.spec.to_dict(), "channel_order": "BGR",
                                        "mean": base.spec.mean[::-1],
                                        "std": base.spec.std[::-1]}), base.base)
    np.testing.assert_allclose(OnnxEmbedder(bgr).embed(batch[..., ::-1].copy()),
                               OnnxEmbedder(base).embed(batch), atol=1e-5)


def test_fixed_batch_model_is_fed_in_chunks(model_dir: Path) -> None:
    fixed = build(model_dir, "tiny_batch1", dynamic=False)
    emb = OnnxEmbedder(fixed)
    assert emb.fixed_batch == 2  # exported with a (2, 3, 32, 32) example
    batch = _batch(5, seed=7)
    np.testing.assert_allclose(emb.embed(batch), OnnxEmbedder(build(model_dir, "tiny")).embed(batch),
                               atol=1e-5)


def test_feature_map_and_token_pooling(model_dir: Path) -> None:
    class FeatureMap(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, :4, :4] * 2.0  # (N, 3, 4, 4): mean over H, W -> 3 values

    class Tokens(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(2).transpose(1, 2)  # (N, T, 3)

    fmap = build(model_dir, "fmap", FeatureMap(), output_dim=3, pooling="mean")
    tokens = build(model_dir, "tokens", Tokens(), output_dim=3, pooling="cls")
    batch = _batch(2, seed=1)
    x = (batch.astype(np.float64) - fmap.spec.mean) / fmap.spec.std
    want = x[:, :4, :4].mean(axis=(1, 2))
    np.testing.assert_allclose(OnnxEmbedder(fmap).embed(batch),
                               want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)
    want = x[:, 0, 0]
    np.testing.assert_allclose(OnnxEmbedder(tokens).embed(batch),
                               want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)
    with pytest.raises(ClassKitError, match=r"outputs 48 values per image, spec says 3"):
        OnnxEmbedder(build(model_dir, "fmap", output_dim=3, pooling="none"))


# ------------------------------------------------------------------ bad model files
def _spec_for(onnx: Path, **fields: object) -> ModelRef:
    return load_spec_file(write_spec(onnx, **fields))


def test_random_bytes_text_and_truncated_files(tmp_path: Path, tiny_model: ModelRef) -> None:
    rnd = tmp_path / "random.onnx"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    text = tmp_path / "text.onnx"
    text.write_text("this is not a model\n")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(tiny_model.path.read_bytes()[:700])
    for path in (rnd, text, cut):
        with pytest.raises(ClassKitError, match=rf"model {path.stem}: .*{path.name}.* not a valid "
                                                r"ONNX model"):
            OnnxEmbedder(_spec_for(path))
    with pytest.raises(ClassKitError, match="file not found"):
        OnnxEmbedder(ModelRef(ModelSpec(name="gone", file="gone.onnx", output_dim=4), tmp_path))


def test_checksum_mismatch(tiny_model: ModelRef) -> None:
    bad = ModelRef(ModelSpec.from_dict({**tiny_model.spec.to_dict(), "sha256": "0" * 64}),
                   tiny_model.base)
    with pytest.raises(ClassKitError, match="model tiny: .* has sha256 .* expects 0000"):
        OnnxEmbedder(bad)
    good = OnnxEmbedder(tiny_model)
    ok = ModelRef(ModelSpec.from_dict({**tiny_model.spec.to_dict(), "sha256": good.sha256.upper()}),
                  tiny_model.base)
    assert OnnxEmbedder(ok).sha256 == good.sha256


def test_rank2_input_rejected(tmp_path: Path) -> None:
    path = export(FlatNet(), tmp_path / "flat.onnx", torch.rand(2, 12))
    with pytest.raises(ClassKitError, match=r"model flat: input 'input' has shape .*\(rank 2\)"):
        OnnxEmbedder(_spec_for(path))


def test_static_size_and_channel_mismatch(tmp_path: Path) -> None:
    path = export(TinyNet(), tmp_path / "static.onnx", torch.rand(1, 3, SIZE, SIZE), dynamic=False)
    with pytest.raises(ClassKitError, match=r"model static: .*shape \[1, 3, 32, 32\].*input_size 64"):
        OnnxEmbedder(_spec_for(path, input_size=64))
    with pytest.raises(ClassKitError, match=r"not 3 channels on axis 3 as layout NHWC"):
        OnnxEmbedder(_spec_for(path, layout="NHWC"))


def test_output_dim_mismatch_and_names(tiny_model: ModelRef) -> None:
    def variant(**fields: object) -> ModelRef:
        return ModelRef(ModelSpec.from_dict({**tiny_model.spec.to_dict(), **fields}),
                        tiny_model.base)

    with pytest.raises(ClassKitError, match=r"^model tiny outputs 16 values per image, spec says 512"):
        OnnxEmbedder(variant(output_dim=512))
    with pytest.raises(ClassKitError, match=r"no output named 'logits' \(outputs: output\)"):
        OnnxEmbedder(variant(output_name="logits"))
    with pytest.raises(ClassKitError, match=r"no input named 'pixels' \(inputs: input\)"):
        OnnxEmbedder(variant(input_name="pixels"))


def test_nan_model_rejected_at_load(tmp_path: Path) -> None:
    path = export(NanNet(), tmp_path / "nan.onnx", torch.rand(2, 3, SIZE, SIZE))
    with pytest.raises(ClassKitError, match=r"model nan produced NaN or infinite values"):
        OnnxEmbedder(_spec_for(path, output_dim=3))


def test_wrong_input_shape_to_embed(tiny_model: ModelRef) -> None:
    emb = OnnxEmbedder(tiny_model)
    with pytest.raises(ValueError, match="expected uint8"):
        emb.embed(np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert emb.embed(np.zeros((0, SIZE, SIZE, 3), np.uint8)).shape == (0, DIM)


# ------------------------------------------------------------------ discovery
def test_sidecar_discovery_and_resolve(tmp_path: Path, tiny_model: ModelRef) -> None:
    onnx = tmp_path / "m" / "net.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(tiny_model.path.read_bytes())
    # <stem>.json sidecar
    (onnx.with_suffix(".json")).write_text(json.dumps({
        "name": "mine", "file": "net.onnx", "output_dim": DIM, "input_size": SIZE}))
    ref = resolve_model(str(onnx))
    assert ref.spec.name == "mine" and ref.path == onnx.resolve()
    assert OnnxEmbedder(ref).dim == DIM
    # <file>.json wins over <stem>.json
    write_spec(onnx, name="preferred")
    assert resolve_model(str(onnx)).spec.name == "preferred"
    # a spec .json path directly, with an override
    ref = resolve_model(str(onnx.with_name("net.onnx.json")), {"resize": "letterbox"})
    assert ref.spec.resize == "letterbox" and ref.path == onnx
    with pytest.raises(ClassKitError, match="model file not found"):
        resolve_model(str(tmp_path / "nope.onnx"))


def test_resolve_without_spec_probes_the_model(tmp_path: Path, tiny_model: ModelRef) -> None:
    onnx = tmp_path / "bare.onnx"
    onnx.write_bytes(tiny_model.path.read_bytes())
    assert probe_output_dim(onnx, {"input_size": SIZE}) == DIM
    ref = resolve_model(str(onnx), {"input_size": SIZE})
    assert (ref.spec.name, ref.spec.output_dim, ref.spec.input_size) == ("bare", DIM, SIZE)
    static = export(TinyNet(), tmp_path / "static.onnx", torch.rand(1, SIZE, SIZE, 3).permute(
        0, 3, 1, 2), dynamic=False)
    ref = resolve_model(str(static))  # input size and layout read from the static input
    assert (ref.spec.input_size, ref.spec.layout, ref.spec.output_dim) == (SIZE, "NCHW", DIM)
    OnnxEmbedder(ref)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ClassKitError, match="not a valid ONNX model"):
        resolve_model(str(junk))
