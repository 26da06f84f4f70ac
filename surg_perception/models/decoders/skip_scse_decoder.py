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

Part segmentation (``part_classes > 0``, EndoVis 2017 shaft / wrist / claspers): a second
classifier on the decoder's last features, with the type head's upsampling rule
(:meth:`SkipSCSEDecoder.forward`). ``"bilinear"``: its own 1x1 conv at stride 2, upsampled
bilinearly. ``"transposed"``: a 1x1 conv on the type head's upsampled features (after its
transposed conv and ReLU); a second transposed conv at the input size would cost VGG16's
AP-MTL about 43 GFLOPs per 1024x1280 frame, the shared one costs the part head 0.7.
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


def _head(kind: str, channels: int, num_classes: int) -> nn.Sequential:
    """Stride-2 features ``[B, channels, H/2, W/2]`` -> logits ``[B, num_classes, H, W]``."""
    if kind == "transposed":
        return nn.Sequential(
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_classes, 1),
        )
    return nn.Sequential(
        nn.Conv2d(channels, num_classes, 1),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
    )


class SkipSCSEDecoder(nn.Module):
    """Encoder taps (strides 2..32, shallow first) -> ``([B, num_classes, H, W]`` type logits,
    ``[B, part_classes, H, W]`` part logits or None``)``; ``part_classes > 0`` adds
    ``part_head``."""

    shared_upsampling: bool  # the part head reads the type head's upsampled features

    def __init__(self, tap_channels: tuple[int, ...], channels: int, num_classes: int,
                 head: str = "transposed", part_classes: int = 0):
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"model.decoder_head must be one of {HEADS}, got {head!r}")
        stages, in_channels = [], tap_channels[-1]
        for skip_channels in reversed(tap_channels[:-1]):
            stages.append(DecoderStage(in_channels, skip_channels, channels))
            in_channels = channels
        self.stages = nn.ModuleList(stages)
        self.head = _head(head, channels, num_classes)
        self.shared_upsampling = head == "transposed"
        self.head_kind, self.channels = head, channels
        self.part_head: nn.Module | None = None
        if part_classes:
            self.attach_part_head(part_classes)

    def attach_part_head(self, part_classes: int) -> None:
        """Add the part head (random weights). ``build_apmtl`` calls it after every other
        part, so a seeded build draws the same weights for the rest with or without it."""
        self.part_head = nn.Conv2d(self.channels, part_classes, 1) if self.shared_upsampling \
            else _head(self.head_kind, self.channels, part_classes)

    def forward(self, taps: list[Tensor]) -> tuple[Tensor, Tensor | None]:
        """``(type logits, part logits or None)``, both at the input size."""
        x = taps[-1]
        for stage, skip in zip(self.stages, reversed(taps[:-1])):
            x = stage(x, skip)
        if self.part_head is None:
            return self.head(x), None
        if self.shared_upsampling:  # head = (transposed conv, ReLU, 1x1 classifier)
            x = self.head[1](self.head[0](x))
            return self.head[2](x), self.part_head(x)
        return self.head(x), self.part_head(x)
