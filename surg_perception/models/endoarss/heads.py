"""DeepLab-style task heads of the EndoARSS family.

Segmentation reuses torchvision's ASPP (DeepLabV3) on the 1/14 ViT feature map and
upsamples the logits bilinearly to the network input size. Activity recognition pools a
3x3-conv refinement of its own feature map and concatenates the class token.

Both heads use BatchNorm (torchvision's ASPP does), so training needs batches of 2 or more
(ASPP's image-pooling branch normalises one value per sample).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.ops import Conv2dNormActivation

from surg_perception.errors import ConfigError

# DeepLabV3's rates for an output stride of 16; the ViT's stride is 14.
ATROUS_RATES: tuple[int, int, int] = (6, 12, 18)


class SegmentationHead(nn.Module):
    """ASPP -> 3x3 conv -> 1x1 classifier -> bilinear upsampling.

    ``forward(feat [B, C, h, w], size (H, W)) -> logits [B, num_classes, H, W]``.
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ConfigError("EndoARSS needs at least one segmentation class (model.seg_classes)")
        self.aspp = ASPP(in_channels, list(ATROUS_RATES), out_channels=channels)
        self.refine = Conv2dNormActivation(channels, channels, 3)  # keeps h, w
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, feat: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        logits = self.classifier(self.refine(self.aspp(feat)))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class ActivityHead(nn.Module):
    """Pooled 3x3-conv features + class token -> activity logits.

    ``forward(feat [B, C, h, w], cls [B, C]) -> logits [B, num_classes]``.
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int, dropout: float = 0.1):
        super().__init__()
        if num_classes <= 0:
            raise ConfigError("ActivityHead needs at least one class (model.activity_classes)")
        self.refine = Conv2dNormActivation(in_channels, channels, 3)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels + in_channels, num_classes)

    def forward(self, feat: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        pooled = self.refine(feat).mean(dim=(2, 3))
        return self.classifier(self.dropout(torch.cat([pooled, cls], dim=1)))
