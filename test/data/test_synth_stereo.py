"""Stereo and 3D ground truth of the synthetic generator: the written cameras reproduce the
written 2D tips, disparity is fx * B / Z, shaft lines and masks agree with the 3D truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.data.synth_camera import BASELINE_M, HFOV_DEG, make_camera


@pytest.fixture(scope="module")
def stereo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stereo") / "data"
    write_synth_dataset(root, SynthConfig(sequences=2, frames=12, size=(160, 128), seed=5,
                                          stereo=True))
    return root


def _records(root: Path, name: str) -> list[dict]:
    text = (root / name / "synth_gt.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_camera_info_records(stereo_root: Path) -> None:
    manifest = json.loads((stereo_root / "manifest.json").read_text())
    left, right = manifest["cameras"]["left"], manifest["cameras"]["right"]
    assert manifest["stereo"] and manifest["baseline_m"] == BASELINE_M == 0.005
    for info in (left, right):
        assert (info["width"], info["height"]) == (160, 128)
        assert info["distortion_model"] == "plumb_bob" and info["d"] == [0.0] * 5
        assert info["r"] == np.eye(3).tolist() and info["k"] == left["k"]
    fx = left["k"][0][0]
    assert math.degrees(2 * math.atan(160 / 2 / fx)) == pytest.approx(HFOV_DEG, abs=1e-3)
    assert left["p"][0][3] == 0.0
    assert right["p"][0][3] == pytest.approx(-fx * BASELINE_M, abs=1e-5)
    for seq in manifest["sequences"]:
        frames = sorted((stereo_root / seq["name"] / "right_frames").glob("frame*.png"))
        assert len(frames) == 12
        assert cv2.imread(str(frames[0])).shape == (128, 160, 3)


def test_intrinsics_scale_with_the_output_size() -> None:
    big, small = make_camera(1280, 1024), make_camera(320, 256)
    assert small.fx == pytest.approx(big.fx / 4) and small.fy == pytest.approx(big.fy / 4)
    assert (small.cx + 0.5) * 4 == pytest.approx(big.cx + 0.5)


def test_tips_project_through_the_p_matrices(stereo_root: Path) -> None:
    manifest = json.loads((stereo_root / "manifest.json").read_text())
    p = {eye: np.array(manifest["cameras"][eye]["p"]) for eye in ("left", "right")}
    fx, checked = p["left"][0][0], 0
    for seq in manifest["sequences"]:
        for record in _records(stereo_root, seq["name"]):
            for tool in record["instruments"]:
                tip = np.array([*tool["tip_3d"], 1.0])
                for eye in ("left", "right"):
                    u, v, w = p[eye] @ tip
                    np.testing.assert_allclose([u / w, v / w], tool["tip_2d"][eye], atol=1e-3)
                disparity = tool["tip_2d"]["left"][0] - tool["tip_2d"]["right"][0]
                assert disparity == pytest.approx(fx * BASELINE_M / tip[2], abs=1e-3)
                assert tool["tip_2d"]["left"][1] == pytest.approx(tool["tip_2d"]["right"][1])
                assert 0.04 < tip[2] < 0.2  # tools work 5-18 cm from the lens
                checked += 1
    assert checked >= 12


def test_shaft_axis_and_masks_agree_with_the_3d_truth(stereo_root: Path) -> None:
    manifest = json.loads((stereo_root / "manifest.json").read_text())
    k = np.array(manifest["cameras"]["left"]["k"])
    near_tips = 0
    for seq in manifest["sequences"]:
        seq_dir = stereo_root / seq["name"]
        for record in _records(stereo_root, seq["name"]):
            union = sum(cv2.imread(str(seq_dir / "ground_truth" / t["folder"] /
                                       f"frame{record['frame']:03d}.png"),
                                   cv2.IMREAD_UNCHANGED).astype(int)
                        for t in record["instruments"])
            for tool in record["instruments"]:
                axis = tool["shaft_axis"]
                assert np.linalg.norm(axis["direction"]) == pytest.approx(1.0)
                a, b, c = axis["line_2d"]
                u, v, w = k @ np.array(axis["point"])
                assert a * a + b * b == pytest.approx(1.0)
                assert abs(a * u / w + b * v / w + c) < 1e-3
                assert 0.0 <= tool["jaw_opening"] < 1.1
                if tool["tip_in_view"]["left"] and tool["jaw_opening"] < 0.15:
                    # closed jaws: some instrument covers the tip's pixel
                    x, y = np.round(tool["tip_2d"]["left"]).astype(int)
                    window = union[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]
                    assert window.any(), f"{seq['name']} {record['frame']} {tool['folder']}"
                    near_tips += 1
    assert near_tips >= 8
