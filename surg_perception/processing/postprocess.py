"""Network outputs -> camera-space predictions: SSD decoding + NMS, masks, activity.

Shared by the predictor, evaluation and the bag tools. Boxes are decoded on the network's
normalised frame, suppressed per class with ``torchvision.ops.batched_nms`` over every
class ``1..K``, then mapped to camera pixels (IoU is invariant under the per-axis scaling
of crop + resize, so suppressing before mapping is exact). Masks are the arg-max at the
network size, resized to the crop by nearest neighbour and pasted into a background frame;
a part head's mask (EndoVis 2017 parts: 0 background, 1 shaft, 2 wrist, 3 claspers) takes the
same path, without instance typing or box-fill (those act on instrument types).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from surg_perception.config import ModelConfig, PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.ops.box_ops import decode_boxes
from surg_perception.processing.box_fill import box_fill, det_to_seg_map
from surg_perception.processing.detections import Detections
from surg_perception.processing.instance_boxes import instance_boxes, merge_detections
from surg_perception.processing.instance_typing import (
    instance_typing,
    instrument_components,
    typing_classes,
)
from surg_perception.processing.preprocess import FrameGeometry
from surg_perception.processing.resize import resize_mask


class FramePrediction(NamedTuple):
    """One frame's post-processed outputs, still on the device."""

    mask: Tensor  # [H, W] uint8 class ids, camera resolution
    boxes: Tensor  # [N, 4] float32 xyxy camera pixels
    scores: Tensor  # [N] float32
    labels: Tensor  # [N] int64 in 1..K
    activity_probs: Tensor | None  # [A] float32, sums to 1
    part_mask: Tensor | None = None  # [H, W] uint8 part ids, camera resolution (a part head)


