"""Activity (surgical action) classification from the shared deepest feature."""

from __future__ import annotations

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from surg_perception.errors import ConfigError

# "frame": AP-MTL's global average of the map. "instruments": that average next to an
# average weighted by the predicted instrument probability, since an instrument covers ~3 % of
# a synthetic frame and the frame average all but hides what the acting tool does. On the
# synthetic benchmark it did not lift held-out activity (reports/synthetic/REPORT.md,
# "Activity"), so no shipped configuration sets it.
POOLS = ("frame", "instruments")


class ActivityHead(nn.Module):
    """``[B, C, h, w] -> [B, A]`` logits: pool, dropout, linear.

    ``forward(x, seg_logits)``: ``seg_logits [B, S, H, W]`` (background first) weight the
    "instruments" pool by ``1 - p(background)``; they are detached, so the activity loss
    never trains the segmentation through this weight (and the pruning graph, traced through
    gradients, sees no link from the decoder to this head).
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.2,
                 pool: str = "frame"):
        super().__init__()
        if pool not in POOLS:
            raise ConfigError(f"model.activity_pool must be one of {POOLS}, got {pool!r}")
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels * (2 if pool == "instruments" else 1), num_classes)

    def forward(self, x: Tensor, seg_logits: Tensor | None = None) -> Tensor:
        pooled = x.mean(dim=(2, 3))
        if self.pool == "instruments":
            if seg_logits is None:
                raise ValueError("ActivityHead(pool='instruments') needs seg_logits")
            pooled = torch.cat([pooled, _instrument_pool(x, seg_logits.detach())], dim=1)
        return self.fc(self.dropout(pooled))


def _instrument_pool(x: Tensor, seg_logits: Tensor) -> Tensor:
    """``[B, C]``: the mean of ``x`` weighted by the instrument probability at its cells.

    The input size is a multiple of the map's (32), so the area average is exact and exports
    as a plain pooling. An empty frame (weight ~0) gives ~0, not a division by zero.
    """
    weight = 1.0 - seg_logits.float().softmax(dim=1)[:, :1]
    weight = F.adaptive_avg_pool2d(weight, x.shape[-2:]).to(x.dtype)
    return (x * weight).sum(dim=(2, 3)) / (weight.sum(dim=(2, 3)) + 1e-3)
