"""Tiny random-weight ONNX embedders exported with torch, shared by the test_embed_* modules.

Importing a fixture from here makes it available in that module; the model files are
built once per session (cached by name under the session's base temp folder).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from classkit.engine.embed import ModelRef, load_spec_file

SIZE = 32
DIM = 16


class TinyNet(nn.Module):
    """conv3x3 -> relu -> global average pool -> linear: a deterministic random embedder."""

    def __init__(self, seed: int = 0, dim: int = DIM, nhwc: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.nhwc = nhwc
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.fc = nn.Linear(12, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class NanNet(nn.Module):
    """Takes the log of a negative number: NaN for every input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x.mean(dim=(2, 3)) - 10.0)


class FlatNet(nn.Module):
    """A rank-2 input: not an image model."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def export(net: nn.Module, path: Path, example: torch.Tensor, dynamic: bool = True) -> Path:
    """torch -> ONNX (legacy exporter), batch axis dynamic unless ``dynamic`` is False."""
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (example,), str(path), input_names=["input"],
                          output_names=["output"], dynamic_axes=axes, dynamo=False)
    return path


def write_spec(onnx: Path, sidecar: bool = True, **fields: Any) -> Path:
    """Write ``<file>.json`` (``sidecar``) or ``<stem>.spec.json`` next to ``onnx``."""
    spec = {"name": onnx.stem, "file": onnx.name, "output_dim": DIM, "input_size": SIZE,
            "mean": [120.0, 115.0, 100.0], "std": [60.0, 58.0, 62.0], **fields}
    out = onnx.with_name(onnx.name + ".json") if sidecar else onnx.with_suffix(".spec.json")
    out.write_text(json.dumps(spec), encoding="utf-8")
    return out


def build(folder: Path, name: str, net: nn.Module | None = None, *, size: int = SIZE,
          dynamic: bool = True, nhwc: bool = False, **spec: Any) -> ModelRef:
    """Export ``net`` (default TinyNet) once as ``folder/name.onnx`` with a sidecar spec."""
    onnx = folder / f"{name}.onnx"
    if not onnx.is_file():
        net = net if net is not None else TinyNet(nhwc=nhwc)
        shape = (2, size, size, 3) if nhwc else (2, 3, size, size)
        export(net, onnx, torch.rand(*shape), dynamic)
    if nhwc:
        spec.setdefault("layout", "NHWC")
    return load_spec_file(write_spec(onnx, input_size=size, **spec))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "embed_models"


@pytest.fixture(scope="session")
def tiny_model(model_dir: Path) -> ModelRef:
    """The standard test embedder: 32x32 squash, 16 dims, dynamic batch."""
    return build(model_dir, "tiny")
