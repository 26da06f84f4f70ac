"""HOG regression head: the auxiliary self-supervised task, used in training only.

The model calls it only when ``model.training`` and ``cfg.hog.enabled``; it never appears in
eval or export outputs. Its target is :func:`surg_perception.ops.hog.hog_targets` (MSE).
"""

from __future__ import annotations

from torch import Tensor, nn

from surg_perception.config import HogConfig
from surg_perception.ops.hog import hog_cells, hog_dim


class HogHead(nn.Module):
    """``[B, C, h, w] -> [B, D]``, D = :func:`hog_dim`.

    A 1x1 conv reduces channels, adaptive pooling keeps the HOG cell grid's layout (HOG is a
    spatial descriptor; a global pool would discard where the gradients are), a linear layer
    maps that grid to the descriptor.
    """

    def __init__(self, in_channels: int, cfg: HogConfig, hidden: int = 32):
        super().__init__()
        rows, cols = hog_cells(cfg)
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d((rows, cols))
        self.fc = nn.Linear(hidden * rows * cols, hog_dim(cfg))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.reduce(x)).flatten(1))
