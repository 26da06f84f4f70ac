"""EndoVis17 test release: TypeSegmentation / PartsSegmentation folders, "Other", crop, errors."""

from __future__ import annotations

from pathlib import Path
import re
import shutil

import numpy as np
import pytest

from surg_perception.data.endovis17_test import EndoVis17TestDataset
from surg_perception.data.io import write_png
from surg_perception.errors import DatasetError

H, W = 24, 32
FRAMES = ("frame225.png", "frame226.png")  # sequences 1-8: the test frames are 225-299


def _labels() -> tuple[np.ndarray, np.ndarray]:
    """Two bipolar forceps (type 1) apart, a vessel sealer (4), an Other tool (7)."""
    types = np.zeros((H, W), np.uint8)
    parts = np.zeros((H, W), np.uint8)
    for rows, cols, type_id in ((slice(0, 4), slice(0, 6), 1), (slice(20, 24), slice(26, 32), 1),
                                (slice(8, 14), slice(8, 20), 4), (slice(16, 20), slice(0, 10), 7)):
        types[rows, cols] = type_id
        parts[rows, cols] = 30
    parts[8:10, 8:12] = 100
    parts[8:10, 12:14] = 255
    return types, parts


def _write(frames_root: Path, labels_root: Path, k: int = 1, size=(H, W)) -> None:
    types, parts = _labels()
    if size != (H, W):  # a raw 1920x1080 frame: the labels sit inside the 1280x1024 crop
        big_t, big_p = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
        big_t[28:28 + H, 320:320 + W], big_p[28:28 + H, 320:320 + W] = types, parts
        types, parts = big_t, big_p
    for name in FRAMES:
        write_png(frames_root / f"instrument_dataset_{k}" / "left_frames" / name,
                  np.full((*size, 3), 80, np.uint8))
        write_png(labels_root / f"instrument_dataset_{k}" / "TypeSegmentation" / name, types)
        write_png(labels_root / f"instrument_dataset_{k}" / "PartsSegmentation" / name, parts)


@pytest.fixture()
def release(tmp_path: Path) -> tuple[Path, Path]:
    frames, labels = tmp_path / "frames", tmp_path / "instrument_2017_test"
    _write(frames, labels, k=1)
    _write(frames, labels, k=9)
    return frames, labels


def test_type_target_and_one_box_per_type(release) -> None:
    frames, labels = release
    dataset = EndoVis17TestDataset(frames, labels=labels, frame_size=None)
    assert len(dataset) == 4 and [r.frame for r in dataset.refs[:2]] == [225, 226]
    sample = dataset[0]
    np.testing.assert_array_equal(sample.mask, _labels()[0])
    boxes = dict(zip(sample.labels.tolist(), sample.boxes.tolist()))
    assert boxes == {1: [0, 0, 32, 24], 4: [8, 8, 20, 14], 7: [0, 16, 10, 20]}


def test_binary_and_part_targets_leave_other_out(release) -> None:
    frames, labels = release
    binary = EndoVis17TestDataset(frames, [9], labels=labels, target="binary",
                                  frame_size=None)[1]
    part = EndoVis17TestDataset(frames, [9], labels=labels, target="part", frame_size=None)[1]
    types = _labels()[0]
    np.testing.assert_array_equal(binary.mask, (types > 0) & (types != 7))
    assert (part.mask[8:10, 8:12] == 2).all() and (part.mask[8:10, 12:14] == 3).all()
    assert (part.mask[0:4, 0:6] == 1).all() and not part.mask[16:20, 0:10].any()
    kept = EndoVis17TestDataset(frames, [9], labels=labels, target="part", frame_size=None,
                                include_other=True)[1]
    assert (kept.mask[16:20, 0:10] == 1).all()


def test_labels_next_to_the_frames_and_a_doubly_nested_archive(tmp_path: Path) -> None:
    _write(tmp_path / "together", tmp_path / "together")
    assert len(EndoVis17TestDataset(tmp_path / "together", frame_size=None)) == 2
    _write(tmp_path / "frames", tmp_path / "instrument_2017_test" / "instrument_2017_test")
    dataset = EndoVis17TestDataset(tmp_path / "frames", labels=tmp_path / "instrument_2017_test",
                                   frame_size=None)
    assert dataset.labels.name == "instrument_2017_test" and len(dataset) == 2


def test_raw_frames_and_masks_are_cropped(tmp_path: Path) -> None:
    _write(tmp_path / "frames", tmp_path / "labels", size=(1080, 1920))
    sample = EndoVis17TestDataset(tmp_path / "frames", labels=tmp_path / "labels")[0]
    assert sample.image.shape == (1024, 1280, 3)
    np.testing.assert_array_equal(sample.mask[:H, :W], _labels()[0])
    assert not sample.mask[H:, :].any() and not sample.mask[:, W:].any()


def test_missing_label_and_bad_values_name_the_file(release) -> None:
    frames, labels = release
    path = labels / "instrument_dataset_1" / "PartsSegmentation" / FRAMES[1]
    path.unlink()
    EndoVis17TestDataset(frames, [1], labels=labels, frame_size=None)  # type target: not needed
    with pytest.raises(DatasetError, match=re.escape(f"{path}: ground truth missing")):
        EndoVis17TestDataset(frames, [1], labels=labels, target="part", frame_size=None)
    bad = labels / "instrument_dataset_9" / "TypeSegmentation" / FRAMES[0]
    write_png(bad, np.full((H, W), 32, np.uint8))  # e.g. a TypeSegmentationRescaled file
    with pytest.raises(DatasetError, match=re.escape(f"{bad}: values [32] are not in")):
        EndoVis17TestDataset(frames, [9], labels=labels, frame_size=None)[0]
    shutil.rmtree(labels / "instrument_dataset_9" / "TypeSegmentation")
    with pytest.raises(DatasetError, match="TypeSegmentation: test ground-truth folder not found"):
        EndoVis17TestDataset(frames, [9], labels=labels, frame_size=None)
