"""The instrument outputs without DDS: pairer, message builders, watchdog, overlay tips, and
the frame processor's stereo path (right eye through the twin predictor)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import Marker

from surg_perception.errors import ConfigError
from surg_perception.instruments import InstrumentPipeline, StereoRig
from surg_perception.instruments.frame import EyeMasks
from surg_perception.processing.overlay import render_overlay
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.instruments_out import instruments_msg, mark_stale, markers_msg
from surg_perception.ros.params import settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.stereo_input import StereoFrame, StereoPairer, rig_from_infos

FX, BASELINE = 400.0, 0.005
P_LEFT = np.array([[FX, 0, 160, 0], [0, FX, 128, 0], [0, 0, 1, 0]], np.float64)
P_RIGHT = P_LEFT.copy()
P_RIGHT[0, 3] = -FX * BASELINE


def _image(stamp_s: float, frame_id: str = "left", pixels: np.ndarray | None = None):
    msg = numpy_to_image(np.zeros((8, 8, 3), np.uint8) if pixels is None else pixels, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(round(stamp_s * 1e9), 10**9)
    msg.header.frame_id = frame_id
    return msg


def _stamps(frames):
    return [round(f.msg.header.stamp.nanosec / 1e6) for f in frames]


def test_pairer_pairs_within_slop_in_either_arrival_order():
    pairer = StereoPairer(slop_s=0.01, max_wait_s=1.0)
    pairer.put_left(_image(10.000), 0.0)
    assert pairer.release(0.01) == ([], 0)  # waits for its right image
    pairer.put_right(_image(10.004, "right"))
    (frame,), given_up = pairer.release(0.02)
    assert frame.right is not None and frame.skew_s == pytest.approx(0.004) and not given_up
    pairer.put_right(_image(10.037, "right"))  # the right first this time
    pairer.put_left(_image(10.033), 0.03)
    (frame,), _ = pairer.release(0.04)
    assert frame.skew_s == pytest.approx(0.004, abs=1e-6)


def test_pairer_goes_mono_after_the_wait_or_when_the_right_eye_stopped():
    pairer = StereoPairer(slop_s=0.01, max_wait_s=0.1)
    pairer.put_left(_image(1.0), 0.0)
    pairer.put_right(_image(1.0, "right"))
    assert pairer.release(0.0)[0][0].right is not None
    pairer.put_left(_image(1.033), 0.033)  # the right eye stops from here
    assert pairer.release(0.05) == ([], 0)  # may still come
    (frame,), _ = pairer.release(0.14)  # waited max_wait_s
    assert frame.right is None and frame.skew_s == 0.0
    pairer.put_left(_image(1.066), 0.066 + 0.1)
    # The previous left got no right at all: stopped, mono at once (no added wait).
    (frame,), _ = pairer.release(0.167)
    assert frame.right is None and _stamps([frame]) == [66]


def test_pairer_releases_a_left_whose_right_went_past_and_drops_older_waiting_ones():
    pairer = StereoPairer(slop_s=0.005, max_wait_s=1.0)
    pairer.put_left(_image(2.000), 0.0)
    pairer.put_right(_image(2.000, "right"))
    pairer.release(0.0)
    pairer.put_left(_image(2.033), 0.03)  # its right (2.033) is lost
    pairer.put_left(_image(2.066), 0.06)
    pairer.put_right(_image(2.067, "right"))
    ready, given_up = pairer.release(0.07)
    # 2.033 can pair no more (a right past its window): mono; 2.066 pairs.
    assert _stamps(ready) == [33, 66] and [f.right is not None for f in ready] == [False, True]
    assert given_up == 0
    pairer.put_left(_image(1.000), 0.1)  # a bag loop: stamps go back, pairing starts over
    pairer.put_right(_image(1.002, "right"))
    (frame,), _ = pairer.release(0.1)
    assert frame.right is not None and frame.skew_s == pytest.approx(0.002, abs=1e-6)
    with pytest.raises(ConfigError):
        StereoPairer(-1.0, 0.1)


def _info(p: np.ndarray) -> CameraInfo:
    msg = CameraInfo()
    msg.p = p.ravel().tolist()
    return msg


def test_rig_from_camera_info_messages():
    rig = rig_from_infos(_info(P_LEFT), _info(P_RIGHT))
    assert rig.baseline_m == pytest.approx(BASELINE) and rig.r_left is None  # r all zero
    with pytest.raises(ConfigError):
        rig_from_infos(_info(P_RIGHT), _info(P_LEFT))  # eyes swapped


def _bar(shape, u0, u1, v0, v1, cls=3):
    mask = np.zeros(shape, np.uint8)
    mask[v0:v1, u0:u1] = cls
    return mask


def _stereo_results():
    """A horizontal instrument 10 cm deep: disparity FX * BASELINE / 0.1 = 20 px."""
    shape = (256, 320)
    left, right = _bar(shape, 40, 200, 120, 136), _bar(shape, 20, 180, 120, 136)
    pipeline = InstrumentPipeline(rig=StereoRig(P_LEFT, P_RIGHT))
    return pipeline.step(EyeMasks(left), EyeMasks(right), stamp=1.0), pipeline.rig


def test_instrument_array_flags_and_markers():
    results, rig = _stereo_results()
    header = _image(1.0).header
    names = ("background", "a", "b", "Large Needle Driver")
    array = instruments_msg(header, results, names, lambda track: 0.5, True, 0.004)
    (inst,) = array.instruments
    assert array.header.frame_id == "left" and array.stereo and array.stereo_skew_s == 0.004
    assert inst.class_name == "Large Needle Driver" and inst.track_id == 1
    assert inst.tip_3d_valid and inst.tip_3d_reason == "ok" and inst.track_age_s == 0.5
    assert inst.tip_3d.z == pytest.approx(0.1, rel=0.05)
    assert inst.mask_area == 160 * 16 and inst.box.size_x == pytest.approx(160)
    assert abs(inst.shaft_direction.x) == pytest.approx(1.0, abs=1e-3)
    assert not inst.stale and not array.stale
    mark_stale(array, age_s=0.3, stale_after_s=0.2)
    assert array.stale and inst.stale and array.age_s == pytest.approx(0.3)
    assert not mark_stale(array, 0.3, 0.0).stale  # 0 disables the watchdog
    markers = markers_msg(header, results, rig).markers
    assert [m.action for m in markers] == [Marker.DELETEALL, Marker.ADD, Marker.ADD]
    sphere, shaft = markers[1:]
    assert sphere.type == Marker.SPHERE and shaft.type == Marker.LINE_STRIP
    assert sphere.pose.position.z == pytest.approx(inst.tip_3d.z)
    assert len(shaft.points) == 2 and shaft.points[1].z == pytest.approx(shaft.points[0].z)


def test_mono_results_are_invalid_and_get_no_markers():
    mask = _bar((256, 320), 40, 200, 120, 136)
    results = InstrumentPipeline().step(EyeMasks(mask), stamp=0.0)
    array = instruments_msg(_image(0.0).header, results, (), lambda t: 0.0, False, 0.01)
    (inst,) = array.instruments
    assert not inst.tip_3d_valid and inst.tip_3d_reason == "mono"
    assert (inst.tip_3d.x, inst.tip_3d.y, inst.tip_3d.z) == (0.0, 0.0, 0.0)
    assert not array.stereo and array.stereo_skew_s == 0.0 and inst.class_name == "3"
    assert len(markers_msg(array.header, results, None).markers) == 1  # DELETEALL only


def test_overlay_draws_a_marker_at_each_tip():
    frame = np.full((96, 128, 3), 40, np.uint8)
    drawn = render_overlay(frame, None, np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), (),
                           tips=[(30.0, 50.0)])
    assert tuple(drawn[50, 30]) == (0, 255, 255)  # the yellow dot (BGR)
    changed = np.argwhere((drawn != frame).any(axis=2))
    assert np.abs(changed - [50, 30]).max() <= 4  # small, around the tip only


def test_processor_runs_the_right_eye_through_its_own_memory(tiny_checkpoint):
    settings = settings_from_values({"model.checkpoint": str(tiny_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 0})
    processor = FrameProcessor(load_predictor(settings))
    processor.instruments.set_rig(StereoRig(P_LEFT, P_RIGHT))
    pixels = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    for k in range(2):
        left = _image(5.0 + k / 30, "left", pixels)
        right = _image(5.0 + k / 30 + 0.002, "right", pixels)
        out = processor.process(StereoFrame(left, False, time.monotonic(), right, 0.002),
                                settings)
    array = out.messages["instruments"]
    assert array.stereo and array.stereo_skew_s == pytest.approx(0.002)
    status = processor.status()
    assert status["instruments.stereo_frames"] == 2
    assert status["instruments.stereo_skew_ms.last"] == pytest.approx(2.0)
    twin = processor.instruments._right
    assert twin is not processor.predictor and twin.model is processor.predictor.model
    assert twin.memory_info() == processor.predictor.memory_info()  # two steps each
    processor.restart()
    assert twin.memory_info()["local_size"] == 0
