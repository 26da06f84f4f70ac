"""EndoVis17 loader on synthetic data: type masks, tight boxes, crop, folds, errors."""

from __future__ import annotations

from pathlib import Path
import re
import shutil

import cv2
import numpy as np
import pytest

from surg_perception.data.activity import frame_activity
from surg_perception.data.endovis17 import (
    EndoVis17Dataset,
    fold_sequences,
)
from surg_perception.data.endovis17_names import instrument_type_id
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError, DatasetError


def _gt(root: Path, sequence: str, folder: str, frame: int) -> np.ndarray:
    path = root / sequence / "ground_truth" / folder / f"frame{frame:03d}.png"
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _bbox(mask: np.ndarray) -> list[float]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def test_type_masks_boxes_and_activities_match_the_files(synth_root: Path, manifest: dict
                                                         ) -> None:
    dataset = EndoVis17Dataset(synth_root, frame_size=None)
    assert len(dataset) == 3 * 12
    tools = {s["name"]: s["instruments"] for s in manifest["sequences"]}
    for index in (0, 5, 13, 35):
        sample = dataset[index]
        assert sample.image.shape == (96, 128, 3) and sample.mask.dtype == np.uint8
        expected_boxes = {}
        for tool in tools[sample.sequence]:
            gt = _gt(synth_root, sample.sequence, tool["folder"], sample.frame)
            assert (sample.mask[gt > 0] == tool["type_id"]).all()
            if gt.any():
                expected_boxes[tool["type_id"]] = _bbox(gt)
        assert set(np.unique(sample.mask)) == {0, *expected_boxes}
        assert dict(zip(sample.labels.tolist(), sample.boxes.tolist())) == expected_boxes
        label = synth_root / sample.sequence / "vqla" / "label" / f"frame{sample.frame:03d}.txt"
        assert sample.activity == frame_activity(label) >= 0


def test_part_and_binary_targets(synth_root: Path) -> None:
    part = EndoVis17Dataset(synth_root, [2], target="part", frame_size=None)[4]
    binary = EndoVis17Dataset(synth_root, [2], target="binary", frame_size=None)[4]
    assert set(np.unique(part.mask)) == {0, 1, 2, 3}
    assert set(np.unique(binary.mask)) == {0, 1}
    np.testing.assert_array_equal(binary.mask, part.mask > 0)
    assert EndoVis17Dataset(synth_root, [2], activity=False, frame_size=None)[0].activity == -1


def test_raw_1920x1080_frames_are_cropped(tmp_path: Path) -> None:
    write_synth_dataset(tmp_path, SynthConfig(sequences=1, frames=1, size=(1920, 1080)))
    sample = EndoVis17Dataset(tmp_path)[0]
    seq = tmp_path / "instrument_dataset_1"
    raw = cv2.imread(str(seq / "left_frames" / "frame000.png"))[:, :, ::-1]
    assert raw.shape == (1080, 1920, 3) and not raw[:, :320].any()  # black side bars
    assert sample.image.shape == (1024, 1280, 3)
    np.testing.assert_array_equal(sample.image, raw[28:1052, 320:1600])
    for folder in (seq / "ground_truth").iterdir():
        gt = _gt(tmp_path, seq.name, folder.name, 0)[28:1052, 320:1600]
        type_id = instrument_type_id(folder.name)
        assert (sample.mask[gt > 0] == type_id).all()
        box = sample.boxes[sample.labels.tolist().index(type_id)]
        assert box.tolist() == _bbox(gt)


def test_folds_select_sequences(synth_root: Path) -> None:
    assert fold_sequences(0) == ((2, 4, 5, 6, 7, 8), (1, 3))
    val = EndoVis17Dataset(synth_root, fold=0, split="val", frame_size=None)
    train = EndoVis17Dataset(synth_root, fold=0, split="train", frame_size=None)
    assert {r.sequence for r in val.refs} == {"instrument_dataset_1", "instrument_dataset_3"}
    assert {r.sequence for r in train.refs} == {"instrument_dataset_2"}
    with pytest.raises(DatasetError, match="instrument_dataset_5"):
        EndoVis17Dataset(synth_root, fold=1, split="val", frame_size=None)
    with pytest.raises(ConfigError, match="fold 4"):
        EndoVis17Dataset(synth_root, fold=4)


# ----------------------------------------------------------------------- each error names the file
def _first_gt(root: Path) -> Path:
    return sorted((root / "instrument_dataset_1" / "ground_truth").iterdir())[0] / "frame002.png"


def test_missing_ground_truth_names_the_file(one_sequence: Path) -> None:
    path = _first_gt(one_sequence)
    path.unlink()
    with pytest.raises(DatasetError, match=re.escape(str(path))):
        EndoVis17Dataset(one_sequence, frame_size=None)


def test_mask_size_mismatch_names_the_file(one_sequence: Path) -> None:
    path = _first_gt(one_sequence)
    cv2.imwrite(str(path), np.zeros((40, 50), np.uint8))
    dataset = EndoVis17Dataset(one_sequence, frame_size=None)
    message = re.escape(f"{path}: mask size 50x40 != frame size 128x96")
    with pytest.raises(DatasetError, match=message):
        dataset[2]


def test_unknown_instrument_folder_names_the_folder(one_sequence: Path) -> None:
    folder = _first_gt(one_sequence).parent
    shutil.move(folder, folder.with_name("Laser_Scalpel_labels"))
    with pytest.raises(DatasetError, match="Laser_Scalpel_labels"):
        EndoVis17Dataset(one_sequence, frame_size=None)


def test_unexpected_frame_size_names_the_file(one_sequence: Path) -> None:
    dataset = EndoVis17Dataset(one_sequence)  # default expects 1280x1024 or 1920x1080
    with pytest.raises(DatasetError, match="frame000.png: size 128x96 is neither"):
        dataset[0]


def test_empty_sequence_names_the_folder(one_sequence: Path) -> None:
    frames = one_sequence / "instrument_dataset_1" / "left_frames"
    for path in frames.iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match=re.escape(f"{frames}: no frame<NNN>.png")):
        EndoVis17Dataset(one_sequence, frame_size=None)


def test_bad_part_value_names_the_file(one_sequence: Path) -> None:
    path = _first_gt(one_sequence)
    cv2.imwrite(str(path), np.full((96, 128), 40, np.uint8))
    with pytest.raises(DatasetError, match=re.escape(f"{path}: part values [40]")):
        EndoVis17Dataset(one_sequence, target="part", frame_size=None)[2]


def test_a_sequence_folder_given_as_root_says_pass_the_parent(one_sequence: Path) -> None:
    sequence = one_sequence / "instrument_dataset_1"
    message = re.escape(f"{sequence} is a sequence folder, not the dataset root: pass the "
                        f"parent folder ({one_sequence})")
    with pytest.raises(DatasetError, match=message):
        EndoVis17Dataset(sequence, frame_size=None)


def test_frames_one_level_down_are_pointed_at(one_sequence: Path) -> None:
    frames = one_sequence / "instrument_dataset_1" / "left_frames"
    nested = frames / "left_frames"
    nested.mkdir()
    for path in list(frames.glob("frame*.png")):
        shutil.move(path, nested / path.name)
    with pytest.raises(DatasetError, match=re.escape(f"found some one level down in {nested}")):
        EndoVis17Dataset(one_sequence, frame_size=None)
