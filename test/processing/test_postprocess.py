"""Post-processing: per-class NMS over every class, camera mapping of boxes and masks."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from surg_perception.config import ModelConfig, PostprocessConfig
from surg_perception.processing.postprocess import (
    decode_detections,
    mask_to_camera,
    postprocess_batch,
)
from surg_perception.processing.preprocess import FrameGeometry

K = 7  # EndoVis17 instrument types
VARIANCES = (0.1, 0.2)
CFG = PostprocessConfig(score_threshold=0.3, nms_threshold=0.45, box_fill=False)


class Output(NamedTuple):
    seg_logits: torch.Tensor
    det_logits: torch.Tensor | None
    det_deltas: torch.Tensor | None
    activity_logits: torch.Tensor | None
    hog: torch.Tensor | None


def logits_for(classes: list[int], prob: float = 0.9) -> torch.Tensor:
    """[P, K+1] logits whose softmax gives ``prob`` to each prior's class, rest uniform."""
    rest = math.log((1 - prob) / K)
    logits = torch.full((len(classes), K + 1), rest)
    logits[torch.arange(len(classes)), classes] = math.log(prob)
    return logits


# cx, cy, w, h: priors 0/1 overlap heavily (IoU 0.82), prior 2 is far away.
PRIORS = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.8, 0.8, 0.1, 0.1]])


def test_last_class_survives_and_nms_is_per_class():
    logits = logits_for([K, K, 1])  # two overlapping class-K boxes, one class-1 box
    logits[1] = logits_for([K], prob=0.8)[0]  # the second is less confident
    dets = decode_detections(logits, torch.zeros(3, 4), PRIORS, VARIANCES, CFG)
    assert dets.labels.tolist() == [K, 1]  # same-class duplicate suppressed, class K kept
    torch.testing.assert_close(dets.boxes[0], torch.tensor([0.2, 0.2, 0.4, 0.4]))
    torch.testing.assert_close(dets.scores, torch.tensor([0.9, 0.9]))


def test_overlapping_boxes_of_different_classes_both_survive():
    dets = decode_detections(logits_for([2, 5, 5]), torch.zeros(3, 4), PRIORS, VARIANCES, CFG)
    assert sorted(dets.labels.tolist()) == [2, 5, 5]


def test_threshold_top_k_and_max_detections():
    logits = logits_for([1, 2, 3], prob=0.2)  # background-ish: every class below 0.3
    assert len(decode_detections(logits, torch.zeros(3, 4), PRIORS, VARIANCES, CFG).scores) == 0
    far = torch.tensor([[0.1 + 0.2 * i, 0.5, 0.05, 0.05] for i in range(5)])
    logits = logits_for([3] * 5)
    logits[:, 3] += torch.arange(5.0) * 0.01  # distinct scores, increasing with the index
    few = PostprocessConfig(score_threshold=0.3, top_k=3, max_detections=2, box_fill=False)
    dets = decode_detections(logits, torch.zeros(5, 4), far, VARIANCES, few)
    assert len(dets.scores) == 2 and bool(dets.scores[0] >= dets.scores[1])
    torch.testing.assert_close(dets.boxes[0, 0], torch.tensor(0.875))  # prior 4, the best


def test_mask_to_camera_nearest_odd_non_square():
    net = torch.zeros(96, 128, dtype=torch.uint8)
    net[:, :64] = 3  # left half of the network input
    geometry = FrameGeometry((101, 157), (0, 0, 157, 101), (96, 128))
    camera = mask_to_camera(net, geometry)
    assert camera.shape == (101, 157) and camera.dtype == torch.uint8
    # Column j samples source floor((j + 0.5) * 128 / 157): < 64 exactly for j < 78.
    assert bool((camera[:, :78] == 3).all()) and bool((camera[:, 78:] == 0).all())


def test_mask_to_camera_with_crop_pastes_into_background():
    net = torch.full((96, 128), 2, dtype=torch.uint8)
    geometry = FrameGeometry((101, 157), (10, 5, 150, 95), (96, 128))
    camera = mask_to_camera(net, geometry)
    inside = torch.zeros(101, 157, dtype=torch.bool)
    inside[5:95, 10:150] = True
    assert bool((camera[inside] == 2).all()) and bool((camera[~inside] == 0).all())


def test_postprocess_batch_maps_boxes_to_camera_and_softmaxes_activity():
    seg = torch.zeros(1, 8, 96, 128)
    seg[:, 4] = 1.0
    out = Output(seg, logits_for([1, 2, 6])[None], torch.zeros(1, 3, 4), torch.randn(1, 13), None)
    geometry = FrameGeometry((101, 157), (10, 5, 150, 95), (96, 128))
    (pred,) = postprocess_batch(out, PRIORS, [geometry], ModelConfig(), CFG)
    assert pred.mask.shape == (101, 157)
    assert int(pred.mask[50, 50]) == 4 and int(pred.mask[0, 0]) == 0  # crop / outside it
    box = pred.boxes[pred.labels == 6][0]  # prior 2: (0.75, 0.75, 0.85, 0.85) of the crop
    torch.testing.assert_close(box, torch.tensor([115.0, 72.5, 129.0, 81.5]))
    torch.testing.assert_close(pred.activity_probs.sum(), torch.tensor(1.0))


def test_postprocess_without_detection_head():
    out = Output(torch.zeros(2, 8, 96, 128), None, None, None, None)
    geometry = FrameGeometry((96, 128), (0, 0, 128, 96), (96, 128))
    preds = postprocess_batch(out, None, [geometry] * 2, ModelConfig(), PostprocessConfig())
    assert len(preds) == 2 and preds[0].boxes.shape == (0, 4) and preds[0].activity_probs is None
