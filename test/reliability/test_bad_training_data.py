"""Broken training data fails loudly: a DatasetError naming the file, nothing skipped.

Each case breaks one file of an otherwise valid synthetic dataset, then goes through what
training does (index the dataset, load every frame, build clips); the error must name the
broken file, and a dataset that loads must hold every frame on disk.
"""

from __future__ import annotations

from pathlib import Path
import shutil

import numpy as np
import pytest

from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.endovis18 import EndoVis18Dataset
from surg_perception.data.io import write_png
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import DatasetError

FRAMES = 3


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    write_synth_dataset(root, SynthConfig(sequences=1, frames=FRAMES, size=(64, 64), seed=0))
    return root


@pytest.fixture()
def root(clean_root, tmp_path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(clean_root, copy)
    return copy


def _sequence(root: Path) -> Path:
    return root / "instrument_dataset_1"


def _mask(root: Path, frame: int = 1) -> Path:
    folder = sorted(p for p in (_sequence(root) / "ground_truth").iterdir() if p.is_dir())[0]
    return folder / f"frame{frame:03d}.png"


def _load_all(root: Path) -> EndoVis17Dataset:
    """What training does with a dataset: index it and read every frame."""
    dataset = EndoVis17Dataset(root, frame_size=None)
    for index in range(len(dataset)):
        dataset[index]
    return dataset


def test_the_clean_copy_loads_every_frame(root):
    dataset = _load_all(root)
    on_disk = list((_sequence(root) / "left_frames").glob("frame*.png"))
    assert len(dataset) == len(on_disk) == FRAMES  # nothing skipped


def _break_missing_mask(root):
    path = _mask(root)
    path.unlink()
    return path


def _break_mask_size(root):
    path = _mask(root)
    write_png(path, np.zeros((32, 48), np.uint8))
    return path


def _break_truncated_frame(root):
    path = _sequence(root) / "left_frames" / "frame001.png"
    path.write_bytes(path.read_bytes()[:100])
    return path


def _break_truncated_mask(root):
    path = _mask(root)
    path.write_bytes(path.read_bytes()[:60])
    return path


def _break_empty_sequence(root):
    folder = _sequence(root) / "left_frames"
    for frame in folder.iterdir():
        frame.unlink()
    return folder


def _break_unknown_instrument(root):
    folder = _mask(root).parent
    renamed = folder.with_name("Laser_Pointer_labels")
    folder.rename(renamed)
    return renamed


def _break_colour_mask(root):
    path = _mask(root)
    write_png(path, np.full((64, 64, 3), (200, 10, 30), np.uint8))
    return path


BREAKAGES = {
    "missing mask": _break_missing_mask,
    "mask size mismatch": _break_mask_size,
    "truncated frame": _break_truncated_frame,
    "truncated mask": _break_truncated_mask,
    "empty sequence": _break_empty_sequence,
    "unknown instrument folder": _break_unknown_instrument,
    "colour pixels in a grey mask": _break_colour_mask,
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_broken_endovis17_file_is_named(root, name):
    broken = BREAKAGES[name](root)
    with pytest.raises(DatasetError) as error:
        _load_all(root)
    assert str(broken) in str(error.value), str(error.value)


def test_training_clips_surface_the_error(root, tiny_config_path):
    from surg_perception.config import load_spec
    from surg_perception.training.config import PhaseConfig, TrainConfig
    from surg_perception.training.data import build_clips

    broken = _break_missing_mask(root)
    cfg = TrainConfig(batch_size=1, clip_length=2, clip_stride=1, workers=0,
                      phases=(PhaseConfig("detection", iterations=1),))
    with pytest.raises(DatasetError, match=str(broken)):
        clips = build_clips(root, load_spec(tiny_config_path), cfg)
        for index in range(len(clips)):
            clips[index]


# --------------------------------------------------------------------------- EndoVis 2018
@pytest.fixture()
def endovis18_root(tmp_path) -> Path:
    """One seq_1 of two 32x24 frames labelled background (black) only."""
    from surg_perception.classes import ENDOVIS18_CLASSES

    seq = tmp_path / "ev18" / "seq_1"
    background = np.array(ENDOVIS18_CLASSES[0][1], np.uint8)
    for frame in range(2):
        write_png(seq / "left_frames" / f"frame{frame:03d}.png", np.zeros((24, 32, 3), np.uint8))
        label = np.broadcast_to(background, (24, 32, 3))
        write_png(seq / "labels" / f"frame{frame:03d}.png", label)
    return seq.parent


def _load18(root: Path) -> EndoVis18Dataset:
    dataset = EndoVis18Dataset(root)
    for index in range(len(dataset)):
        dataset[index]
    return dataset


def test_endovis18_unknown_label_colour_is_named(endovis18_root):
    assert len(_load18(endovis18_root)) == 2
    label = endovis18_root / "seq_1" / "labels" / "frame001.png"
    write_png(label, np.full((24, 32, 3), (1, 2, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"unknown label colour") as error:
        _load18(endovis18_root)
    assert str(label) in str(error.value)


def test_endovis18_missing_and_mismatched_labels_are_named(endovis18_root):
    label = endovis18_root / "seq_1" / "labels" / "frame001.png"
    write_png(label, np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(DatasetError, match=str(label)):
        _load18(endovis18_root)
    label.unlink()
    with pytest.raises(DatasetError, match=str(label)):
        _load18(endovis18_root)
