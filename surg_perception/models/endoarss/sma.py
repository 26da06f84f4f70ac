"""SMA: spatially-aware multi-scale attention on a ViT feature map.

Pipeline (``x [B, C, H, W] -> [B, C, H, W]``):

1. local context: 3x3 conv + GroupNorm + GELU, then a 1x1 projection;
2. unfold into non-overlapping ``p x p`` patches, MobileViT style: the pixels sharing one
   offset inside their patch form one map ``[B * p*p, C, H/p, W/p]``, so what follows
   attends *across* patches (the map is zero-padded to a multiple of ``p`` and cropped back);
3. multi-scale attention (:class:`MultiScaleAttention`, after EMA, Ouyang et al. 2023):
   channels split into groups; a 1x1 branch gates the input with attention pooled along H
   and along W (directional pooling), a 3x3 branch adds local multi-scale context, and
   each branch's global descriptor re-weights the other's positions (cross-branch
   aggregation);
4. fold back, 1x1 projection, and fuse with the input: ``x + fuse([x, y])``.

Only per-sample normalisation (GroupNorm) is used, so samples in a batch never interact;
:mod:`.tesla` relies on that to keep the tasks' gradients apart when both run as one batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from surg_perception.errors import ConfigError


class MultiScaleAttention(nn.Module):
    """Grouped two-branch attention with cross-branch aggregation; ``[B, C, h, w]`` in/out."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        if channels % groups:
            raise ConfigError(f"SMA: {channels} channels do not split into {groups} groups")
        self.groups = groups
        per_group = channels // groups
        self.conv1x1 = nn.Conv2d(per_group, per_group, kernel_size=1)
        self.conv3x3 = nn.Conv2d(per_group, per_group, kernel_size=3, padding=1)
        self.norm = nn.GroupNorm(per_group, per_group)

    @staticmethod
    def _descriptor(x: torch.Tensor) -> torch.Tensor:
        """Channel softmax of the global average: ``[G, c, h, w] -> [G, 1, c]``."""
        return x.mean(dim=(2, 3)).softmax(dim=-1).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, h, w = x.shape
        g = x.reshape(batch * self.groups, channels // self.groups, h, w)
        # 1x1 branch: pool along W -> [G, c, h, 1] and along H -> [G, c, 1, w], one shared conv
        along_w = g.mean(dim=3, keepdim=True)  # [G, c, h, 1]
        along_h = g.mean(dim=2, keepdim=True).transpose(2, 3)  # [G, c, w, 1]
        pooled = torch.cat([along_w, along_h], dim=2)
        gate_h, gate_w = self.conv1x1(pooled).split([h, w], dim=2)
        branch1 = self.norm(g * gate_h.sigmoid() * gate_w.transpose(2, 3).sigmoid())
        branch3 = self.conv3x3(g)
        # cross-branch aggregation: each branch's descriptor weighs the other's positions
        flat1 = branch1.flatten(2)  # [G, c, h*w]
        flat3 = branch3.flatten(2)
        weights = self._descriptor(branch1) @ flat3 + self._descriptor(branch3) @ flat1
        out = g * weights.reshape(batch * self.groups, 1, h, w).sigmoid()
        return out.reshape(batch, channels, h, w)


def unfold_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, C, H, W]`` (H, W multiples of ``patch``) -> ``[B * patch^2, C, H/p, W/p]``."""
    batch, channels, height, width = x.shape
    x = x.reshape(batch, channels, height // patch, patch, width // patch, patch)
    x = x.permute(0, 3, 5, 1, 2, 4)  # [B, p, p, C, H/p, W/p]
    return x.reshape(batch * patch * patch, channels, height // patch, width // patch)


def fold_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Inverse of :func:`unfold_patches`: ``[B * p^2, C, h, w] -> [B, C, h*p, w*p]``."""
    flat, channels, h, w = x.shape
    batch = flat // (patch * patch)
    x = x.reshape(batch, patch, patch, channels, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(batch, channels, h * patch, w * patch)


class SMA(nn.Module):
    """Spatially-aware multi-scale attention block; ``[B, C, H, W]`` in and out (any H, W)."""

    def __init__(self, channels: int, patch: int, groups: int = 8) -> None:
        super().__init__()
        if patch <= 0:
            raise ConfigError(f"SMA: sma_patch must be >= 1, got {patch}")
        self.patch = patch
        self.local = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
            nn.GroupNorm(math.gcd(channels, 32), channels),
            nn.GELU(),
            nn.Conv2d(channels, channels, kernel_size=1),
        )
        self.attention = MultiScaleAttention(channels, groups)
        self.project = nn.Conv2d(channels, channels, kernel_size=1)
        self.fuse = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        p = self.patch
        y = self.local(x)
        pad_h, pad_w = (-int(height)) % p, (-int(width)) % p
        y = F.pad(y, (0, pad_w, 0, pad_h))
        y = fold_patches(self.attention(unfold_patches(y, p)), p)[..., :height, :width]
        y = self.project(y)
        return x + self.fuse(torch.cat([x, y], dim=1))
