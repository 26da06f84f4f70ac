"""L2 normalisation with a learnable per-channel scale (SSD's conv4_3 normalisation)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F


class L2Norm(nn.Module):
    """``y = x / ||x||_2 (over channels) * scale``; conv4_3 activations are much larger than
    those of deeper maps, and SSD rescales them so all detection maps train at similar rates.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int, init_scale: float = 20.0, eps: float = 1e-10):
        super().__init__()
        self.eps = eps
        self.init_scale = init_scale
        self.weight = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.init_scale)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, p=2.0, dim=1, eps=self.eps) * self.weight[None, :, None, None]
