"""Boxes from the segmented instruments, and their merge with the SSD's boxes."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest
import torch

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES
from surg_perception.config import ModelConfig, PostprocessConfig, spec_from_dict, to_dict
from surg_perception.processing.detections import Detections
from surg_perception.processing.instance_boxes import instance_boxes, merge_detections
from surg_perception.processing.instance_typing import typing_classes
from surg_perception.processing.postprocess import postprocess_batch
from surg_perception.processing.preprocess import FrameGeometry

# detection label i is instrument type i (EndoVis 2017 names in both vocabularies)
TYPES = typing_classes(ENDOVIS17_INSTRUMENT_TYPES, ENDOVIS17_INSTRUMENT_TYPES[1:])


def _mask() -> torch.Tensor:
    """40x60: a type-2 shaft with a type-5 patch (30 of 150 pixels), a clean type-6 tool,
    and a 2-pixel speck of type 3."""
    mask = torch.zeros(40, 60, dtype=torch.uint8)
    mask[5:10, 0:30] = 2
    mask[5:10, 20:26] = 5
    mask[30:36, 40:60] = 6
    mask[20, 10:12] = 3
    return mask


def test_one_box_per_instrument_with_its_majority_type_and_vote_share():
    found = instance_boxes(_mask(), TYPES, min_area=0.002)  # 4.8 px: the speck gives none
    assert found.boxes.tolist() == [[40.0, 30.0, 60.0, 36.0], [0.0, 5.0, 30.0, 10.0]]
    assert found.labels.tolist() == [6, 2]
    assert found.scores.tolist() == pytest.approx([1.0, 120 / 150])
    with_speck = instance_boxes(_mask(), TYPES, min_area=0.0)
    assert sorted(with_speck.labels.tolist()) == [2, 3, 6]
    only_sure = instance_boxes(_mask(), TYPES, min_area=0.0, score_threshold=0.9)
    assert sorted(only_sure.labels.tolist()) == [3, 6]


def test_masks_without_instruments_or_detection_classes_give_no_box():
    assert len(instance_boxes(torch.zeros(8, 8, dtype=torch.uint8), TYPES, 0.0).scores) == 0
    no_det = typing_classes(ENDOVIS17_INSTRUMENT_TYPES, ())
    assert len(instance_boxes(_mask(), no_det, 0.0).scores) == 0


def test_an_ssd_box_on_a_segmented_instrument_is_dropped_and_one_elsewhere_kept():
    found = instance_boxes(_mask(), TYPES, min_area=0.002)
    ssd = Detections(torch.tensor([[1.0, 5.0, 29.0, 10.0], [0.0, 20.0, 10.0, 28.0]]),
                     torch.tensor([0.95, 0.4]), torch.tensor([4, 1]))
    merged = merge_detections(found, ssd, iou_threshold=0.45, max_detections=10)
    assert merged.labels.tolist() == [6, 2, 1]  # best first; the type-4 box on the shaft went
    assert merged.scores.tolist() == pytest.approx([1.0, 0.8, 0.4])
    assert len(merge_detections(found, ssd, 0.45, max_detections=2).scores) == 2
    empty = Detections.empty()
    assert torch.equal(merge_detections(empty, ssd, 0.45, 10).boxes, ssd.boxes)
    assert torch.equal(merge_detections(found, empty, 0.45, 10).boxes, found.boxes)


class Output(NamedTuple):
    seg_logits: torch.Tensor
    det_logits: torch.Tensor | None = None
    det_deltas: torch.Tensor | None = None
    activity_logits: torch.Tensor | None = None


def test_postprocess_publishes_instance_boxes_when_asked_and_leaves_the_mask_alone():
    mask = _mask()
    logits = torch.nn.functional.one_hot(mask.long(), 8).permute(2, 0, 1)[None].float()
    geometry = FrameGeometry(image_size=(40, 60), crop_box=(0, 0, 60, 40), input_size=(40, 60))
    model_cfg = ModelConfig(seg_classes=ENDOVIS17_INSTRUMENT_TYPES,
                            det_classes=ENDOVIS17_INSTRUMENT_TYPES[1:])
    off_cfg = PostprocessConfig()
    assert not off_cfg.instance_boxes  # off unless a config asks (tiny.yaml, light.yaml do)
    on_cfg = dataclasses.replace(off_cfg, instance_boxes=True, instance_box_min_area=0.002)
    (off,) = postprocess_batch(Output(logits), None, [geometry], model_cfg, off_cfg)
    (on,) = postprocess_batch(Output(logits), None, [geometry], model_cfg, on_cfg)
    assert len(off.scores) == 0 and on.labels.tolist() == [6, 2]
    assert torch.equal(on.mask, off.mask)  # typing and box-fill use the SSD's boxes only
    data = to_dict(spec_from_dict({}))
    del data["postprocess"]["instance_boxes"], data["postprocess"]["instance_box_min_area"]
    assert spec_from_dict(data).postprocess.instance_boxes is False  # an older checkpoint
