"""Activity (surgical action) classification from the shared deepest feature."""

from __future__ import annotations

from torch import Tensor, nn


class ActivityHead(nn.Module):
    """``[B, C, h, w] -> [B, A]`` logits: global average pool, dropout, linear."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.2):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.pool(x).flatten(1)))
