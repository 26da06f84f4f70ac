"""EndoVis17 as released: folder-name variants, "Other", overlapping masks."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
import pytest

from surg_perception.data.endovis17 import (
    INSTRUMENT_FOLDER_TYPES,
    EndoVis17Dataset,
    instrument_type,
)
from surg_perception.data.endovis17_names import RELEASED_FOLDERS, instrument_type_id
from surg_perception.data.io import write_png
from surg_perception.errors import DatasetError

H, W = 24, 32


@pytest.mark.parametrize("sequence", sorted(RELEASED_FOLDERS))
def test_every_released_folder_name_maps_to_its_type(sequence: int) -> None:
    for name, type_id in RELEASED_FOLDERS[sequence].items():
        assert instrument_type_id(name) == type_id, name


@pytest.mark.parametrize("name, type_id", [
    ("Maryland_Bipolar_Forceps_labels", 1), ("maryland bipolar forceps", 1),
    ("Prograsp_Forceps_Right_labels", 2), ("PROGRASP-FORCEPS", 2),
    ("Left_Grasping_Retractor", 5), ("Grasping_Retractor_Left_labels", 5),
    ("Large_Needle_Driver_Left_labels", 3), ("Right_Vessel_Sealer", 4),
    ("Monopolar_Curved_Scissors", 6), ("other", 7), ("Other_labels", 7),
])
def test_naming_variants(name: str, type_id: int) -> None:
    assert instrument_type_id(name) == type_id


def test_canonical_table_still_matches_the_matcher() -> None:
    assert INSTRUMENT_FOLDER_TYPES["Left_Prograsp_Forceps_labels"] == 2
    assert all(instrument_type_id(n) == t for n, t in INSTRUMENT_FOLDER_TYPES.items())


@pytest.mark.parametrize("name", ["Laser_Scalpel_labels", "Mother_labels", "Grasping_labels",
                                  "Forceps_labels", "Prograsp_labels"])
def test_unknown_names_say_which_folder_and_the_known_names(tmp_path: Path, name: str) -> None:
    message = re.escape(f"{tmp_path / name}: unknown instrument folder {name!r}")
    with pytest.raises(DatasetError, match=message + ".*Prograsp_Forceps.*Other"):
        instrument_type(tmp_path / name)


def test_two_instruments_in_one_name_are_ambiguous() -> None:
    with pytest.raises(DatasetError, match="ambiguous.*Prograsp_Forceps and Vessel_Sealer"):
        instrument_type_id("Prograsp_Forceps_Vessel_Sealer_labels")


# --------------------------------------------------------------- a sequence named like the release
def _box(mask: np.ndarray, value: int, rows: slice, cols: slice) -> None:
    mask[rows, cols] = value


@pytest.fixture()
def released(tmp_path: Path) -> Path:
    """instrument_dataset_1 with its released folder names and overlapping masks (2 frames).

    Right prograsp (2) overlaps Maryland bipolar (1) in rows 4-7, columns 10-13; Other, whose
    name sorts after "Maryland", overlaps the bipolar in rows 6-7, columns 4-7 and carries the
    release's probe value 40 in row 0.
    """
    seq = tmp_path / "instrument_dataset_1"
    masks = {name: np.zeros((H, W), np.uint8) for name in RELEASED_FOLDERS[1]}
    _box(masks["Maryland_Bipolar_Forceps_labels"], 10, slice(2, 8), slice(4, 14))
    _box(masks["Maryland_Bipolar_Forceps_labels"], 30, slice(2, 4), slice(4, 6))
    _box(masks["Right_Prograsp_Forceps_labels"], 20, slice(4, 10), slice(10, 24))
    _box(masks["Other_labels"], 10, slice(6, 14), slice(0, 8))
    masks["Other_labels"][0, 28:] = 40
    _box(masks["Left_Prograsp_Forceps_labels"], 10, slice(16, 20), slice(0, 6))
    for frame in ("frame000.png", "frame001.png"):
        write_png(seq / "left_frames" / frame, np.full((H, W, 3), 90, np.uint8))
        for name, mask in masks.items():
            write_png(seq / "ground_truth" / name / frame, mask)
    (seq / "ground_truth" / ".DS_Store_dir").mkdir()  # hidden folders are skipped
    return tmp_path


def test_type_target_overlaps_and_other(released: Path) -> None:
    sample = EndoVis17Dataset(released, target="type", frame_size=None)[0]
    assert (sample.mask[2:4, 4:10] == 1).all()        # bipolar alone
    assert (sample.mask[4:8, 10:14] == 2).all()       # Right_Prograsp sorts after Maryland: wins
    assert (sample.mask[6:8, 4:8] == 1).all()         # a robotic instrument wins over Other
    assert (sample.mask[8:14, 0:8] == 7).all()        # Other kept as type 7
    assert (sample.mask[16:20, 0:6] == 2).all()
    assert sorted(sample.labels.tolist()) == [1, 2, 2, 7]  # Other keeps its box
    other_box = sample.boxes[sample.labels.tolist().index(7)].tolist()
    assert other_box == [0, 0, 32, 14]


def test_binary_and_part_targets_leave_other_out(released: Path) -> None:
    binary = EndoVis17Dataset(released, target="binary", frame_size=None)[1]
    part = EndoVis17Dataset(released, target="part", frame_size=None)[1]
    assert not binary.mask[8:14, 0:8].any() and not binary.mask[0, 28:].any()
    assert binary.mask[6:8, 4:8].all()                # robotic pixels under Other stay
    np.testing.assert_array_equal(binary.mask, part.mask > 0)
    assert (part.mask[2:4, 4:6] == 3).all() and (part.mask[4:8, 10:14] == 2).all()
    assert 7 in binary.labels.tolist()                 # the detector still sees Other


def test_include_other_counts_it_as_instrument(released: Path) -> None:
    binary = EndoVis17Dataset(released, target="binary", frame_size=None, include_other=True)[0]
    part = EndoVis17Dataset(released, target="part", frame_size=None, include_other=True)[0]
    assert binary.mask[8:14, 0:8].all() and binary.mask[0, 28:].all()
    assert (part.mask[8:14, 0:8] == 1).all()          # Other's shaft value 10
    assert not part.mask[0, 28:].any()                # probe value 40 has no part class


def test_probe_value_in_a_robotic_folder_is_an_error(released: Path) -> None:
    path = released / "instrument_dataset_1/ground_truth/Left_Prograsp_Forceps_labels/frame001.png"
    write_png(path, np.full((H, W), 40, np.uint8))
    with pytest.raises(DatasetError, match=re.escape(f"{path}: part values [40]")):
        EndoVis17Dataset(released, target="part", frame_size=None)[1]
