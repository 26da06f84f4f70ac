"""SSD "extra" feature layers: 1x1 reduce then 3x3 expand, each followed by ReLU."""

from __future__ import annotations

from torch import Tensor, nn
import torch.nn.functional as F


class ExtraBlock(nn.Module):
    """One extra detection map: ``[B, C_in, h, w] -> [B, C_out, h', w']``.

    Modes:
        ``"down"``: 3x3 stride 2 padding 1, ``h' = ceil(h / 2)`` (never below 1).
        ``"valid"``: 3x3 stride 1 without padding, ``h' = h - 2``, as SSD300's last two maps
            (this reproduces AP-MTL's published prior count); on maps smaller than 3 a
            one-pixel zero padding is added so small inputs still give ``h' >= 1``.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, mode: str):
        super().__init__()
        if mode not in ("down", "valid"):
            raise ValueError(f"ExtraBlock mode must be 'down' or 'valid', got {mode!r}")
        self.mode = mode
        self.reduce = nn.Conv2d(in_channels, mid_channels, 1)
        stride, padding = (2, 1) if mode == "down" else (1, 0)
        self.expand = nn.Conv2d(mid_channels, out_channels, 3, stride, padding)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.reduce(x))
        if self.mode == "valid":
            pad_h, pad_w = int(x.shape[-2] < 3), int(x.shape[-1] < 3)
            if pad_h or pad_w:
                x = F.pad(x, (pad_w, pad_w, pad_h, pad_h))
        return F.relu(self.expand(x))
