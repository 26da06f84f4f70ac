"""AP-MTL box-fill on hand-built masks, class mapping rules and the on/off switch."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES
from surg_perception.config import ModelConfig, PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.processing.box_fill import box_fill, box_fill_effect, det_to_seg_map
from surg_perception.processing.postprocess import check_postprocess_config, postprocess_batch
from surg_perception.processing.preprocess import FrameGeometry

MASK = torch.tensor(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0],
        [0, 1, 2, 2, 0, 0],
        [0, 0, 2, 2, 6, 0],
        [0, 0, 0, 6, 6, 0],
    ],
    dtype=torch.uint8,
)
IDENTITY = tuple(range(1, 8))


def test_hand_built_case_gives_expected_mask():
    # A pixel is inside a box when its centre (j + 0.5, i + 0.5) is.
    # Box A holds the centres of columns 1..3 and rows 1..3; box B (higher score) those of
    # columns 3..4 and rows 2..4, and wins their overlap; box C is below the threshold.
    boxes = torch.tensor([[0.6, 0.9, 4.4, 3.6], [3.0, 2.5, 5.0, 5.0], [0.0, 0.0, 6.0, 5.0]])
    scores = torch.tensor([0.6, 0.9, 0.4])
    labels = torch.tensor([4, 5, 7])
    filled = box_fill(MASK, boxes, scores, labels, IDENTITY, threshold=0.5)
    expected = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 4, 4, 0, 0, 0],
            [0, 4, 4, 5, 0, 0],
            [0, 0, 4, 5, 5, 0],
            [0, 0, 0, 5, 5, 0],
        ],
        dtype=torch.uint8,
    )
    assert torch.equal(filled, expected)
    assert torch.equal(MASK[2], torch.tensor([0, 1, 2, 2, 0, 0], dtype=torch.uint8))  # input kept


def test_effect_reports_both_masks():
    effect = box_fill_effect(
        MASK, torch.tensor([[0.0, 0.0, 6.0, 5.0]]), torch.tensor([0.5]), torch.tensor([3]),
        IDENTITY, threshold=0.5,
    )
    assert effect.before is MASK and effect.changed_pixels == 10
    assert set(effect.after[MASK != 0].tolist()) == {3}


def test_mapping_by_name_and_loose_name():
    assert det_to_seg_map(ENDOVIS17_INSTRUMENT_TYPES[1:], ENDOVIS17_INSTRUMENT_TYPES) == IDENTITY
    seg = ("background", "grasper", "Bipolar Forceps")
    assert det_to_seg_map(("bipolar_forceps", "Grasper"), seg) == (2, 1)


def test_missing_mapping_raises_config_error():
    with pytest.raises(ConfigError, match=r"\['Vessel Sealer'\].*box_fill: false"):
        det_to_seg_map(("grasper", "Vessel Sealer"), ("background", "grasper"))


def test_check_postprocess_config_only_requires_mapping_when_on():
    parts = ModelConfig(seg_classes=("background", "shaft", "wrist"))
    with pytest.raises(ConfigError):
        check_postprocess_config(PostprocessConfig(box_fill=True), parts)
    check_postprocess_config(PostprocessConfig(box_fill=False), parts)
    with pytest.raises(ConfigError, match="score_threshold"):
        check_postprocess_config(PostprocessConfig(score_threshold=1.5), ModelConfig())


def test_postprocess_switch_on_and_off():
    class Out:
        seg_logits = torch.zeros(1, 8, 32, 32)
        seg_logits[0, 1, 8:24, 8:24] = 1.0  # a "Bipolar Forceps" blob
        det_logits = torch.tensor([[[0.0] + [-5.0] * 5 + [5.0, -5.0]]])  # class 6, p ~ 0.99
        det_deltas = torch.zeros(1, 1, 4)
        activity_logits = None

    priors = torch.tensor([[0.5, 0.5, 0.5, 0.5]])
    geometry = FrameGeometry((32, 32), (0, 0, 32, 32), (32, 32))
    # Instance typing (on by default) would type the blob by the box too: isolate box-fill.
    on = PostprocessConfig(box_fill=True, box_fill_threshold=0.5, instance_typing=False)
    (filled,) = postprocess_batch(Out, priors, [geometry], ModelConfig(), on)
    off = dataclasses.replace(on, box_fill=False)
    (plain,) = postprocess_batch(Out, priors, [geometry], ModelConfig(), off)
    assert torch.equal(plain.mask, (Out.seg_logits[0].argmax(0)).to(torch.uint8))
    assert set(filled.mask[8:24, 8:24].unique().tolist()) == {6}
    assert torch.equal(filled.mask == 0, plain.mask == 0)  # background untouched
