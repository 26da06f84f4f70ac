"""The synthetic generator: determinism, documented layout, motion-correlated activities."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from surg_perception.data import synth
from surg_perception.data.activity import parse_vqla
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError, DatasetError

TINY = SynthConfig(sequences=2, frames=3, size=(96, 80), seed=3)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write_synth_dataset(tmp_path / "a", TINY)
    write_synth_dataset(tmp_path / "b", TINY)
    write_synth_dataset(tmp_path / "c", SynthConfig(sequences=2, frames=3, size=(96, 80), seed=4))
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    frame = "instrument_dataset_1/left_frames/frame000.png"
    assert a[frame] != c[frame]


def test_layout_matches_the_endovis17_documentation(synth_root: Path, manifest: dict) -> None:
    assert (synth_root / "README.txt").read_text().startswith("Synthetic surgical video")
    assert manifest["seed"] == 7 and manifest["size"] == [128, 96]
    assert [s["name"] for s in manifest["sequences"]] == [
        f"instrument_dataset_{k}" for k in (1, 2, 3)]
    for seq in manifest["sequences"]:
        seq_dir = synth_root / seq["name"]
        types = [i["type_id"] for i in seq["instruments"]]
        assert 1 <= len(types) <= 3 and len(set(types)) == len(types)
        folders = sorted(p.name for p in (seq_dir / "ground_truth").iterdir())
        assert folders == sorted(i["folder"] for i in seq["instruments"])
        frames = sorted(p.name for p in (seq_dir / "left_frames").iterdir())
        assert frames == [f"frame{t:03d}.png" for t in range(12)]
        image = cv2.imread(str(seq_dir / "left_frames" / frames[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (96, 128, 3)
        for folder in folders:
            mask = cv2.imread(str(seq_dir / "ground_truth" / folder / frames[-1]),
                              cv2.IMREAD_UNCHANGED)
            assert mask.shape == (96, 128)
            assert set(np.unique(mask)) <= {0, 10, 20, 30} and mask.any()
        assert len(list((seq_dir / "vqla" / "label").glob("frame*.txt"))) == 12


def _top_tool_track(root: Path, seq: dict) -> tuple[list[np.ndarray], list[str]]:
    """Masks and activities of the tool drawn last (never occluded)."""
    tool = max(seq["instruments"], key=lambda i: i["draw_order"])
    seq_dir = root / seq["name"]
    masks, activities = [], []
    for t in range(12):
        masks.append(cv2.imread(str(seq_dir / "ground_truth" / tool["folder"] /
                                    f"frame{t:03d}.png"), cv2.IMREAD_UNCHANGED))
        entries = parse_vqla(seq_dir / "vqla" / "label" / f"frame{t:03d}.txt")
        activities.append(next(e.answer for e in entries
                               if e.question == f"What is the state of {tool['vqla_name']}?"))
    return masks, activities


def test_activities_follow_the_motion(synth_root: Path, manifest: dict) -> None:
    idle_pairs = moving_pairs = 0
    for seq in manifest["sequences"]:
        masks, activities = _top_tool_track(synth_root, seq)
        for t in range(1, 12):
            same = np.array_equal(masks[t], masks[t - 1])
            if activities[t] == activities[t - 1] == "Idle":
                idle_pairs += 1
                assert same, f"{seq['name']} frame {t}: idle tool moved"
            elif activities[t] != "Idle":
                moving_pairs += 1
                assert not same, f"{seq['name']} frame {t}: {activities[t]} without motion"
            if activities[t] == activities[t - 1] == "Retraction":
                # Pulled back towards the border: less of the tool is visible.
                assert (masks[t] > 0).sum() <= (masks[t - 1] > 0).sum() * 1.03
    assert idle_pairs > 0 and moving_pairs > 0


def test_cli_writes_the_dataset_and_refuses_a_full_folder(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / "out"), "--sequences", "1", "--frames", "2",
                              "--size", "96", "80", "--seed", "1"])
    assert synth.run(args) == 0
    assert (tmp_path / "out" / "instrument_dataset_1" / "left_frames" / "frame001.png").is_file()
    with pytest.raises(DatasetError, match="not an empty folder"):
        synth.run(args)
    with pytest.raises(ConfigError, match="too small"):
        SynthConfig(size=(32, 32))
