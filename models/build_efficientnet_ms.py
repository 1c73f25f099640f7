"""EfficientNet-Lite0, multi-scale: the default embedder (build-time only; see build_models.py).

Same weights, input and preprocessing as ``build_efficientnet`` (EfficientNet-Lite0), but the
vector also describes the image at two earlier depths. Three global averages: the head
features (after the 1x1 head conv + BN + ReLU6, 1280 channels, stride 32: what
``efficientnet-lite0`` outputs), the output of MBConv block 14 (192 channels, stride 32,
before the head conv) and of block 10 (112 channels, stride 16). Each is L2-normalised, so
each scale weighs the same in a cosine or a linear head, and the three are concatenated and
scaled by 1/sqrt(3) (unit length): (N, 1584).

Why: the head conv is trained for ImageNet's 1000 classes; mid-level features transfer better
to other image domains, especially from few labels. Measured on Fashion-MNIST, the AL
benchmark's data (benchmarks/al_simulation.py; docs/benchmarks/learning-loop.md): a linear
head on all 20,000 labels 0.893 -> 0.904 test accuracy; the default recipe at 290 labels
0.843 -> 0.854 (same 5 seeds); the head conv's output alone is what the old default gave, block 15 alone
(320-d) reaches 0.846 at 290 labels but only 0.888 with all labels.
"""
from __future__ import annotations

from typing import Any

try:  # run as a script (python models/build_models.py) or as a module
    from . import build_efficientnet as base
except ImportError:
    import build_efficientnet as base  # type: ignore[no-redef]

NAME = "efficientnet-lite0-ms"
FILE = "efficientnet-lite0-ms.onnx"
PACKAGES = base.PACKAGES
INPUT_SIZE = base.INPUT_SIZE
TAPS = (14, 10)  # MBConv blocks whose outputs are pooled besides the head features
DIM = 1280 + 192 + 112

SPEC: dict[str, Any] = {
    **base.SPEC,
    "name": NAME,
    "file": FILE,
    "output_dim": DIM,
    # The same number as efficientnet-lite0, a looser criterion on this model (models/README.md):
    # it catches more re-encoded copies and also groups very similar distinct images, which the
    # AL recipe then does not label twice (0.97 vs 0.983: +0.7 points at 385 labels)
    "near_duplicate_cosine": 0.97,
    "description": "EfficientNet-Lite0 (ImageNet-1k), multi-scale: global averages of the head "
                   "features (1280), MBConv block 14 (192) and block 10 (112), each "
                   "L2-normalised, concatenated, 1584-d. Default embedder: mid-level features "
                   "transfer better to new image domains, most of all from few labels.",
}


def build_module():
    """The embedder: input (N, 3, 224, 224) float32 -> (N, 1584) float32, unit length."""
    import math

    import torch
    from torch import nn
    from torch.nn import functional as F

    class EfficientNetLite0MultiScale(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            del self.net._fc, self.net._dropout  # not part of the embedder
            self.scale = 1.0 / math.sqrt(1 + len(TAPS))

        def forward(self, x):
            net = self.net
            x = net._swish(net._bn0(net._conv_stem(x)))
            taps = {}
            for i, block in enumerate(net._blocks):
                x = block(x)  # eval mode: no drop-connect, as in extract_features
                if i in TAPS:
                    taps[i] = x.mean((2, 3))
            head = net._swish(net._bn1(net._conv_head(x))).mean((2, 3))
            parts = [head] + [taps[i] for i in TAPS]
            return torch.cat([F.normalize(p, dim=1) for p in parts], 1) * self.scale

    return EfficientNetLite0MultiScale(base._load_network()).eval()


def validate(images: dict[str, Any], preprocess) -> dict[str, Any]:
    """The weights are efficientnet-lite0's: the same classifier check on real photos."""
    return base.validate(images, preprocess)
