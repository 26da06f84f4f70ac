"""The synthetic generator: determinism, the EndoVis 2017 layout read back, raw frames, CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from surg_perception.classes import ACTIVITIES
from surg_perception.data import synth
from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.endovis17_names import RELEASED_FOLDERS, instrument_type_id
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError, DatasetError

TINY = SynthConfig(sequences=2, frames=3, size=(96, 80), seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _records(seq_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (seq_dir / "synth_gt.jsonl").read_text().splitlines()]


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write_synth_dataset(tmp_path / "a", TINY)
    write_synth_dataset(tmp_path / "b", TINY)
    write_synth_dataset(tmp_path / "c", SynthConfig(sequences=2, frames=3, size=(96, 80), seed=4))
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    frame = "instrument_dataset_1/left_frames/frame000.png"
    assert a[frame] != c[frame]


def test_sequence_k_does_not_depend_on_the_number_of_sequences(tmp_path: Path) -> None:
    write_synth_dataset(tmp_path / "one", SynthConfig(sequences=1, frames=4, size=(96, 80)))
    write_synth_dataset(tmp_path / "three", SynthConfig(sequences=3, frames=4, size=(96, 80)))
    one, three = _files(tmp_path / "one"), _files(tmp_path / "three")
    first = {k: v for k, v in three.items() if k.startswith("instrument_dataset_1/")}
    assert first == {k: v for k, v in one.items() if k.startswith("instrument_dataset_1/")}


def test_layout_matches_the_endovis17_documentation(synth_root: Path, manifest: dict) -> None:
    readme = (synth_root / "README.txt").read_text()
    assert readme.startswith("Synthetic surgical video") and "Cauterization" in readme
    assert manifest["seed"] == 7 and manifest["size"] == [128, 96] and manifest["version"] == 2
    assert [s["name"] for s in manifest["sequences"]] == [
        f"instrument_dataset_{k}" for k in (1, 2, 3)]
    for seq in manifest["sequences"]:
        seq_dir = synth_root / seq["name"]
        types = [i["type_id"] for i in seq["instruments"]]
        assert 1 <= len(types) <= 3 and len(set(types)) == len(types)
        folders = sorted(p.name for p in (seq_dir / "ground_truth").iterdir())
        assert folders == sorted(i["folder"] for i in seq["instruments"])
        assert all(instrument_type_id(i["folder"]) == i["type_id"]
                   for i in seq["instruments"])
        frames = sorted(p.name for p in (seq_dir / "left_frames").iterdir())
        assert frames == [f"frame{t:03d}.png" for t in range(12)]
        assert not (seq_dir / "right_frames").exists()  # mono unless stereo=True
        image = cv2.imread(str(seq_dir / "left_frames" / frames[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (96, 128, 3)
        for folder in folders:  # every instrument is in view at the first frame
            mask = cv2.imread(str(seq_dir / "ground_truth" / folder / frames[0]),
                              cv2.IMREAD_UNCHANGED)
            assert mask.shape == (96, 128)
            assert set(np.unique(mask)) <= {0, 10, 20, 30} and mask.any()
        assert len(list((seq_dir / "vqla" / "label").glob("frame*.txt"))) == 12
        assert len(_records(seq_dir)) == 12
        assert sum(seq["activity_frames"].values()) == 12


def test_the_loader_reads_types_parts_boxes_and_activities(synth_root: Path,
                                                           manifest: dict) -> None:
    types = EndoVis17Dataset(synth_root, frame_size=None)
    parts = EndoVis17Dataset(synth_root, target="part", frame_size=None)
    binary = EndoVis17Dataset(synth_root, target="binary", frame_size=None)
    tools = {s["name"]: s["instruments"] for s in manifest["sequences"]}
    seen_parts = set()
    for index in range(0, len(types), 5):
        sample, part = types[index], parts[index].mask
        record = _records(synth_root / sample.sequence)[sample.frame]
        assert sample.activity == ACTIVITIES.index(record["activity"])
        np.testing.assert_array_equal(binary[index].mask, part > 0)
        # "Other" (type 7) is a type class but not a robotic instrument: no parts, no binary.
        np.testing.assert_array_equal((sample.mask > 0) & (sample.mask != 7), part > 0)
        seen_parts |= set(np.unique(part).tolist())
        boxes = dict(zip(sample.labels.tolist(), sample.boxes.tolist()))
        for tool in tools[sample.sequence]:
            gt = cv2.imread(str(synth_root / sample.sequence / "ground_truth" / tool["folder"] /
                                f"frame{sample.frame:03d}.png"), cv2.IMREAD_UNCHANGED)
            assert (sample.mask[gt > 0] == tool["type_id"]).all()
            if gt.any():
                rows, cols = np.flatnonzero(gt.any(1)), np.flatnonzero(gt.any(0))
                assert boxes[tool["type_id"]] == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            else:
                assert tool["type_id"] not in boxes
    assert seen_parts == {0, 1, 2, 3}


def test_raw_1920x1080_frames_crop_back_to_the_1280x1024_render(tmp_path: Path) -> None:
    write_synth_dataset(tmp_path / "raw", SynthConfig(sequences=1, frames=2, size=(1920, 1080)))
    write_synth_dataset(tmp_path / "crop", SynthConfig(sequences=1, frames=2, size=(1280, 1024)))
    raw, crop = EndoVis17Dataset(tmp_path / "raw"), EndoVis17Dataset(tmp_path / "crop")
    seq = tmp_path / "raw" / "instrument_dataset_1"
    image = cv2.imread(str(seq / "left_frames" / "frame001.png"))
    assert image.shape == (1080, 1920, 3) and not image[:, :320].any()  # black side bars
    for a, b in zip((raw[0], raw[1]), (crop[0], crop[1])):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.activity == b.activity
    rec_raw = _records(seq)[1]["instruments"][0]
    rec_crop = _records(tmp_path / "crop" / "instrument_dataset_1")[1]["instruments"][0]
    np.testing.assert_allclose(np.subtract(rec_raw["tip_2d"]["left"], rec_crop["tip_2d"]["left"]),
                               (320, 28), atol=1e-6)
    assert rec_raw["tip_3d"] == rec_crop["tip_3d"]


def test_cli_writes_the_dataset_and_refuses_a_full_folder(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    # The EndoVis 2017 crop by default; --size is H W (like bench/model-info), --size-wh W H.
    assert synth.frame_size_wh(parser.parse_args(["x"])) == (1280, 1024)
    assert synth.frame_size_wh(parser.parse_args(["x", "--size-wh", "96", "80"])) == (96, 80)
    with pytest.raises(SystemExit):
        parser.parse_args(["x", "--size", "80", "96", "--size-wh", "96", "80"])
    args = parser.parse_args([str(tmp_path / "out"), "--sequences", "1", "--frames", "2",
                              "--size", "80", "96", "--seed", "1", "--stereo"])
    assert synth.run(args) == 0
    seq = tmp_path / "out" / "instrument_dataset_1"
    assert (seq / "left_frames" / "frame001.png").is_file()
    assert cv2.imread(str(seq / "left_frames" / "frame001.png")).shape[:2] == (80, 96)
    assert (seq / "right_frames" / "frame001.png").is_file()
    with pytest.raises(DatasetError, match="not an empty folder"):
        synth.run(args)
    with pytest.raises(ConfigError, match="too small"):
        SynthConfig(size=(32, 32))
    with pytest.raises(ConfigError, match="max_instruments"):
        SynthConfig(max_instruments=8)


def test_folder_names_are_spelled_as_in_the_real_release(tmp_path: Path) -> None:
    """Model prefix, side prefix and suffix, no `_labels`: the variants of the real data."""
    manifest = write_synth_dataset(tmp_path / "d", SynthConfig(sequences=16, frames=1,
                                                               size=(128, 96), seed=5))
    folders = {i["folder"] for s in manifest["sequences"] for i in s["instruments"]}
    released = {name for seq in RELEASED_FOLDERS.values() for name in seq}
    assert len(folders & released) >= 4
    assert any(f.startswith(("Left_", "Right_")) for f in folders)
    assert any(f.endswith(("_Left_labels", "_Right_labels")) for f in folders)
    assert any(not f.endswith("_labels") for f in folders)
    assert "Maryland_Bipolar_Forceps_labels" in folders
