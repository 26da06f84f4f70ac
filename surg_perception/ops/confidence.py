"""Prediction confidence used by the memory's admission test."""

from __future__ import annotations

import torch
from torch import Tensor


def entropy_confidence(seg_logits: Tensor) -> Tensor:
    """Negative mean pixel entropy of the softmax: ``[B, S, H, W] -> [B]``.

    0 for a one-hot prediction, ``-log(S)`` for a uniform one (DMNet's ``alpha`` is on
    this scale). Computed in float32 so fp16 logits do not underflow in ``p * log p``.
    """
    log_p = torch.log_softmax(seg_logits.float(), dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1)  # [B, H, W]
    return -entropy.mean(dim=(1, 2))
