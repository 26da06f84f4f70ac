"""How well a set of SSD priors covers ground-truth boxes: pure tensor functions.

A box is *covered* when at least one prior overlaps it with IoU >= the matching threshold
(0.5, as in :func:`~surg_perception.ops.box_ops.match_priors`). An uncovered box still gets
its single best prior forced onto it during matching, but that prior's regression target
is far off and every other prior calls the object background, so detection of such boxes
barely learns. ``surg-perception model-info CONFIG --prior-coverage DATA`` prints these
numbers for a model config on a dataset.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou

# Boxes compared with all priors at once per chunk: keeps the [chunk, P] IoU matrix small
# (99,152 priors x 256 boxes = 100 MB in float32).
_CHUNK = 256


class PriorCoverage(NamedTuple):
    """Coverage of ``boxes`` ground-truth boxes by one prior set."""

    boxes: int
    covered: float  # share of boxes with a prior of IoU >= threshold (NaN without boxes)
    median_positives: float  # median number of priors with IoU >= threshold per box
    median_best_iou: float  # median over boxes of the best prior IoU


def box_prior_stats(gt_boxes: Tensor, priors: Tensor, threshold: float = 0.5
                    ) -> tuple[Tensor, Tensor]:
    """Per box: the number of priors with IoU >= ``threshold`` and the best IoU.

    Args:
        gt_boxes: ``[G, 4]`` xyxy normalised to [0, 1].
        priors: ``[P, 4]`` cxcywh normalised (``make_priors`` / ``model.priors(H, W)``).

    Returns:
        ``(positives [G] int64, best_iou [G] float32)``.
    """
    prior_xyxy = box_convert(priors.float(), "cxcywh", "xyxy")
    positives, best = [], []
    for chunk in gt_boxes.float().split(_CHUNK):
        iou = box_iou(chunk, prior_xyxy)  # [g, P]
        positives.append((iou >= threshold).sum(dim=1))
        best.append(iou.max(dim=1).values)
    if not positives:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(positives), torch.cat(best)


def prior_coverage(gt_boxes: Tensor, priors: Tensor, threshold: float = 0.5) -> PriorCoverage:
    """Share of ``gt_boxes`` covered by ``priors`` and the median positives per box.

    Args:
        gt_boxes: ``[G, 4]`` xyxy normalised to [0, 1] (all boxes of a dataset).
        priors: ``[P, 4]`` cxcywh normalised.
        threshold: IoU a prior needs to count as a positive for a box.
    """
    positives, best = box_prior_stats(gt_boxes, priors, threshold)
    if len(positives) == 0:
        nan = float("nan")
        return PriorCoverage(0, nan, nan, nan)
    return PriorCoverage(
        boxes=len(positives),
        covered=float((positives > 0).float().mean()),
        median_positives=float(positives.float().quantile(0.5)),
        median_best_iou=float(best.quantile(0.5)),
    )