def check_postprocess_config(cfg: PostprocessConfig, model_cfg: ModelConfig) -> None:
    """Raise :class:`ConfigError` for out-of-range values or an impossible box-fill.

    Call it whenever the config changes (e.g. a live parameter update in the node).
    """
    for name in ("score_threshold", "nms_threshold", "box_fill_threshold", "instance_cover",
                 "instance_box_min_area"):
        value = getattr(cfg, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"postprocess.{name} must be in [0, 1], got {value}")
    for name in ("top_k", "max_detections"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"postprocess.{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.box_fill and model_cfg.detection.enabled and model_cfg.det_classes:
        det_to_seg_map(tuple(model_cfg.det_classes), tuple(model_cfg.seg_classes))


def decode_detections(
    det_logits: Tensor,
    det_deltas: Tensor,
    priors: Tensor,
    variances: Sequence[float],
    cfg: PostprocessConfig,
) -> Detections:
    """SSD outputs of one image -> detections with boxes normalised to the network input.

    Args:
        det_logits: ``[P, K + 1]``, column 0 background.
        det_deltas: ``[P, 4]`` SSD offsets against ``priors``.
        priors: ``[P, 4]`` cxcywh normalised (``model.priors(H, W)``).
        variances: ``(center, size)`` of ``cfg.detection``.
        cfg: thresholds, per-class ``top_k``, ``max_detections``.

    Returns:
        :class:`Detections` with boxes xyxy in ``[0, 1]``, sorted by score (descending).
    """
    scores = det_logits.float().softmax(dim=-1)[:, 1:]  # [P, K]
    boxes = decode_boxes(det_deltas.float(), priors.float(), tuple(variances)).clamp(0.0, 1.0)
    num_priors, num_classes = scores.shape
    top_scores, top_index = scores.topk(min(cfg.top_k, num_priors), dim=0)  # [k, K] each
    labels = torch.arange(1, num_classes + 1, device=scores.device).expand_as(top_index)
    top_scores, top_index, labels = (t.reshape(-1) for t in (top_scores, top_index, labels))
    keep = top_scores > cfg.score_threshold
    top_scores, top_boxes, labels = top_scores[keep], boxes[top_index[keep]], labels[keep]
    kept = batched_nms(top_boxes, top_scores, labels, cfg.nms_threshold)[: cfg.max_detections]
    return Detections(top_boxes[kept], top_scores[kept], labels[kept])


def seg_labels(seg_logits: Tensor) -> Tensor:
    """``[B, S, H, W]`` logits -> ``[B, H, W]`` uint8 class ids (arg-max at network size)."""
    if seg_logits.shape[1] > 256:
        raise ConfigError(f"{seg_logits.shape[1]} segmentation classes do not fit a uint8 mask")
    return seg_logits.argmax(dim=1).to(torch.uint8)


def mask_to_camera(mask: Tensor, geometry: FrameGeometry) -> Tensor:
    """``[H', W']`` uint8 network-size mask -> ``[H, W]`` uint8 camera mask.

    Nearest-neighbour on pixel centres ("nearest-exact") into the crop box; pixels outside
    the crop are background (0).
    """
    mask = resize_mask(mask, geometry.crop_size)  # the targets' convention (processing/resize)
    if not geometry.is_cropped:
        return mask
    x0, y0, x1, y1 = geometry.crop_box
    camera = mask.new_zeros(geometry.image_size)
    camera[y0:y1, x0:x1] = mask
    return camera


def postprocess_batch(
    output: NamedTuple,
    priors: Tensor | None,
    geometries: Sequence[FrameGeometry],
    model_cfg: ModelConfig,
    cfg: PostprocessConfig,
) -> list[FramePrediction]:
    """Model outputs of a batch -> one :class:`FramePrediction` per image, camera pixels.

    Args:
        output: ``ModelOutput`` (``seg_logits [B, S, H', W']``, ``det_logits [B, P, K+1]`` or
            None, ``det_deltas [B, P, 4]`` or None, ``activity_logits [B, A]`` or None,
            ``part_logits [B, P, H', W']`` or None: ``FramePrediction.part_mask``).
        priors: ``[P, 4]`` cxcywh, or None when the model has no detection head.
        geometries: B frame geometries from preprocessing.
        model_cfg: class names (for box-fill) and prior variances.
        cfg: detection thresholds, instance-typing and box-fill switches (instance typing
            runs first, so box-fill can split touching instruments along their boxes), and
            ``instance_boxes``: the published detections add a box per segmented instrument
            (:mod:`~surg_perception.processing.instance_boxes`); typing and box-fill still
            use the SSD's boxes alone (a box around a diagonal instrument is mostly tissue).
    """
    if len(geometries) != output.seg_logits.shape[0]:
        raise ConfigError(
            f"{len(geometries)} frame geometries for a batch of {output.seg_logits.shape[0]}"
        )
    masks = seg_labels(output.seg_logits)
    # An output type without the field (an injected step's own tuple) has no part head.
    part_logits = getattr(output, "part_logits", None)
    parts = None if part_logits is None else seg_labels(part_logits)
    has_det = output.det_logits is not None and priors is not None
    fill_map = None
    if cfg.box_fill and has_det:
        fill_map = det_to_seg_map(tuple(model_cfg.det_classes), tuple(model_cfg.seg_classes))
    classes = typing_classes(tuple(model_cfg.seg_classes), tuple(model_cfg.det_classes))
    results = []
    for index, geometry in enumerate(geometries):
        dets = Detections.empty(masks.device)
        if has_det:
            variances = model_cfg.detection.variances
            dets = decode_detections(
                output.det_logits[index], output.det_deltas[index], priors, variances, cfg
            )
        dets = dets._replace(boxes=geometry.boxes_to_camera(dets.boxes))
        mask = mask_to_camera(masks[index], geometry)
        published, components = dets, None
        if (cfg.instance_boxes or cfg.instance_typing) and classes.type_ids:
            components = instrument_components(mask.cpu().numpy(), classes.type_ids)  # once
        if cfg.instance_boxes:  # from the pixel types, before typing and box-fill change them
            found = instance_boxes(mask, classes, cfg.instance_box_min_area, cfg.score_threshold,
                                   components)
            published = merge_detections(found, dets, cfg.nms_threshold, cfg.max_detections)
        if cfg.instance_typing:  # typing and box-fill act on the SSD's boxes only
            mask = instance_typing(mask, classes, dets.boxes, dets.scores, dets.labels,
                                   cfg.box_fill_threshold, cfg.instance_cover, components)
        if fill_map is not None:
            threshold = cfg.box_fill_threshold
            mask = box_fill(mask, dets.boxes, dets.scores, dets.labels, fill_map, threshold)
        activity = None
        if output.activity_logits is not None:
            activity = output.activity_logits[index].float().softmax(dim=-1)
        part = None if parts is None else mask_to_camera(parts[index], geometry)
        results.append(FramePrediction(mask, published.boxes, published.scores,
                                       published.labels, activity, part))
    return results
