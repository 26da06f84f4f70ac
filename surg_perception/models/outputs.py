"""What every model family returns (see docs/design.md, "Model contract")."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class ModelOutput(NamedTuple):
    """Network outputs for a batch of B images of size H x W.

    seg_logits: ``[B, S, H, W]``, S = len(cfg.seg_classes).
    det_logits: ``[B, P, K+1]`` or None; column 0 = background, column i = det_classes[i-1].
    det_deltas: ``[B, P, 4]`` or None; SSD offsets against ``model.priors(H, W)``.
    activity_logits: ``[B, A]`` or None.
    hog: ``[B, D]`` in training mode when cfg.hog.enabled, else None.
    """

    seg_logits: Tensor
    det_logits: Tensor | None = None
    det_deltas: Tensor | None = None
    activity_logits: Tensor | None = None
    hog: Tensor | None = None
