"""Stereo matching and triangulation on the synthetic endoscope's rectified pair."""

import cv2
import numpy as np
import pytest

from surg_perception.data.synth_camera import camera_info, make_camera
from surg_perception.errors import ConfigError
from surg_perception.instruments import (
    StereoConfig,
    StereoRig,
    extract_instances,
    match_instances,
    stereo_tips,
    triangulate,
)

W, H = 320, 256


def rig():
    cams = [make_camera(W, H, eye) for eye in ("left", "right")]
    return StereoRig.from_camera_info(*(camera_info(c, (W, H)) for c in cams)), cams


def project(cam, point):
    return tuple(cam.project(np.asarray(point) - np.array([cam.shift, 0, 0])))


def test_triangulation_recovers_points_of_the_generator():
    stereo, cams = rig()
    assert stereo.baseline_m == pytest.approx(0.005, rel=1e-5)
    for point in ([0.01, -0.005, 0.06], [-0.02, 0.01, 0.12], [0.0, 0.0, 0.3]):
        tip = triangulate(project(cams[0], point), project(cams[1], point), stereo)
        assert tip.valid and tip.reason == "ok"
        assert np.linalg.norm(np.subtract(tip.point, point)) < 1e-6
    assert triangulate((100.0, 50.0), (101.0, 50.0), stereo).reason == "disparity"
    assert triangulate(None, (1.0, 1.0), stereo).reason == "no_tip"
    far = triangulate((100.0, 50.0), (99.0, 50.0), stereo, StereoConfig(max_depth_m=10.0))
    assert far.valid is False or far.point[2] <= 10.0


def test_rectification_rotation_takes_the_point_back_to_the_optical_frame():
    stereo, cams = rig()
    r = cv2.Rodrigues(np.array([0.0, 0.05, 0.0]))[0]
    rotated = StereoRig(stereo.p_left, stereo.p_right, r)
    point = np.array([0.01, 0.0, 0.1])
    tip = triangulate(project(cams[0], point), project(cams[1], point), rotated)
    assert np.allclose(tip.point, r.T @ point, atol=1e-9)


def test_not_a_rectified_pair_is_a_config_error():
    stereo, _ = rig()
    with pytest.raises(ConfigError):
        StereoRig(stereo.p_left, stereo.p_left)  # no baseline
    with pytest.raises(ConfigError):
        StereoRig(stereo.p_left[:2], stereo.p_right)


def bars(tools):
    types = np.zeros((H, W), np.uint8)
    for cls, x, y in tools:
        cv2.line(types, (0, y), (x, y), cls, 7)
    return extract_instances(types)


def test_matching_needs_class_row_and_a_positive_disparity():
    stereo, _ = rig()
    left = bars([(1, 150, 60), (1, 200, 160), (2, 120, 220)])
    right = bars([(1, 130, 161), (1, 128, 60), (2, 130, 220)])  # class 2: negative disparity
    pairs = match_instances(left, right, stereo)
    rows = {(left[i].tip_2d[1], right[j].tip_2d[1]) for i, j in pairs}
    assert len(pairs) == 2 and all(abs(a - b) <= 1.5 for a, b in rows)
    tips = stereo_tips(left, right, stereo)
    assert [t.reason for t in tips].count("no_match") == 1
    assert all(t.point[2] > 0 for t in tips if t.valid)


def test_the_pipeline_tracks_the_left_eye_and_goes_mono_without_a_right_one():
    from surg_perception.instruments import EyeMasks, InstrumentPipeline

    stereo, _ = rig()

    def masks(x):
        types = np.zeros((H, W), np.uint8)
        cv2.line(types, (0, 100), (x, 100), 2, 7)
        return EyeMasks(types)

    pipe = InstrumentPipeline(rig=stereo)
    (a,) = pipe.step(masks(150), masks(120))
    assert a.tip_3d.valid and a.tip_3d.disparity == pytest.approx(30, abs=0.5)
    assert a.tip_3d.point[2] == pytest.approx(stereo.fx * 0.005 / a.tip_3d.disparity)
    (b,) = pipe.step(masks(152))
    assert b.track_id == a.track_id and b.age_frames == 1 and b.tip_3d.reason == "mono"
    pipe.reset()
    (c,) = pipe.step(masks(152))
    assert c.track_id == a.track_id + 1
