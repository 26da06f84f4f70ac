"""Metrics: per-frame Dice/IoU and Hausdorff, mAP@0.5, activity accuracy and macro F1.

Segmentation follows the EndoVis 2017 convention: scores are computed per frame and then
averaged over frames. Binary scores compare "instrument" (class id > 0) against
background; type scores average over the instrument classes present in the prediction or
the ground truth of that frame. A frame where both are empty has no score (NaN, skipped
by the averages) rather than a perfect one. Detection and activity use torchmetrics
(pycocotools backend for mAP), distances scipy's exact Euclidean distance transform.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import numpy as np
from scipy.ndimage import distance_transform_edt
import torch
from torchmetrics.detection import MeanAveragePrecision
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from surg_perception.errors import ImageFormatError


def confusion(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """``[C, C]`` int64 counts, rows = target class, columns = predicted class.

    Args:
        pred, target: integer masks of the same shape, values in ``0..C-1``.
    """
    if pred.shape != target.shape:
        raise ImageFormatError(f"prediction {pred.shape} and ground truth {target.shape} differ "
                               "in shape; compare masks at the same (camera) resolution")
    index = target.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, -1)


def class_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class Dice ``[C]``, IoU ``[C]`` and presence ``[C]`` (bool) of a confusion matrix.

    A class is present when it occurs in the prediction or the target; absent classes get
    Dice and IoU 0 and must be left out of any average (``present`` says which).
    """
    tp = np.diag(matrix).astype(np.float64)
    fp = matrix.sum(0) - tp
    fn = matrix.sum(1) - tp
    union = tp + fp + fn
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    dice = np.divide(2 * tp, tp + union, out=np.zeros_like(tp), where=present)
    return dice, iou, present


def dice_iou_from_confusion(matrix: np.ndarray, classes: Sequence[int]) -> tuple[float, float]:
    """Mean Dice and IoU over ``classes`` that occur in prediction or target (else NaN)."""
    dice, iou, present = class_scores(matrix)
    chosen = [c for c in classes if present[c]]
    if not chosen:
        return math.nan, math.nan
    return float(dice[chosen].mean()), float(iou[chosen].mean())


def pixel_accuracy(matrix: np.ndarray) -> float:
    """Fraction of pixels whose predicted class is the target class (NaN without pixels)."""
    total = matrix.sum()
    return float(np.trace(matrix) / total) if total else math.nan


SEG_KEYS = ("binary_dice", "binary_iou", "type_dice", "type_iou")  # segmentation_scores


def segmentation_scores(pred: np.ndarray, target: np.ndarray, num_classes: int
                        ) -> dict[str, float]:
    """Binary and type Dice/IoU of one frame (``[H, W]`` class-id masks)."""
    matrix = confusion(pred, target, num_classes)
    binary = np.array([[matrix[0, 0], matrix[0, 1:].sum()],
                       [matrix[1:, 0].sum(), matrix[1:, 1:].sum()]])
    binary_dice, binary_iou = dice_iou_from_confusion(binary, [1])
    type_dice, type_iou = dice_iou_from_confusion(matrix, range(1, num_classes))
    return {"binary_dice": binary_dice, "binary_iou": binary_iou,
            "type_dice": type_dice, "type_iou": type_iou}


def hausdorff_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Symmetric Hausdorff distance in pixels between two binary masks (NaN if one is empty).

    ``max(max_{p in P} d(p, T), max_{t in T} d(t, P))`` with exact Euclidean distances.
    """
    pred, target = pred.astype(bool), target.astype(bool)
    if not pred.any() or not target.any():
        return math.nan
    to_target = distance_transform_edt(~target)
    to_pred = distance_transform_edt(~pred)
    return float(max(to_target[pred].max(), to_pred[target].max()))


class DetectionMAP:
    """mAP at IoU 0.5 over frames (torchmetrics ``MeanAveragePrecision``, pycocotools)."""

    def __init__(self) -> None:
        self.metric = MeanAveragePrecision(box_format="xyxy", iou_thresholds=[0.5],
                                           backend="pycocotools")
        self.frames = 0

    def update(self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
               gt_boxes: np.ndarray, gt_labels: np.ndarray) -> None:
        """One frame: predictions ``[N, 4]`` xyxy / ``[N]`` / ``[N]``; ground truth likewise."""
        pred = {"boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "scores": torch.as_tensor(scores, dtype=torch.float32).reshape(-1),
                "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1)}
        gt = {"boxes": torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.as_tensor(gt_labels, dtype=torch.int64).reshape(-1)}
        self.metric.update([pred], [gt])
        self.frames += 1

    def compute(self) -> float:
        """mAP@0.5 over the classes with ground truth; NaN without any frame or box."""
        if self.frames == 0:
            return math.nan
        value = float(self.metric.compute()["map_50"])
        return math.nan if value < 0 else value  # torchmetrics: -1 = no ground truth


def activity_scores(pred: Sequence[int], target: Sequence[int], num_classes: int
                    ) -> dict[str, float]:
    """Accuracy and macro F1 (over classes present in either) of frames with a known label.

    Frames whose target is -1 (unknown) are ignored; NaN when none is left.
    """
    pred_t = torch.as_tensor(list(pred), dtype=torch.int64)
    target_t = torch.as_tensor(list(target), dtype=torch.int64)
    known = target_t >= 0
    if not bool(known.any()):
        return {"activity_accuracy": math.nan, "activity_f1": math.nan}
    pred_t, target_t = pred_t[known], target_t[known]
    accuracy = multiclass_accuracy(pred_t, target_t, num_classes=num_classes, average="micro")
    f1 = multiclass_f1_score(pred_t, target_t, num_classes=num_classes, average="macro")
    return {"activity_accuracy": float(accuracy), "activity_f1": float(f1)}


def nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values (NaN when there are none), without numpy's warning."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
