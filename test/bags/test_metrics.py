"""Bag metrics: ground truth paired with itself scores perfectly; a shifted box does not."""

import numpy as np
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.convert import detections
from surg_perception.bags.metrics import BagMetrics
from surg_perception.bags.storage import BagReader
from surg_perception.topics import ground_truth_topics

CAMERA = "/jhu_daVinci/left/image_raw"
OUT_NS = "/apmtl_node/"


def _truth_messages(bag):
    topics = ground_truth_topics(CAMERA)
    with BagReader(bag) as reader:
        return [m for m in reader.messages(set(topics.values())) if m.topic in reader.topics]


def _metrics(bag, num_classes=8):
    with BagReader(bag) as reader:
        return BagMetrics(reader, [CAMERA], {CAMERA: ground_truth_topics(CAMERA)}, num_classes)


def test_ground_truth_as_output_scores_one_on_every_task(synth_bag):
    metrics = _metrics(synth_bag)
    for message in _truth_messages(synth_bag):
        metrics.add_truth(message)
        kind = message.topic.rsplit("/", 1)[-1]
        metrics.add_output(CAMERA, OUT_NS + kind, message.msgtype, message.raw)
    report = metrics.report()
    assert report["segmentation_frames"] == 4 and report["detection_frames"] == 4
    assert report["mean_iou"] == 1.0 and report["pixel_accuracy"] == 1.0
    assert report["map50"] == pytest.approx(1.0)
    assert report["activity_frames"] == 4 and report["activity_accuracy"] == 1.0


def test_boxes_moved_off_their_objects_give_zero_map(synth_bag):
    metrics = _metrics(synth_bag)
    for message in _truth_messages(synth_bag):
        metrics.add_truth(message)
        if message.msgtype != ts.DETECTIONS:
            continue
        truth = ts.deserialize(message.raw, message.msgtype)
        boxes = np.array([[0.0, 0.0, 1.0, 1.0]] * len(truth.detections))  # 1 px, top-left
        labels = np.array([int(d.results[0].hypothesis.class_id) for d in truth.detections])
        moved = detections(truth.header, boxes, labels)
        metrics.add_output(CAMERA, OUT_NS + "detections", ts.DETECTIONS,
                           ts.serialize(moved, ts.DETECTIONS))
    report = metrics.report()
    assert report["detection_frames"] == 4 and report["map50"] == 0.0
    assert "segmentation_frames" in report and "mean_iou" not in report  # no mask output


def test_no_ground_truth_gives_an_empty_report(synth_bag):
    with BagReader(synth_bag) as reader:
        metrics = BagMetrics(reader, [CAMERA], {CAMERA: {"mask": "/none"}}, 8)
    assert metrics.report() == {} and metrics.truth_topics == set()
