"""Augmentation: boxes are the tight boxes of the augmented masks, one parameter set per clip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from surg_perception.data.clips import ClipDataset
from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.geometry import CropResizeOp, RotateOp
from surg_perception.data.sample import (
    FrameSample,
    boxes_from_instance_map,
    boxes_from_instances,
    instance_map,
    tight_box,
)
from surg_perception.data.transforms import (
    ColorJitter,
    Compose,
    RandomGaussianBlur,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
    apply_geometry,
    train_augmentation,
)
from surg_perception.errors import ConfigError


def _sample(frame: int = 0, instances: bool = True) -> FrameSample:
    """60x80 frame: an axis-aligned block (label 3) and a slanted bar (label 5)."""
    rng = np.random.default_rng(frame)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:22, 8:30] = 3
    cv2.fillPoly(mask, [np.array([[40, 50], [70, 12], [76, 17], [46, 55]], np.int32)], 5)
    pairs = [(3, mask == 3), (5, mask == 5)]
    ids, labels = instance_map(pairs, mask.shape)
    boxes, labels, ids = boxes_from_instance_map(ids, labels)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    return FrameSample(image, mask, boxes, labels, 2, "seq", frame, ids if instances else None)


def _assert_tight(sample: FrameSample) -> None:
    """Boxes are exactly the tight boxes of the instance map and of the mask, one per label."""
    expected = [tight_box(sample.instances == i) for i in range(1, len(sample.labels) + 1)]
    assert sample.boxes.tolist() == [list(box) for box in expected]
    assert sample.boxes.dtype == np.float32 and sample.labels.dtype == np.int64
    for box, label in zip(sample.boxes.tolist(), sample.labels.tolist()):
        assert box == list(tight_box(sample.mask == label))  # labels are unique here
    assert set(sample.labels.tolist()) == set(np.unique(sample.mask).tolist()) - {0}
    np.testing.assert_array_equal(sample.instances > 0, sample.mask > 0)


def test_map_and_pair_boxes_agree() -> None:
    sample = _sample()
    mask = sample.mask
    pairs = [(3, mask == 3), (7, np.zeros_like(mask)), (5, mask == 5)]
    boxes, labels = boxes_from_instances(pairs)
    np.testing.assert_array_equal(boxes, sample.boxes)
    assert labels.tolist() == sample.labels.tolist() == [3, 5]
    assert sample.boxes[0].tolist() == [8, 10, 30, 22]  # pixel edges, ends exclusive
    ids, labels = instance_map(pairs, mask.shape)
    boxes, labels, ids = boxes_from_instance_map(ids, labels)  # id 2 is empty: renumbered
    assert labels.tolist() == [3, 5] and set(np.unique(ids)) == {0, 1, 2}


@pytest.mark.parametrize("seed", range(8))
def test_augmented_boxes_are_the_tight_boxes_of_the_augmented_masks(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    out = train_augmentation((48, 64), scale=(0.2, 1.0), degrees=30.0)([_sample()], generator)
    _assert_tight(out[0])
    assert out[0].image.shape == (48, 64, 3) and out[0].mask.shape == (48, 64)


def test_rotation_keeps_labels_and_fills_corners_with_zero() -> None:
    sample = _sample()
    sample = dataclasses.replace(sample, image=np.full_like(sample.image, 200))
    out = apply_geometry(sample, RotateOp(20.0))
    assert set(np.unique(out.mask)) <= {0, 3, 5}  # nearest: no blended label values
    assert out.image[0, 0].tolist() == [0, 0, 0] and out.image[30, 40].tolist() == [200] * 3
    _assert_tight(out)
    # Rotated corners of the slanted bar give a looser box than its pixels.
    corners = apply_geometry(_sample(instances=False), RotateOp(20.0))
    bar = corners.boxes[corners.labels.tolist().index(5)]
    tight = out.boxes[out.labels.tolist().index(5)]
    assert (bar[2] - bar[0]) * (bar[3] - bar[1]) > (tight[2] - tight[0]) * (tight[3] - tight[1])


def test_boxes_without_instances_follow_the_corners() -> None:
    generator = torch.Generator().manual_seed(0)
    whole = Compose([RandomHorizontalFlip(1.0), Resize((45, 120))])(
        [_sample(instances=False)], generator)[0]
    assert whole.instances is None
    # The block (label 3, columns 8..29) flipped to 50..72, scaled by 1.5 and 0.75, exactly.
    np.testing.assert_allclose(whole.boxes[whole.labels.tolist().index(3)],
                               [75.0, 7.5, 108.0, 16.5])
    for box, label in zip(whole.boxes, whole.labels):
        mask_box = np.asarray(tight_box(whole.mask == label), np.float32)
        np.testing.assert_allclose(box, mask_box, atol=1.5)  # one source pixel, 1.5x wide


@pytest.mark.parametrize("instances", [True, False])
def test_vanished_boxes_are_dropped(instances: bool) -> None:
    out = apply_geometry(_sample(instances=instances), CropResizeOp(30, 0, 30, 35, (30, 35)))
    assert out.labels.tolist() == [] and out.boxes.shape == (0, 4)  # below the block
    assert out.mask.shape == (30, 35) and not out.mask.any()


def test_resized_crop_moves_masks_and_instances_alike() -> None:
    out = RandomResizedCrop((64, 64), scale=(0.3, 0.6))([_sample()], torch.Generator())[0]
    np.testing.assert_array_equal(out.instances > 0, out.mask > 0)
    _assert_tight(out)


def test_one_parameter_set_for_every_frame_of_a_clip() -> None:
    clip = [_sample(0)] * 3
    out = train_augmentation((48, 48), blur=1.0)(clip, torch.Generator().manual_seed(5))
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


@pytest.mark.parametrize("transform", [ColorJitter(0.4, 0.4, 0.4, 0.1),
                                       RandomGaussianBlur(1.0, (1.0, 1.0))])
def test_photometric_transforms_touch_images_only(transform) -> None:
    sample = _sample()
    out = transform([sample], torch.Generator().manual_seed(0))[0]
    assert not np.array_equal(out.image, sample.image)
    np.testing.assert_array_equal(out.mask, sample.mask)
    np.testing.assert_array_equal(out.instances, sample.instances)
    np.testing.assert_array_equal(out.boxes, sample.boxes)


def test_rotation_angle_range() -> None:
    with pytest.raises(ConfigError, match="degrees"):
        RandomRotation(-1.0)


def test_loader_instances_and_augmented_clips(synth_root: Path) -> None:
    frames = EndoVis17Dataset(synth_root, frame_size=None)
    for index in (0, 13, 30):
        sample = frames[index]
        assert sample.instances.dtype == np.uint8 and sample.instances.shape == sample.mask.shape
        _assert_unique_or_tight(sample)
    clips = ClipDataset(frames, length=3, transform=train_augmentation((48, 64)), seed=3)
    for index in range(0, len(clips), 5):
        for sample in clips[index]:
            _assert_unique_or_tight(sample)


def _assert_unique_or_tight(sample: FrameSample) -> None:
    """Boxes = tight boxes of the instance map; with one instance per type, of the mask too."""
    boxes, labels, ids = boxes_from_instance_map(sample.instances, sample.labels)
    np.testing.assert_array_equal(boxes, sample.boxes)
    np.testing.assert_array_equal(ids, sample.instances)
    np.testing.assert_array_equal(sample.instances > 0, sample.mask > 0)
    if len(set(sample.labels.tolist())) == len(sample.labels):
        _assert_tight(sample)
