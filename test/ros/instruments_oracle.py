"""The node with an ORACLE network, for test_instruments_node.py (not collected by pytest).

    python test/ros/instruments_oracle.py FRAMES.npz --ros-args -p ...

The demo-size model does not type instruments well enough for 3D tips, so the instrument
wiring is tested with the real node, the real :class:`~surg_perception.predictor.Predictor`
(pre/post-processing, memory resets, both eyes in one batched step) and an injected network
(``Predictor(..., network=...)``) that returns the ground-truth segmentation logits of the
frame it is given: it recognises the frame among the test's generated frames (both eyes)
by a channel-order- and normalisation-invariant thumbnail, the nearest one wins.
``FRAMES.npz``: ``images`` [N, H, W, 3] uint8 RGB and ``types`` [N, H, W] uint8 type ids.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from surg_perception.models.outputs import ModelOutput
from surg_perception.predictor import Predictor
from surg_perception.ros import lifecycle_node, pipeline
from surg_perception.ros import node as node_module

THUMB = (24, 30)


def thumbnail(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> [B, h*w]: each channel standardised, then averaged (order-free)."""
    small = F.adaptive_avg_pool2d(images.float(), THUMB)
    mean = small.mean(dim=(2, 3), keepdim=True)
    std = small.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    return ((small - mean) / std).mean(dim=1).flatten(1)


class OracleNetwork:
    """``(images, state) -> (ModelOutput, state)`` returning ground-truth logits."""

    def __init__(self, path: str, classes: int) -> None:
        data = np.load(path)
        images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2)
        self.thumbs = thumbnail(images)
        self.types = torch.from_numpy(data["types"]).long()
        self.classes = classes

    batch_streams = True  # any batch: both eyes of a pair in one call, as the model

    def __call__(self, images: torch.Tensor, state):
        index = torch.cdist(thumbnail(images.cpu()), self.thumbs).argmin(dim=1)
        types = self.types[index][:, None].float()
        types = F.interpolate(types, size=images.shape[-2:], mode="nearest")[:, 0].long()
        logits = F.one_hot(types, self.classes).permute(0, 3, 1, 2).float() * 10.0
        return ModelOutput(seg_logits=logits.to(images.device)), state


def oracle_loader(settings):
    real = pipeline.load_predictor(settings)
    network = OracleNetwork(sys.argv[1], len(real.spec.model.seg_classes))
    return Predictor(real.model, real.spec, real.device, network=network)


if __name__ == "__main__":
    lifecycle_node.load_predictor = oracle_loader  # the node's configure builds this one
    sys.exit(node_module.main())
