"""The detections of one image: boxes, scores and labels, best first."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Detections(NamedTuple):
    """Detections of one image, best first."""

    boxes: Tensor  # [N, 4] float32 xyxy (normalised or camera pixels, as documented)
    scores: Tensor  # [N] float32
    labels: Tensor  # [N] int64 in 1..K

    @staticmethod
    def empty(device: torch.device | str = "cpu") -> Detections:
        return Detections(torch.zeros(0, 4, device=device), torch.zeros(0, device=device),
                          torch.zeros(0, dtype=torch.long, device=device))
