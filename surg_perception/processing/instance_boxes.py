"""Boxes from the predicted instruments: one detection per instrument component of the mask.

Why: a model trained briefly on the CPU localises instruments far better with its
segmentation than with its SSD head (held-out light model, reports/synthetic/REPORT.md:
binary Dice 0.93, SSD class-agnostic mAP@0.5 0.22), so the boxes of the instruments it
segments are worth publishing. An instrument is a connected component (8-connectivity) of
the instrument-type pixels, as in instance typing; its box is the tight pixel-edge box, its
label its majority type (mapped to the detection vocabulary), its score the share of its
pixels of that type (a class-id mask has no softmax left, so the vote is the confidence).
Components smaller than ``min_area`` (a share of the frame) are specks and give no box.

The type is the majority of the *pixel* types, whatever instance typing later decides,
so the boxes are one function of the segmentation and the same wherever the switches of
typing and box-fill stand (node, process-bag and ``evaluate``, which re-applies them).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

from surg_perception.processing.detections import Detections
from surg_perception.processing.instance_typing import (
    Components,
    TypingClasses,
    instrument_components,
)


def instance_boxes(mask: torch.Tensor, classes: TypingClasses, min_area: float,
                   score_threshold: float = 0.0,
                   components: Components | None = None) -> Detections:
    """One detection per instrument component of ``mask`` ``[H, W]`` uint8 (camera pixels).

    Types without a detection class give no box. Scores above ``score_threshold`` only;
    sorted best first. Boxes are ``(x0, y0, x1, y1)`` pixel edges, as the datasets' boxes.
    ``components``: :func:`instrument_components` of ``mask``, when already computed.
    """
    seg_to_label = {}
    for label, seg_id in enumerate(classes.det_to_seg, start=1):
        if seg_id is not None:
            seg_to_label.setdefault(seg_id, label)
    if not classes.type_ids or not seg_to_label:
        return Detections.empty(mask.device)
    found = components or instrument_components(mask.cpu().numpy(), classes.type_ids)
    count, stats = found.count, found.stats
    if count <= 1:
        return Detections.empty(mask.device)
    votes = found.votes[1:]  # row 0 is "no component"
    types = votes.argmax(axis=1)
    areas = stats[1:, cv2.CC_STAT_AREA]
    shares = votes[np.arange(len(types)), types] / np.maximum(areas, 1)
    labels = np.array([seg_to_label.get(int(t), 0) for t in types], np.int64)
    keep = (areas >= min_area * mask.numel()) & (labels > 0) & (shares > score_threshold)
    x, y, w, h = (stats[1:, i][keep] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                 cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
    order = np.argsort(-shares[keep], kind="stable")
    return Detections(torch.from_numpy(boxes[order]).to(mask.device),
                      torch.from_numpy(shares[keep][order].astype(np.float32)).to(mask.device),
                      torch.from_numpy(labels[keep][order]).to(mask.device))


def merge_detections(instances: Detections, ssd: Detections, iou_threshold: float,
                     max_detections: int) -> Detections:
    """The instance boxes, plus every SSD box that overlaps none of them (IoU below
    ``iou_threshold``, whatever the classes): an instrument the mask missed keeps its SSD
    box, one found by both is reported once. Best first, at most ``max_detections``."""
    keep = torch.ones(len(ssd.scores), dtype=torch.bool, device=ssd.scores.device)
    if len(instances.scores) and len(ssd.scores):
        keep = box_iou(ssd.boxes, instances.boxes).amax(dim=1) < iou_threshold
    scores = torch.cat([instances.scores, ssd.scores[keep]])
    order = scores.argsort(descending=True, stable=True)[:max_detections]
    return Detections(torch.cat([instances.boxes, ssd.boxes[keep]])[order], scores[order],
                      torch.cat([instances.labels, ssd.labels[keep]])[order])
