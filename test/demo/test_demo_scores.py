"""The demo's scoring path: SurgicalScene bytes in a bag -> predictions paired by stamp -> scores.

The scenes are built by the node's own message builder (``ros/messages.scene_msg``) from the
ground truth, serialised by rclpy as on the wire, and written to a bag as the recorder does;
the demo must then score them 1.0, skip the frame it "dropped" and ignore a foreign stamp.
"""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")

from rclpy.serialization import serialize_message  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from surg_perception.bags.storage import BagWriter  # noqa: E402
from surg_perception.bags.typestore import SCENE  # noqa: E402
from surg_perception.config import load_spec  # noqa: E402
from surg_perception.demo import recipe  # noqa: E402
from surg_perception.demo import summary as demo_summary  # noqa: E402
from surg_perception.predictor import FrameResult  # noqa: E402
from surg_perception.ros import demo_live as demo  # noqa: E402
from surg_perception.ros.messages import scene_msg  # noqa: E402

FPS, T0 = 15.0, 1_700_000_000_000_000_000


def _header(stamp: int) -> Header:
    header = Header(frame_id=demo.FRAME_ID)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    return header


def _truth_as_result(truth, num_activities: int) -> FrameResult:
    probs = np.full(num_activities, 0.1 / (num_activities - 1), np.float32)
    probs[truth.activity] = 0.9
    return FrameResult(truth.mask, None, truth.boxes, np.ones(len(truth.labels), np.float32),
                       truth.labels, probs, {"network": 1.0}, {})


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_config_path):
    root = tmp_path_factory.mktemp("demo-scores")
    spec = load_spec(tiny_config_path)
    video = recipe.synth_data(root, "video", 1, 5, (160, 128), 7)
    truths = recipe.load_video(video, spec)
    return root, spec, truths


def _write_bag(path, truths, stamps, num_activities, skip=()):
    """Scenes in the given order; the bag time is the receive time, as the recorder writes."""
    received = T0 + 10**9
    with BagWriter(path) as writer:
        for i, (truth, stamp) in enumerate(zip(truths, stamps)):
            if i in skip:
                continue
            msg = scene_msg(_header(stamp), _truth_as_result(truth, num_activities), i, 5.0)
            writer.write(demo.SCENE_TOPIC, SCENE, received + i, serialize_message(msg))
        # a scene of a frame the demo never sent (another publisher): not paired, not scored
        foreign = scene_msg(_header(T0 - 1), _truth_as_result(truths[0], num_activities), 9, 5.0)
        writer.write(demo.SCENE_TOPIC, SCENE, received + 100, serialize_message(foreign))


def test_ground_truth_published_scores_one_and_dropped_frames_are_skipped(setup):
    root, spec, truths = setup
    assert len(truths) == 5 and truths[0].image.shape == (128, 160, 3)
    stamps = [demo.frame_stamp(T0, i, FPS) for i in range(len(truths))]
    num_activities = len(spec.model.activity_classes)
    _write_bag(root / "bag", truths, stamps, num_activities, skip={2})

    scenes = demo_summary.recorded_scenes(root / "bag", demo.SCENE_TOPIC)
    assert len(scenes) == 5  # 4 paired + 1 foreign
    predictions = demo_summary.stream_predictions(scenes, stamps)
    assert predictions[2] is None and all(p is not None for i, p in enumerate(predictions)
                                          if i != 2)
    np.testing.assert_array_equal(predictions[3].mask, truths[3].mask)
    np.testing.assert_allclose(predictions[3].boxes, truths[3].boxes)
    np.testing.assert_array_equal(predictions[3].labels, truths[3].labels)

    scores = demo_summary.score_video(scenes, stamps, truths, spec.model)
    assert (scores["frames"], scores["frames_scored"], scores["frames_dropped"]) == (5, 4, 1)
    for key in ("binary_dice", "type_dice", "type_iou", "map50", "activity_accuracy"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["protocol"]["challenge_iou"] == pytest.approx(1.0)


def test_stamps_pair_frames_not_arrival_order(setup):
    root, spec, truths = setup
    stamps = [demo.frame_stamp(T0, i, FPS) for i in range(len(truths))]
    num_activities = len(spec.model.activity_classes)
    # the recorder receives (and writes) the scenes last frame first
    order = list(reversed(range(len(truths))))
    _write_bag(root / "reversed", [truths[i] for i in order], [stamps[i] for i in order],
               num_activities)
    scenes = demo_summary.recorded_scenes(root / "reversed", demo.SCENE_TOPIC)
    assert scenes[0].sequence == 0 and scenes[0].header.stamp.nanosec == stamps[-1] % 10**9
    predictions = demo_summary.stream_predictions(scenes, stamps)
    for prediction, truth in zip(predictions, truths):
        np.testing.assert_array_equal(prediction.mask, truth.mask)
    scores = demo_summary.score_video(scenes, stamps, truths, spec.model)
    assert scores["frames_scored"] == 5 and scores["binary_dice"] == pytest.approx(1.0)
