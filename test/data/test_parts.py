"""Part masks beside the type mask: one read, the same geometry, batched as ``part_masks``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.config import ModelSpec
from surg_perception.data.clips import ClipDataset, collate_clips
from surg_perception.data.endovis17 import PART_CLASSES, EndoVis17Dataset, wants_parts
from surg_perception.data.transforms import Resize, train_augmentation
from surg_perception.errors import ConfigError

OTHER = 7


def test_part_mask_is_the_part_target_of_the_same_frame(synth_root: Path) -> None:
    both = EndoVis17Dataset(synth_root, [2], frame_size=None, parts=True)
    part_only = EndoVis17Dataset(synth_root, [2], target="part", frame_size=None)
    types_only = EndoVis17Dataset(synth_root, [2], frame_size=None)
    for index in (0, 4, 11):
        sample = both[index]
        np.testing.assert_array_equal(sample.mask, types_only[index].mask)
        np.testing.assert_array_equal(sample.part_mask, part_only[index].mask)
        assert sample.part_mask.dtype == np.uint8 and sample.part_mask.shape == sample.mask.shape
    # Parts lie on robotic instruments only ("Other" is background: the challenge rule).
    parts, types = both[4].part_mask, both[4].mask
    assert set(np.unique(parts)) == {0, 1, 2, 3}
    assert not parts[(types == 0) | (types == OTHER)].any()
    assert types_only[0].part_mask is None  # only when asked


def test_augmentation_moves_the_part_mask_exactly_like_the_mask(synth_root: Path) -> None:
    """A part mask equal to the type mask stays equal under every op of the recipe."""
    frames = EndoVis17Dataset(synth_root, [1], frame_size=None, parts=True)
    twin = _TwinParts(frames)
    clips = ClipDataset(twin, 4, 4, train_augmentation((64, 96), degrees=30.0), seed=3)
    for index in range(len(clips)):
        for sample in clips[index]:
            assert sample.part_mask.shape == sample.mask.shape == (64, 96)
            np.testing.assert_array_equal(sample.part_mask, sample.mask)


class _TwinParts(EndoVis17Dataset):
    """Frames whose part mask is a copy of the type mask (so any misalignment shows)."""

    def __init__(self, frames: EndoVis17Dataset) -> None:
        self.__dict__.update(frames.__dict__)

    def load(self, ref):
        sample = super().load(ref)
        return dataclasses.replace(sample, part_mask=sample.mask.copy())


def test_batch_carries_part_masks_when_every_frame_has_one(synth_root: Path) -> None:
    with_parts = ClipDataset(EndoVis17Dataset(synth_root, [1], frame_size=None, parts=True),
                             4, 4, Resize((64, 96)))
    batch = collate_clips([with_parts[0], with_parts[1]])
    assert batch.part_masks.shape == (2, 4, 64, 96) and batch.part_masks.dtype == torch.int64
    assert batch.part_masks.max() <= len(PART_CLASSES) - 1
    np.testing.assert_array_equal(batch.part_masks[1, 2].numpy(), with_parts[1][2].part_mask)
    assert batch.to("cpu").part_masks is not None
    plain = ClipDataset(EndoVis17Dataset(synth_root, [1], frame_size=None), 4, 4,
                        Resize((64, 96)))
    assert collate_clips([plain[0]]).part_masks is None


def test_wants_parts_follows_the_spec() -> None:
    spec = ModelSpec()
    assert not wants_parts(spec)
    parts = dataclasses.replace(spec, model=dataclasses.replace(
        spec.model, part_classes=PART_CLASSES))
    assert wants_parts(parts)
    wrong = dataclasses.replace(spec, model=dataclasses.replace(
        spec.model, part_classes=("background", "shaft")))
    with pytest.raises(ConfigError, match="part_classes"):
        wants_parts(wrong)
