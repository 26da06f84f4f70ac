"""Skip-scSE: concurrent channel and spatial squeeze-and-excitation plus the identity.

AP-MTL sums the two excitations with the input, ``x_S = cSE(x) + sSE(x) + x``, instead of
scSE's ``max``/sum of the excitations alone, so the block starts close to the identity and
the decoder trains like a plain skip path early on.
"""

from __future__ import annotations

from torch import Tensor, nn


class SkipSCSE(nn.Module):
    """``[B, C, H, W] -> [B, C, H, W]``.

    - cSE: global average pool -> 1x1 conv C -> C/r -> ReLU -> 1x1 conv -> sigmoid, scales
      channels.
    - sSE: 1x1 conv C -> 1 -> sigmoid, scales pixels.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.cse = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.sse = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.cse(x) + x * self.sse(x) + x
