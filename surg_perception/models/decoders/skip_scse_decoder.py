"""AP-MTL segmentation decoder: transposed-conv upsampling with Skip-scSE fused skips.

From the deepest tap (stride 32) up: each stage doubles the resolution with a transposed
conv, concatenates the encoder tap of that stride (reduced to a quarter of its channels by a
1x1 conv), fuses with a 3x3 conv and applies Skip-scSE. A last transposed conv brings stride 2
to the full input size, and a 1x1 conv gives the class logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from surg_perception.models.blocks.skip_scse import SkipSCSE


class DecoderStage(nn.Module):
    """``x [B, C_in, h, w], skip [B, C_skip, 2h, 2w] -> [B, C_out, 2h, 2w]``."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        reduced = max(1, skip_channels // 4)
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.skip = Conv2dNormActivation(skip_channels, reduced, 1)
        self.fuse = Conv2dNormActivation(out_channels + reduced, out_channels, 3)
        self.attention = SkipSCSE(out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"decoder: upsampled map {tuple(x.shape[-2:])} does not match the encoder tap "
                f"{tuple(skip.shape[-2:])}; the input height and width must be divisible by 32"
            )
        return self.attention(self.fuse(torch.cat([x, self.skip(skip)], dim=1)))


class SkipSCSEDecoder(nn.Module):
    """Encoder taps (strides 2..32, shallow first) -> ``[B, num_classes, H, W]`` logits."""

    def __init__(self, tap_channels: tuple[int, ...], channels: int, num_classes: int):
        super().__init__()
        stages, in_channels = [], tap_channels[-1]
        for skip_channels in reversed(tap_channels[:-1]):
            stages.append(DecoderStage(in_channels, skip_channels, channels))
            in_channels = channels
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, taps: list[Tensor]) -> Tensor:
        x = taps[-1]
        for stage, skip in zip(self.stages, reversed(taps[:-1])):
            x = stage(x, skip)
        return self.head(x)
