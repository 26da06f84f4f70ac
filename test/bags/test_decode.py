"""The one reader of result messages: highest hypothesis, empty results, masks."""

import numpy as np
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.convert import detections
from surg_perception.bags.decode import detections_from_message, top_activity
from surg_perception.errors import ImageFormatError
from surg_perception.image_msgs import mask_to_numpy


def _hypothesis(class_id: str, score: float):
    types = ts.typestore().types
    with_pose = detections(ts.header(0, "f"), np.zeros((1, 4)), np.ones(1)).detections[0]
    with_pose.results[0].hypothesis = types["vision_msgs/msg/ObjectHypothesis"](
        class_id=class_id, score=score)
    return with_pose.results[0]


def test_the_highest_hypothesis_wins_whatever_its_position():
    msg = detections(ts.header(0, "f"), np.array([[10.0, 20.0, 30.0, 60.0]] * 3),
                     np.array([1, 2, 3]), np.array([0.9, 0.8, 0.7]))
    msg.detections[0].results = [_hypothesis("2", 0.2), _hypothesis("5", 0.6)]
    msg.detections[1].results = []
    boxes, scores, labels = detections_from_message(ts.deserialize(
        ts.serialize(msg, ts.DETECTIONS), ts.DETECTIONS))
    np.testing.assert_allclose(boxes[0], [10.0, 20.0, 30.0, 60.0])
    assert labels.tolist() == [5, 0, 3]  # empty results: kept, background id, score 0
    np.testing.assert_allclose(scores, [0.6, 0.0, 0.7], rtol=1e-6)


def test_top_activity_and_masks():
    types = ts.typestore().types
    results = [types["vision_msgs/msg/ObjectHypothesis"](class_id=str(i), score=s)
               for i, s in enumerate([0.1, 0.7, 0.2])]
    assert top_activity(types[ts.CLASSIFICATION](header=ts.header(0, "f"),
                                                 results=results)) == 1
    assert top_activity(types[ts.CLASSIFICATION](header=ts.header(0, "f"), results=[])) is None
    ids = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (mask_to_numpy(ts.image_msg(ids, "mono8", ts.header(0, "f"))) == ids).all()
    with pytest.raises(ImageFormatError, match="mono8"):
        mask_to_numpy(ts.image_msg(np.zeros((3, 4, 3), np.uint8), "rgb8", ts.header(0, "f")))
