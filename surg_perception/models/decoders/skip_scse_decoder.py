"""AP-MTL segmentation decoder: transposed-conv upsampling with Skip-scSE fused skips.

From the deepest tap (stride 32) up: each stage doubles the resolution with a transposed
conv, concatenates the encoder tap of that stride (reduced to a quarter of its channels by a
1x1 conv, but to no fewer than ``min(channels, SKIP_FLOOR)``), fuses with a 3x3 conv and applies
Skip-scSE. The head brings stride 2 to the input size:

- ``"transposed"`` (AP-MTL): a transposed conv, ReLU, and a 1x1 conv to the class logits;
- ``"bilinear"``: a 1x1 conv to the class logits at stride 2, upsampled bilinearly.

Why the two departures exist (scripts/probe_features.py, reports/synthetic/REPORT.md): with the
small encoders of the CPU configurations a quarter of a stride-2 tap is 2 channels, and the
transposed head learns the instrument types far slower than a logit upsampling does; on the
synthetic training frames (tiny model, 200 steps of the segmentation loss) the share of
instrument pixels typed right went from 0.15 (chance: 0.14) to 0.39 with both changes. The
floor changes nothing for VGG16's taps (a quarter of 64 is 16).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

from surg_perception.errors import ConfigError
from surg_perception.models.blocks.skip_scse import SkipSCSE

SKIP_FLOOR = 16  # fewest channels a skip is reduced to (its own width if it has fewer)
HEADS = ("transposed", "bilinear")


class DecoderStage(nn.Module):
    """``x [B, C_in, h, w], skip [B, C_skip, 2h, 2w] -> [B, C_out, 2h, 2w]``."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        reduced = max(skip_channels // 4, min(skip_channels, SKIP_FLOOR))
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

    def __init__(self, tap_channels: tuple[int, ...], channels: int, num_classes: int,
                 head: str = "transposed"):
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"model.decoder_head must be one of {HEADS}, got {head!r}")
        stages, in_channels = [], tap_channels[-1]
        for skip_channels in reversed(tap_channels[:-1]):
            stages.append(DecoderStage(in_channels, skip_channels, channels))
            in_channels = channels
        self.stages = nn.ModuleList(stages)
        if head == "transposed":
            self.head = nn.Sequential(
                nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, num_classes, 1),
            )
        else:
            self.head = nn.Sequential(
                nn.Conv2d(channels, num_classes, 1),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            )

    def forward(self, taps: list[Tensor]) -> Tensor:
        x = taps[-1]
        for stage, skip in zip(self.stages, reversed(taps[:-1])):
            x = stage(x, skip)
        return self.head(x)
