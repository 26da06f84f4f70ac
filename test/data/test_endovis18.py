"""EndoVis18 colour-coded labels on hand-built PNGs."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
import pytest

from surg_perception.classes import ENDOVIS18_CLASSES
from surg_perception.data.endovis18 import EndoVis18Dataset
from surg_perception.data.io import write_png
from surg_perception.errors import DatasetError


def _write_sequence(root: Path, label: np.ndarray, k: int = 1) -> Path:
    seq = root / f"seq_{k}"
    rng = np.random.default_rng(0)
    write_png(seq / "left_frames" / "frame000.png",
              rng.integers(0, 255, (*label.shape[:2], 3), dtype=np.uint8))
    write_png(seq / "labels" / "frame000.png", label)
    return seq / "labels" / "frame000.png"


def _label_with_every_class() -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(24).reshape(4, 6) % len(ENDOVIS18_CLASSES)
    colours = np.array([c for _, c in ENDOVIS18_CLASSES], np.uint8)
    return colours[ids], ids


def test_colours_map_to_class_ids(tmp_path: Path) -> None:
    label, ids = _label_with_every_class()
    _write_sequence(tmp_path, label)
    sample = EndoVis18Dataset(tmp_path)[0]
    np.testing.assert_array_equal(sample.mask, ids)
    assert sample.mask.dtype == np.uint8 and sample.boxes.shape == (0, 4)
    assert sample.sequence == "seq_1" and sample.frame == 0 and sample.activity == -1


def test_unknown_colour_names_file_colour_and_count(tmp_path: Path) -> None:
    label, _ = _label_with_every_class()
    label[0, :5] = (1, 2, 3)
    path = _write_sequence(tmp_path, label)
    dataset = EndoVis18Dataset(tmp_path)
    message = re.escape(f"{path}: unknown label colour RGB(1, 2, 3) on 5 pixels")
    with pytest.raises(DatasetError, match=message):
        dataset[0]


def test_missing_label_and_size_mismatch_name_the_file(tmp_path: Path) -> None:
    label, _ = _label_with_every_class()
    path = _write_sequence(tmp_path, label)
    write_png(path, label[:3])
    with pytest.raises(DatasetError, match=re.escape(f"{path}: label size 6x3 != frame size 6x4")):
        EndoVis18Dataset(tmp_path)[0]
    path.unlink()
    with pytest.raises(DatasetError, match=re.escape(f"{path}: label missing")):
        EndoVis18Dataset(tmp_path)
    with pytest.raises(DatasetError, match="seq_9"):
        EndoVis18Dataset(tmp_path, sequences=[9])


def test_activity_labels_are_read_when_present(tmp_path: Path) -> None:
    label, _ = _label_with_every_class()
    _write_sequence(tmp_path, label)
    vqla = tmp_path / "seq_1" / "vqla" / "label" / "frame000.txt"
    vqla.parent.mkdir(parents=True)
    vqla.write_text("What is the state of bipolar_forceps?|Cutting|0,0,2,2\n")
    assert EndoVis18Dataset(tmp_path)[0].activity == 5
