"""Message builders and the overlay, with real message classes and a hand-made FrameResult."""

from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
import pytest
from std_msgs.msg import Header

from surg_perception.predictor import FrameResult
from surg_perception.processing.overlay import OverlayOptions, render_overlay
from surg_perception.ros import messages

DET = ("Bipolar Forceps", "Prograsp Forceps", "Vessel Sealer")
SEG = ("background",) + DET
ACT = ("Idle", "Grasping", "Cutting")


@pytest.fixture
def header() -> Header:
    header = Header(frame_id="left")
    header.stamp.sec, header.stamp.nanosec = 7, 500
    return header


@pytest.fixture
def result() -> FrameResult:
    mask = np.zeros((24, 32), np.uint8)
    mask[4:10, 5:15] = 2
    color = np.zeros((24, 32, 3), np.uint8)
    color[mask > 0] = (0, 255, 0)
    return FrameResult(
        mask=mask, color_mask=color,
        boxes=np.array([[5.0, 4.0, 15.0, 10.0], [0.0, 0.0, 31.0, 23.0]], np.float32),
        scores=np.array([0.9, 0.4], np.float32), labels=np.array([2, 3], np.int64),
        activity_probs=np.array([0.2, 0.7, 0.1], np.float32),
        timings_ms={"network": 3.5, "total": 5.0},
        memory={"local_size": 3, "global_size": 1, "reset": False},
    )


def test_detections_are_centre_size_in_pixels_with_numeric_class_ids(header, result):
    msg = messages.detections_msg(header, result.boxes, result.scores, result.labels)
    assert msg.header == header and len(msg.detections) == 2
    first = msg.detections[0]
    assert first.header == header
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (10.0, 7.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (10.0, 6.0)
    hyp = first.results[0].hypothesis
    assert hyp.class_id == "2" and hyp.score == pytest.approx(0.9)
    # the class id resolves to a name through the detection LabelInfo
    info = messages.label_infos(header, SEG, DET, ACT, 0.3)["detection"]
    names = {c.class_id: c.class_name for c in info.class_map}
    assert names[int(hyp.class_id)] == "Prograsp Forceps"
    assert info.threshold == pytest.approx(0.3)


def test_classification_lists_every_class_in_order(header, result):
    msg = messages.classification_msg(header, result.activity_probs)
    assert [r.class_id for r in msg.results] == ["0", "1", "2"]
    assert sum(r.score for r in msg.results) == pytest.approx(1.0)
    assert messages.classification_msg(header, None).results == []


def test_label_infos_per_head(header):
    infos = messages.label_infos(header, SEG, DET, ACT, 0.5)
    assert set(infos) == {"segmentation", "detection", "activity"}
    assert [(c.class_id, c.class_name) for c in infos["segmentation"].class_map][:2] == [
        (0, "background"), (1, "Bipolar Forceps")]
    assert infos["detection"].class_map[0].class_id == 1
    assert [c.class_name for c in infos["activity"].class_map] == list(ACT)
    assert set(messages.label_infos(header, SEG, (), (), 0.5)) == {"segmentation"}


def test_scene_carries_everything_of_the_frame(header, result):
    msg = messages.scene_msg(header, result, sequence=4, latency_ms=12.5)
    assert msg.header == header and msg.sequence == 4
    assert (msg.mask.height, msg.mask.width, msg.mask.encoding) == (24, 32, "mono8")
    assert msg.mask.header == header
    assert len(msg.detections.detections) == 2 and len(msg.activity.results) == 3
    assert msg.latency_ms == pytest.approx(12.5) and msg.inference_ms == pytest.approx(3.5)
    assert (msg.local_memory_size, msg.global_memory_size) == (3, 1)
    assert not msg.memory_reset and msg.memory_reset_reason == ""
    reset = FrameResult(**{**result.__dict__, "memory": {"reset": True}})
    msg = messages.scene_msg(header, reset, 0, 1.0, "stamp went backwards by 1.000 s")
    assert msg.memory_reset and "backwards" in msg.memory_reset_reason


def test_diagnostics_round_trip(header):
    msg = messages.diagnostics_msg(header.stamp, "/apmtl_node", {"fps": 29.97, "dropped": 3},
                                   "cpu", "warn", "processing")
    status = msg.status[0]
    assert status.level == DiagnosticStatus.WARN and status.hardware_id == "cpu"
    assert messages.diagnostics_values(msg, "/apmtl_node") == {"fps": "29.970", "dropped": "3"}
    assert messages.diagnostics_values(msg, "other") == {}


def test_overlay_blends_mask_and_draws_boxes(result):
    frame = np.full((24, 32, 3), 100, np.uint8)
    plain = render_overlay(frame, None, result.boxes[:0], result.scores[:0],
                           result.labels[:0], DET)
    assert np.array_equal(plain, frame)  # nothing to draw: the frame itself
    out = render_overlay(frame, result.color_mask, result.boxes, result.scores, result.labels,
                         DET, result.activity_probs, ACT, fps=30.0,
                         options=OverlayOptions(alpha=0.5, draw_labels=True, show_fps=True))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)
    quiet = render_overlay(frame, result.color_mask, result.boxes, result.scores, result.labels,
                           DET, options=OverlayOptions(0.5, draw_labels=False, show_fps=False))
    assert quiet[7, 8, 1] > 100 and quiet[7, 8, 0] < 100  # instrument pixel tinted green
    assert np.array_equal(quiet[15, 20], frame[15, 20])  # background pixel unchanged
    assert not np.array_equal(quiet[4, 5:15], frame[4, 5:15])  # box edge drawn
    assert np.array_equal(frame, np.full((24, 32, 3), 100, np.uint8))  # input untouched


def test_build_messages_builds_each_part_once_and_only_what_is_wanted(header, result):
    every = messages.build_messages(header, result, {"mask", "detections", "activity", "scene"},
                                    sequence=3, latency_ms=2.0)
    assert sorted(every) == ["activity", "detections", "mask", "scene"]
    scene = every["scene"]
    assert scene.mask is every["mask"] or bytes(scene.mask.data) == bytes(every["mask"].data)
    assert len(scene.detections.detections) == len(every["detections"].detections) == 2
    assert scene.sequence == 3
    # scene only: its parts are still built; without a detection head ~/detections is absent
    only = messages.build_messages(header, result, {"scene", "detections"}, 0, 1.0,
                                   has_detection=False)
    assert sorted(only) == ["scene"]
    assert np.frombuffer(bytes(only["scene"].mask.data), np.uint8).reshape(24, 32).tolist() \
        == result.mask.tolist()
