"""Augmentation keeps masks and boxes consistent and uses one parameter set per clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as F

from surg_perception.data.sample import FrameSample, boxes_from_instances
from surg_perception.data.transforms import (ColorJitter, Compose, RandomHorizontalFlip,
                                             RandomResizedCrop, Resize, apply_geometry,
                                             train_augmentation)


def _sample(frame: int = 0) -> FrameSample:
    """60x80 frame: an axis-aligned block (label 3) and a slanted bar (label 5)."""
    rng = np.random.default_rng(frame)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:22, 8:30] = 3
    cv2.fillPoly(mask, [np.array([[40, 50], [70, 12], [76, 17], [46, 55]], np.int32)], 5)
    boxes, labels = boxes_from_instances([(3, mask == 3), (5, mask == 5)])
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    return FrameSample(image, mask, boxes, labels, 2, "seq", frame)


def _assert_boxes_fit_masks(sample: FrameSample, labels: tuple[int, ...]) -> None:
    for label in labels:
        assert label in sample.labels.tolist(), f"box {label} dropped"
        box = sample.boxes[sample.labels.tolist().index(label)]
        rows = np.flatnonzero((sample.mask == label).any(1))
        cols = np.flatnonzero((sample.mask == label).any(0))
        expected = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
        np.testing.assert_allclose(box, expected, atol=1.0)


@pytest.mark.parametrize("seed", range(6))
def test_boxes_equal_the_bbox_of_the_transformed_mask(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    # Flip + resize keep every object whole: both boxes must fit their masks.
    whole = Compose([RandomHorizontalFlip(0.5), Resize((45, 120))])(
        [_sample()], generator)[0]
    _assert_boxes_fit_masks(whole, (3, 5))
    # A crop may cut objects: the axis-aligned block's clipped box still fits its mask.
    cropped = RandomResizedCrop((64, 64), scale=(0.3, 1.0))([_sample()], generator)[0]
    if (cropped.mask == 3).any():
        _assert_boxes_fit_masks(cropped, (3,))


def test_vanished_boxes_are_dropped() -> None:
    out = apply_geometry(_sample(), lambda x: F.crop(x, 30, 0, 30, 35))  # below the block
    assert out.labels.tolist() == [] and out.boxes.shape == (0, 4)
    assert out.mask.shape == (30, 35) and not out.mask.any()


def test_one_parameter_set_for_every_frame_of_a_clip() -> None:
    clip = [_sample(0)] * 3
    out = train_augmentation((48, 48))(clip, torch.Generator().manual_seed(5))
    for frame in out[1:]:
        np.testing.assert_array_equal(frame.image, out[0].image)
        np.testing.assert_array_equal(frame.mask, out[0].mask)
        np.testing.assert_array_equal(frame.boxes, out[0].boxes)
    assert out[0].image.shape == (48, 48, 3) and out[0].activity == 2


def test_deterministic_given_the_generator_seed() -> None:
    augment = train_augmentation((48, 48))
    runs = [augment([_sample()], torch.Generator().manual_seed(s))[0] for s in (1, 1, 2)]
    np.testing.assert_array_equal(runs[0].image, runs[1].image)
    np.testing.assert_array_equal(runs[0].boxes, runs[1].boxes)
    assert not np.array_equal(runs[0].image, runs[2].image)


def test_colour_jitter_touches_images_only() -> None:
    sample = _sample()
    out = ColorJitter(0.4, 0.4, 0.4, 0.1)([sample], torch.Generator().manual_seed(0))[0]
    assert not np.array_equal(out.image, sample.image)
    np.testing.assert_array_equal(out.mask, sample.mask)
    np.testing.assert_array_equal(out.boxes, sample.boxes)
