"""Run an ONNX embedder with onnxruntime: check it against its spec at load, then embed.

Every way a model file can disagree with its spec is caught when it loads, with a message
naming the model (missing or invalid file, checksum, input rank/channels/size, output name,
output size, non-finite outputs), so a long job never fails half-way for a spec mistake.
``embed`` normalises uint8 batches into a reused float32 buffer, runs the session, pools
and L2-normalises the rows.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..config import default_workers
from ..errors import ClassKitError
from .spec import ModelRef, ModelSpec

log = logging.getLogger(__name__)

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_PROBE_BATCH = 2


def _ort() -> Any:
    import onnxruntime  # imported on first use: ~0.3 s, and only embedding needs it

    return onnxruntime


def _ort_errors() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises for bad models and inputs (its own classes are not RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as st

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoModel", "NoSuchFile",
             "NotImplemented", "RuntimeException", "EPFail", "EngineError", "NotFound")
    own = tuple(getattr(st, n) for n in names if isinstance(getattr(st, n, None), type))
    return (*own, RuntimeError, ValueError, OSError)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a model file, cached per (path, size, mtime) for this process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(8 << 20):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, always CPU as the fallback."""
    available = _ort().get_available_providers()
    gpu = ["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []
    return [*gpu, "CPUExecutionProvider"]


class OnnxEmbedder:
    """A loaded, checked embedder: ``embed(uint8 (N, S, S, 3) RGB) -> float32 (N, D)``."""

    def __init__(self, model: ModelRef, threads: int | None = None, *,
                 providers: list[str] | None = None, spinning: bool = False,
                 verify_dim: bool = True) -> None:
        """Load ``model.path`` and check it against ``model.spec`` (ClassKitError if not).

        ``threads``: onnxruntime intra-op threads (default: every core). ``spinning``: idle
        onnxruntime threads busy-wait between operators (stopping when a run ends); off by
        default: it sped up bare inference ~10% here but slowed the pipeline ~5%, because
        the decode threads need those cycles. ``verify_dim=False`` only measures the
        output size.
        """
        spec = self.spec = model.spec
        self.name = spec.name
        self.path = model.path
        if not self.path.is_file():
            raise ClassKitError(f"model {self.name}: file not found: {self.path}")
        try:
            self.sha256 = file_sha256(self.path)
        except OSError as exc:
            raise ClassKitError(f"model {self.name}: cannot read {self.path}: {exc}") from exc
        if spec.sha256 and spec.sha256.lower() != self.sha256:
            raise ClassKitError(f"model {self.name}: {self.path} has sha256 {self.sha256}, the "
                                f"spec expects {spec.sha256}: the file is damaged or a "
                                f"different model")
        self.threads = threads or default_workers()
        ort = _ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self._run_options = ort.RunOptions()
        if spinning:
            self._run_options.add_run_config_entry("session.force_spinning_stop", "1")
        self.providers = providers or default_providers()
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=self.providers)
        except _ort_errors() as exc:
            raise ClassKitError(f"model {self.name}: {self.path} is not a valid ONNX model "
                                f"onnxruntime can load ({type(exc).__name__}: "
                                f"{str(exc).strip()[:300]})") from exc
        self._check_input()
        self._check_output()
        scale = np.array([1.0 / s for s in spec.std], np.float32)
        bias = np.array([-m / s for m, s in zip(spec.mean, spec.std, strict=True)], np.float32)
        # channel c of the model input comes from RGB channel src[c]; mean/std are R, G, B
        self._src = (0, 1, 2) if spec.channel_order == "RGB" else (2, 1, 0)
        self._scale = scale[list(self._src)]
        self._bias = bias[list(self._src)]
        self._buf: np.ndarray | None = None
        self.dim = spec.output_dim
        self.dim = self._probe(verify_dim)

    # ------------------------------------------------------------------ checks at load
    def _check_input(self) -> None:
        spec, inputs = self.spec, self.session.get_inputs()
        if not inputs:
            raise ClassKitError(f"model {self.name} has no inputs")
        names = [i.name for i in inputs]
        if spec.input_name and spec.input_name not in names:
            raise ClassKitError(f"model {self.name} has no input named {spec.input_name!r} "
                                f"(inputs: {', '.join(names)})")
        inp = inputs[names.index(spec.input_name)] if spec.input_name else inputs[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ClassKitError(f"model {self.name}: input {inp.name!r} has shape {shape} (rank "
                                f"{len(shape)}); an image embedder takes a rank-4 batch "
                                f"({spec.layout})")
        c_axis, hw = (1, (2, 3)) if spec.layout == "NCHW" else (3, (1, 2))
        if isinstance(shape[c_axis], int) and shape[c_axis] != 3:
            raise ClassKitError(f"model {self.name}: input {inp.name!r} has shape {shape}, which "
                                f"is not 3 channels on axis {c_axis} as layout {spec.layout} "
                                f"needs (wrong layout in the spec?)")
        for axis in hw:
            if isinstance(shape[axis], int) and shape[axis] != spec.input_size:
                raise ClassKitError(f"model {self.name}: input {inp.name!r} has shape {shape}, "
                                    f"but the spec says input_size {spec.input_size}")
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        types = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
        if inp.type not in types:
            raise ClassKitError(f"model {self.name}: input {inp.name!r} is {inp.type}; only "
                                f"float and float16 image inputs are supported")
        self._in_dtype = types[inp.type]
        self._shape = ((3, spec.input_size, spec.input_size) if spec.layout == "NCHW"
                       else (spec.input_size, spec.input_size, 3))

    def _check_output(self) -> None:
        names = [o.name for o in self.session.get_outputs()]
        if not names:
            raise ClassKitError(f"model {self.name} has no outputs")
        if self.spec.output_name and self.spec.output_name not in names:
            raise ClassKitError(f"model {self.name} has no output named "
                                f"{self.spec.output_name!r} (outputs: {', '.join(names)})")
        self.output_name = self.spec.output_name or names[0]

    def _probe(self, verify_dim: bool) -> int:
        """One forward pass on a zero batch: finite values of the promised size."""
        n = self.fixed_batch or _PROBE_BATCH
        size = self.spec.input_size
        vec = self._forward(np.zeros((n, size, size, 3), np.uint8), check_dim=False)
        if verify_dim and vec.shape[1] != self.spec.output_dim:
            hint = (f" (pooling is {self.spec.pooling!r}: try 'mean' or 'cls' for token or "
                    f"feature-map outputs)" if self.spec.pooling == "none" else "")
            raise ClassKitError(f"model {self.name} outputs {vec.shape[1]} values per image, "
                                f"spec says {self.spec.output_dim}{hint}")
        return int(vec.shape[1])

    # ------------------------------------------------------------------ embedding
    def embed(self, batch: np.ndarray) -> np.ndarray:
        """L2-normalised float32 ``(N, D)`` for RGB uint8 ``(N, S, S, 3)`` images."""
        return self._forward(batch, check_dim=True)

    def _forward(self, batch: np.ndarray, check_dim: bool) -> np.ndarray:
        size = self.spec.input_size
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != (size, size, 3):
            raise ValueError(f"expected uint8 (N, {size}, {size}, 3), got {batch.dtype} "
                             f"{batch.shape}")
        n = len(batch)
        step = self.fixed_batch or max(n, 1)
        parts = []
        for start in range(0, n, step):
            part = batch[start:start + step]
            x = self._normalise(part, step if self.fixed_batch else len(part))
            try:
                raw = self.session.run([self.output_name], {self.input_name: x},
                                       self._run_options)[0]
            except _ort_errors() as exc:
                raise ClassKitError(f"model {self.name} failed on a batch of {len(x)} "
                                    f"({type(exc).__name__}: {str(exc).strip()[:300]})") from exc
            parts.append(self._pool(np.asarray(raw), len(x))[:len(part)])
        out = (np.concatenate(parts) if len(parts) != 1 else parts[0]) if parts else \
            np.zeros((0, self.dim), np.float32)
        if out.dtype != np.float32 or not out.flags.writeable:
            out = out.astype(np.float32)
        if check_dim and out.shape[1] != self.dim:
            raise ClassKitError(f"model {self.name} outputs {out.shape[1]} values per image, "
                                f"spec says {self.dim}")
        if not np.isfinite(out).all():
            bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
            raise ClassKitError(f"model {self.name} produced NaN or infinite values for "
                                f"{len(bad)} of {n} images (batch rows {bad[:5].tolist()}): "
                                f"the model file or its spec (mean/std, layout) is broken")
        norms = np.sqrt(np.einsum("ij,ij->i", out, out))
        out /= np.maximum(norms, 1e-12)[:, None]
        return out

    def _normalise(self, part: np.ndarray, rows: int) -> np.ndarray:
        """``(x - mean) / std`` in the model's channel order and layout, into the reused buffer."""
        need = (rows, *self._shape)
        if self._buf is None or self._buf.shape[0] < rows:
            self._buf = np.empty(need, np.float32)
        buf = self._buf[:rows]
        n = len(part)
        if self.spec.layout == "NCHW":
            for c, src in enumerate(self._src):  # strided read, contiguous write, one pass
                np.multiply(part[..., src], self._scale[c], out=buf[:n, c])
                buf[:n, c] += self._bias[c]
        else:
            view = part if self._src == (0, 1, 2) else part[..., ::-1]
            np.multiply(view, self._scale, out=buf[:n])
            buf[:n] += self._bias
        if n < rows:
            buf[n:] = 0.0  # padding rows of a fixed-batch model
        return buf if self._in_dtype == np.float32 else buf.astype(self._in_dtype)

    def _pool(self, raw: np.ndarray, n: int) -> np.ndarray:
        """(n, D): none flattens each row, mean averages token/spatial axes, cls takes token 0."""
        if raw.ndim < 1 or raw.shape[0] != n:
            raise ClassKitError(f"model {self.name}: output {self.output_name!r} has shape "
                                f"{list(raw.shape)} for a batch of {n}")
        pooling = self.spec.pooling
        if pooling == "cls":
            if raw.ndim != 3:
                raise ClassKitError(f"model {self.name}: pooling 'cls' needs a (batch, tokens, "
                                    f"dim) output, got shape {list(raw.shape)}")
            raw = raw[:, 0, :]
        elif pooling == "mean" and raw.ndim > 2:
            if raw.ndim == 4 and self.spec.layout == "NCHW":
                axes: tuple[int, ...] = (2, 3)  # a CNN feature map (N, C, H, W)
            else:
                axes = tuple(range(1, raw.ndim - 1))  # tokens (N, T, D) or (N, H, W, C)
            raw = raw.mean(axis=axes, dtype=np.float32)
        return raw.reshape(n, -1).astype(np.float32, copy=False)


def probe_model(path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spec fields an ONNX file without a spec implies: output_dim, and input_size and
    layout when its input has static dims and ``overrides`` does not set them."""
    overrides = dict(overrides or {})
    found: dict[str, Any] = {}
    try:
        sess = _ort().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except _ort_errors() as exc:
        raise ClassKitError(f"{path} is not a valid ONNX model onnxruntime can load "
                            f"({type(exc).__name__}: {str(exc).strip()[:300]})") from exc
    inputs = sess.get_inputs()
    name = overrides.get("input_name") or (inputs[0].name if inputs else "")
    shape = next((list(i.shape) for i in inputs if i.name == name), [])
    if len(shape) == 4:
        if "layout" not in overrides:
            if shape[3] == 3 and shape[1] != 3:
                found["layout"] = "NHWC"
            elif shape[1] == 3:
                found["layout"] = "NCHW"
        layout = overrides.get("layout") or found.get("layout", "NCHW")
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        if "input_size" not in overrides and isinstance(h, int) and h == w and h >= 8:
            found["input_size"] = h
    del sess
    if "output_dim" not in overrides:
        fields = {"name": Path(path).stem, "file": str(Path(path).resolve()), **found,
                  **overrides, "output_dim": 1}
        ref = ModelRef(ModelSpec.from_dict(fields, str(path)), Path(path).parent)
        found["output_dim"] = OnnxEmbedder(ref, threads=1, verify_dim=False).dim
    return found


def probe_output_dim(path: Path, overrides: dict[str, Any] | None = None) -> int:
    """The embedding size of an ONNX file that has no spec (one probe forward pass)."""
    overrides = {k: v for k, v in (overrides or {}).items() if k != "output_dim"}
    return int(probe_model(path, overrides)["output_dim"])
