"""process-bag in stereo: left + right images + camera_info of a real bag -> ~/instruments.

The bag is written by the project's own :class:`BagWriter` (mcap) from a synthetic stereo
sequence rendered as ``surg-perception synth --stereo`` renders it: both eyes' images, the
right eye 3 ms later than the left, both camera_info topics, and at the end two left frames
whose right eye stopped. The network is an ORACLE (``test/ros/instruments_oracle.py``: the
real Predictor, whose injected network returns the frame's ground-truth logits), put in
place of the checkpoint's by ``offline.load_predictor``: the pairing, both eyes' predictors,
instances, tracks, triangulation and messages are the node's own code.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.storage import BagReader, BagWriter
from surg_perception.errors import ConfigError

from support.stereo_frames import render_stereo

pytest.importorskip("rclpy", reason="process-bag builds the node's messages with rclpy")
from surg_perception.ros import offline, pipeline  # noqa: E402
from surg_perception.ros.process_bag import process_bag  # noqa: E402

SIZE = (256, 320)  # H, W: the conftest oracle_checkpoint's input size
PAIRS, MONO = 12, 2
SEED, INDEX = 7, 3  # three instruments, all in both views most of the time
T0, PERIOD, SKEW = 1_700_000_000 * 10**9, 33_333_333, 3_000_000  # ns
LEFT, RIGHT = "/jhu_daVinci/left/image_raw", "/jhu_daVinci/right/image_raw"
INFOS = ("/jhu_daVinci/left/camera_info", "/jhu_daVinci/right/camera_info")
INSTRUMENTS = "/apmtl_node/instruments"
MEDIAN_3D_MM = 6.0  # no part head: the tip is the mask end (3.3 mm over DDS, same frames)


def _camera_info(record: dict, header) -> object:
    types = ts.typestore().types
    return types["sensor_msgs/msg/CameraInfo"](
        header=header, height=record["height"], width=record["width"],
        distortion_model=record["distortion_model"], d=np.array(record["d"], np.float64),
        k=np.ravel(record["k"]).astype(np.float64), r=np.ravel(record["r"]).astype(np.float64),
        p=np.ravel(record["p"]).astype(np.float64), binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                      width=0, do_rectify=False))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """The rendered frames (both eyes), type masks for the oracle, truth, and two bags."""
    height, width = SIZE
    frames = render_stereo(SEED, INDEX, PAIRS + MONO, width, height)
    root = tmp_path_factory.mktemp("stereo-bag")
    npz = frames.save_oracle_npz(root / "frames.npz")
    eyes = (frames.left, frames.right)
    for name, with_info in (("stereo.mcap", True), ("no_info.mcap", False)):
        _write_bag(root / name, eyes, frames.infos if with_info else None)
    return {"root": root, "truth": frames.truth, "npz": npz}


def _write_bag(path, eyes, infos) -> None:
    with BagWriter(path) as writer:
        for t, left in enumerate(eyes[0]):
            stamp = T0 + t * PERIOD
            header = ts.header(stamp, "jhu_daVinci_left")
            if infos:
                writer.write_msg(INFOS[0], "sensor_msgs/msg/CameraInfo", stamp,
                                 _camera_info(infos[0], header))
            writer.write_msg(LEFT, ts.IMAGE, stamp, ts.image_msg(left, "rgb8", header))
            if t < PAIRS:  # then the right eye stops
                right = ts.header(stamp + SKEW, "jhu_daVinci_right")
                if infos:
                    writer.write_msg(INFOS[1], "sensor_msgs/msg/CameraInfo", stamp + SKEW,
                                     _camera_info(infos[1], right))
                writer.write_msg(RIGHT, ts.IMAGE, stamp + SKEW,
                                 ts.image_msg(eyes[1][t], "rgb8", right))


@pytest.fixture()
def oracle(sequence, monkeypatch, repo_root):
    """``offline.load_predictor`` returns the oracle predictor (as the oracle node does)."""
    file = repo_root / "test" / "ros" / "instruments_oracle.py"
    spec = importlib.util.spec_from_file_location("instruments_oracle", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from surg_perception.predictor import Predictor

    def load(settings):
        real = pipeline.load_predictor(settings)
        network = module.OracleNetwork(str(sequence["npz"]), len(real.spec.model.seg_classes))
        return Predictor(real.model, real.spec, real.device, network=network)

    monkeypatch.setattr(offline, "load_predictor", load)


def _arrays(bag):
    with BagReader(bag) as reader:
        return [(m.timestamp, ts.deserialize(m.raw, m.msgtype))
                for m in reader.messages([INSTRUMENTS])]


def _errors_mm(arrays, truth) -> tuple[list[float], dict[str, set[int]]]:
    """3D tip errors of the estimates nearest each true 2D tip (same class), and ids."""
    errors, ids = [], {}
    for (_, array), record in zip(arrays, truth):
        for gt in record["instruments"]:
            near = [(np.hypot(i.tip_2d.x - gt["tip_2d"]["left"][0],
                              i.tip_2d.y - gt["tip_2d"]["left"][1]), k)
                    for k, i in enumerate(array.instruments) if i.class_id == gt["type_id"]]
            if not near or min(near)[0] > 40.0:
                continue
            est = array.instruments[min(near)[1]]
            ids.setdefault(gt["folder"], set()).add(est.track_id)
            if est.tip_3d_valid and gt["tip_in_view"]["left"] and gt["tip_in_view"]["right"]:
                tip = np.array([est.tip_3d.x, est.tip_3d.y, est.tip_3d.z])
                errors.append(1e3 * float(np.linalg.norm(tip - gt["tip_3d"])))
    return errors, ids


def test_stereo_bag_gives_3d_tips_stable_ids_and_mono_after_the_right_stops(
        sequence, oracle_checkpoint, oracle, tmp_path):
    out = tmp_path / "out.mcap"
    result = process_bag(sequence["root"] / "stereo.mcap", out, oracle_checkpoint, progress=False,
                         right_topic=RIGHT)
    assert result["frames"] == PAIRS + MONO
    assert result["stereo"] == {"right_topic": RIGHT, "camera_info": sorted(INFOS),
                                "stereo_frames": PAIRS, "mono_frames": MONO, "given_up": 0,
                                "rig": True, "warnings": []}
    arrays = _arrays(out)
    # one array per LEFT frame, at its bag time and with its header
    assert [t for t, _ in arrays] == [T0 + t * PERIOD for t in range(PAIRS + MONO)]
    assert all(ts.stamp_ns(a.header) == t and a.header.frame_id == "jhu_daVinci_left"
               for t, a in arrays)
    for _, array in arrays[:PAIRS]:
        assert array.stereo and array.stereo_skew_s == pytest.approx(SKEW / 1e9, abs=1e-6)
    for _, array in arrays[PAIRS:]:
        assert not array.stereo and array.instruments
        assert all(i.tip_3d_reason == "mono" for i in array.instruments)
    errors, ids = _errors_mm(arrays[:PAIRS], sequence["truth"])
    print(f"3D tip error offline: median {np.median(errors):.2f} mm (n={len(errors)}); {ids}")
    assert len(errors) >= 0.8 * sum(len(r["instruments"]) for r in sequence["truth"][:PAIRS])
    assert np.median(errors) <= MEDIAN_3D_MM
    assert len(ids) == 3 and all(len(v) == 1 for v in ids.values()), ids  # no id switch
    with BagReader(out) as reader:  # the node's other outputs are there too
        assert reader.counts["/apmtl_node/scene"] == PAIRS + MONO


def test_without_camera_info_the_pairs_run_without_3d(sequence, oracle_checkpoint, oracle,
                                                       tmp_path):
    result = process_bag(sequence["root"] / "no_info.mcap", tmp_path / "out", oracle_checkpoint,
                         progress=False, right_topic=RIGHT)
    assert result["frames"] == PAIRS + MONO and not result["stereo"]["rig"]
    assert "no camera_info topics" in result["stereo"]["warnings"][0]
    arrays = _arrays(tmp_path / "out")
    assert len(arrays) == PAIRS + MONO and not any(a.stereo for _, a in arrays)
    assert not any(i.tip_3d_valid for _, a in arrays for i in a.instruments)


def test_stereo_needs_one_left_topic(sequence, oracle_checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="exactly one left image topic"):
        process_bag(sequence["root"] / "stereo.mcap", tmp_path / "out", oracle_checkpoint,
                    progress=False, right_topic="/jhu_daVinci/left/image_raw",
                    topics=[LEFT])
