"""Clips stay inside one sequence, have length T, and collate to the documented batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.data.clips import ClipDataset, collate_clips
from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.transforms import train_augmentation
from surg_perception.errors import DatasetError


@pytest.fixture(scope="module")
def frames(synth_root: Path) -> EndoVis17Dataset:
    return EndoVis17Dataset(synth_root, frame_size=None)


def test_windows_never_cross_sequences(frames: EndoVis17Dataset) -> None:
    clips = ClipDataset(frames, length=5, stride=3)
    assert len(clips) == 3 * 3  # starts 0, 3, 6 in each 12-frame sequence
    for window in clips.windows:
        refs = [frames.refs[i] for i in window]
        assert len(refs) == 5 and len({r.sequence for r in refs}) == 1
        assert [r.frame for r in refs] == list(range(refs[0].frame, refs[0].frame + 5))
    clip = clips[4]
    assert [s.frame for s in clip] == [3, 4, 5, 6, 7]
    assert {s.sequence for s in clip} == {"instrument_dataset_2"}


def test_short_sequences_are_skipped_or_rejected(frames: EndoVis17Dataset) -> None:
    with pytest.raises(DatasetError, match="no sequence has 13 frames"):
        ClipDataset(frames, length=13)
    assert ClipDataset(frames, length=12).skipped == []


def test_collate_shapes_and_types(frames: EndoVis17Dataset) -> None:
    clips = ClipDataset(frames, length=3, stride=4)
    batch = collate_clips([clips[0], clips[4]])
    assert batch.images.shape == (2, 3, 96, 128, 3) and batch.images.dtype == torch.uint8
    assert batch.masks.shape == (2, 3, 96, 128) and batch.masks.dtype == torch.int64
    assert batch.activity.shape == (2, 3) and (batch.activity >= 0).all()
    assert batch.sequences == ["instrument_dataset_1", "instrument_dataset_2"]
    assert batch.frames.tolist() == [[0, 1, 2], [4, 5, 6]]
    assert len(batch.boxes) == 2 and len(batch.boxes[1]) == 3
    boxes, labels = batch.boxes[1][2], batch.labels[1][2]
    assert boxes.dtype == torch.float32 and boxes.shape == (labels.shape[0], 4)
    assert labels.dtype == torch.int64 and (labels >= 1).all()
    np.testing.assert_array_equal(batch.images[1, 2].numpy(), clips[4][2].image)
    moved = batch.to("cpu")
    assert moved.masks.dtype == torch.int64 and moved.boxes[1][2].shape == boxes.shape


def test_augmented_clips_are_reproducible_per_index_and_epoch(frames: EndoVis17Dataset) -> None:
    clips = ClipDataset(frames, length=2, transform=train_augmentation((48, 64)), seed=1)
    first, again = clips[3], clips[3]
    assert first[0].image.shape == (48, 64, 3)
    np.testing.assert_array_equal(first[1].image, again[1].image)
    clips.set_epoch(1)
    assert not np.array_equal(first[1].image, clips[3][1].image)


def test_collate_rejects_mixed_sizes(frames: EndoVis17Dataset) -> None:
    small = ClipDataset(frames, length=1, transform=train_augmentation((48, 64)))[0]
    with pytest.raises(DatasetError, match="cannot batch clips"):
        collate_clips([small, ClipDataset(frames, length=1)[0]])
