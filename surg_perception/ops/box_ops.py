"""SSD box coding and prior matching: pure tensor functions shared by the loss and the decoder.

Boxes are normalised to [0, 1]. Priors are ``(cx, cy, w, h)``; ground truth and decoded boxes
are ``(x1, y1, x2, y2)``. Variances follow SSD: ``(center, size) = (0.1, 0.2)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import box_convert, box_iou

# exp() of a size delta above this overflows in fp16; torchvision's BoxCoder clamps the same way.
_MAX_LOG_SIZE = math.log(1000.0 / 16)


def encode_boxes(boxes: Tensor, priors: Tensor, variances: tuple[float, float]) -> Tensor:
    """SSD offsets of ``boxes`` against ``priors``.

    Args:
        boxes: ``[..., P, 4]`` xyxy, one box per prior.
        priors: ``[P, 4]`` cxcywh.
        variances: ``(center, size)`` scaling.

    Returns:
        ``[..., P, 4]`` deltas ``(dx, dy, dw, dh)``.
    """
    cxcywh = box_convert(boxes, "xyxy", "cxcywh")
    center = (cxcywh[..., :2] - priors[:, :2]) / (variances[0] * priors[:, 2:])
    # Degenerate (zero-size) boxes would give log(0); they only occur for background priors,
    # whose regression target is ignored by the loss.
    size = torch.log(cxcywh[..., 2:].clamp(min=1e-6) / priors[:, 2:]) / variances[1]
    return torch.cat([center, size], dim=-1)


def decode_boxes(deltas: Tensor, priors: Tensor, variances: tuple[float, float]) -> Tensor:
    """Inverse of :func:`encode_boxes`.

    Args:
        deltas: ``[..., P, 4]`` SSD offsets (e.g. ``ModelOutput.det_deltas``).
        priors: ``[P, 4]`` cxcywh (``model.priors(H, W)``).
        variances: ``(center, size)`` scaling, ``cfg.detection.variances``.

    Returns:
        ``[..., P, 4]`` xyxy boxes normalised to the network input (not clipped).
    """
    center = priors[:, :2] + deltas[..., :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp((deltas[..., 2:] * variances[1]).clamp(max=_MAX_LOG_SIZE))
    return box_convert(torch.cat([center, size], dim=-1), "cxcywh", "xyxy")


def _first_max(values: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Max along ``dim`` and the LOWEST index reaching it (ties resolved the same everywhere)."""
    best = values.amax(dim=dim, keepdim=True)
    shape = [1] * values.dim()
    shape[dim] = values.shape[dim]
    index = torch.arange(values.shape[dim], device=values.device).view(shape)
    first = torch.where(values == best, index, values.shape[dim]).amin(dim=dim)
    return best.squeeze(dim), first


def match_priors(
    gt_boxes: Tensor, gt_labels: Tensor, priors: Tensor, iou_threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Assign each prior a ground-truth box (SSD matching), deterministically on every device.

    Every ground-truth box first claims its best prior (so no object goes unmatched), then each
    remaining prior takes its best box if their IoU reaches ``iou_threshold``. Ties: a box's
    best prior and a prior's best box are the lowest index among equals; when several boxes
    claim one prior, the box with the highest IoU with it wins, then the lowest box index (the
    loser keeps only its threshold matches). Reductions (``amax``/``amin``, ``scatter_reduce``)
    replace indexed assignment with repeated indices, whose result PyTorch leaves undefined.

    Args:
        gt_boxes: ``[G, 4]`` xyxy normalised.
        gt_labels: ``[G]`` int64 in ``1..K`` (0 is reserved for background).
        priors: ``[P, 4]`` cxcywh.
        iou_threshold: minimum IoU for a positive prior.

    Returns:
        ``(boxes [P, 4] xyxy, labels [P] int64)``; background priors get label 0 and a copy of
        the prior as their box (ignored by the loss).
    """
    prior_xyxy = box_convert(priors, "cxcywh", "xyxy")
    if gt_boxes.numel() == 0:
        return prior_xyxy.clone(), torch.zeros(len(priors), dtype=torch.long, device=priors.device)
    iou = box_iou(gt_boxes.to(priors.dtype), prior_xyxy)  # [G, P]
    best_iou, best_gt = _first_max(iou, dim=0)  # per prior
    claim_iou, claimed = _first_max(iou, dim=1)  # per ground-truth box: its best prior
    num_gt = len(gt_boxes)
    top = torch.full_like(best_iou, -1.0).scatter_reduce(0, claimed, claim_iou, "amax")
    contender = claim_iou == top[claimed]  # highest-IoU claimants of each claimed prior
    gt_index = torch.arange(num_gt, device=priors.device)
    winner = torch.full_like(best_gt, num_gt).scatter_reduce(
        0, claimed, torch.where(contender, gt_index, num_gt), "amin")
    forced = winner < num_gt
    best_gt = torch.where(forced, winner, best_gt)
    best_iou = torch.where(forced, torch.ones_like(best_iou), best_iou)
    labels = gt_labels.to(torch.long)[best_gt]
    labels = torch.where(best_iou < iou_threshold, torch.zeros_like(labels), labels)
    boxes = gt_boxes.to(priors.dtype)[best_gt]
    return torch.where(labels[:, None] > 0, boxes, prior_xyxy), labels


def match_batch(
    gt_boxes: list[Tensor],
    gt_labels: list[Tensor],
    priors: Tensor,
    variances: tuple[float, float],
    iou_threshold: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """Matching + encoding for a batch: the regression and class targets of the multibox loss.

    Args:
        gt_boxes: B tensors ``[G_b, 4]`` xyxy normalised.
        gt_labels: B tensors ``[G_b]`` in ``1..K``.
        priors: ``[P, 4]`` cxcywh.

    Returns:
        ``(target_deltas [B, P, 4], target_labels [B, P] int64)``.
    """
    if len(gt_boxes) != len(gt_labels):
        raise ValueError(f"{len(gt_boxes)} box tensors but {len(gt_labels)} label tensors")
    deltas, labels = [], []
    for boxes, cls in zip(gt_boxes, gt_labels):
        matched, matched_labels = match_priors(boxes, cls, priors, iou_threshold)
        deltas.append(encode_boxes(matched, priors, variances))
        labels.append(matched_labels)
    return torch.stack(deltas), torch.stack(labels)
