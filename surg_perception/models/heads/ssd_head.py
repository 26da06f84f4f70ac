"""SSD multibox head: a 3x3 classification and a 3x3 regression conv per detection map."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from surg_perception.config import DetectionConfig
from surg_perception.ops.priors import check_detection_config, priors_per_location


def _flatten(x: Tensor, width: int) -> Tensor:
    """``[B, A * width, h, w] -> [B, h * w * A, width]`` (cell-major, then anchor: prior order)."""
    b, _, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w * (x.shape[1] // width), width)


class SSDHead(nn.Module):
    """Detection maps -> ``(logits [B, P, K+1], deltas [B, P, 4])``.

    Column 0 of the logits is background. Deltas are SSD offsets against the priors of
    :func:`surg_perception.ops.priors.make_priors` for the same maps, in the same order.
    """

    def __init__(self, in_channels: tuple[int, ...], num_classes: int, cfg: DetectionConfig):
        super().__init__()
        check_detection_config(cfg, len(in_channels))
        self.cfg = cfg
        self.num_classes = num_classes  # K, without background
        anchors = priors_per_location(cfg)
        self.cls_convs = nn.ModuleList(
            nn.Conv2d(c, a * (num_classes + 1), 3, padding=1) for c, a in zip(in_channels, anchors)
        )
        self.reg_convs = nn.ModuleList(
            nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(in_channels, anchors)
        )

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        if len(features) != len(self.cls_convs):
            raise ValueError(
                f"SSDHead expects {len(self.cls_convs)} feature maps, got {len(features)}"
            )
        logits = [_flatten(conv(f), self.num_classes + 1) for conv, f in zip(self.cls_convs,
                                                                          features)]
        deltas = [_flatten(conv(f), 4) for conv, f in zip(self.reg_convs, features)]
        return torch.cat(logits, dim=1), torch.cat(deltas, dim=1)
