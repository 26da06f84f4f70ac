"""Scores of a processed bag against the ground truth recorded in the input bag.

``endovis2bag`` writes ground truth with the frame's header; ``process-bag`` writes outputs
with the same header. Both sides are paired by (camera, header stamp) as they stream past;
what is kept is a running confusion matrix, the activity ids and torchmetrics' detection
state. The scores themselves come from :mod:`surg_perception.evaluation.metrics`, the same
code as ``surg-perception evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import Any

import numpy as np

from surg_perception.bags import typestore as ts
from surg_perception.bags.decode import detections_from_message, top_activity
from surg_perception.bags.storage import BagMessage, BagReader
from surg_perception.evaluation.metrics import (
    DetectionMAP,
    activity_scores,
    class_scores,
    confusion,
    pixel_accuracy,
)
from surg_perception.image_msgs import mask_to_numpy

KINDS = ("mask", "detections", "activity")  # ground-truth topic kinds that are scored


class BagMetrics:
    """Segmentation confusion, detections (mAP@0.5) and activity, accumulated frame by frame.

    Args:
        reader: the input bag (to know which ground-truth topics exist).
        cameras: processed image topics.
        truth_topics: camera -> ``{"mask", "detections", "activity"}`` ground-truth topics.
        num_classes: segmentation classes of the model (ground-truth ids above are counted
            as their own classes, so a vocabulary mismatch lowers the score visibly).
    """

    def __init__(self, reader: BagReader, cameras: Sequence[str],
                 truth_topics: Mapping[str, Mapping[str, str]], num_classes: int) -> None:
        self._camera_of: dict[str, tuple[str, str]] = {}
        self._kinds: dict[str, set[str]] = {camera: set() for camera in cameras}
        for camera in cameras:
            for kind, topic in truth_topics[camera].items():
                if topic in reader.topics and kind in KINDS:
                    self._camera_of[topic] = (camera, kind)
                    self._kinds[camera].add(kind)
        self.truth_topics = set(self._camera_of)
        self._pending: dict[tuple[str, str, int, str], Any] = {}
        self._confusion = np.zeros((num_classes, num_classes), np.int64)
        self._frames = 0
        self._detection = DetectionMAP()
        self._activity: tuple[list[int], list[int]] = ([], [])  # predicted, true class ids

    def add_truth(self, message: BagMessage) -> None:
        """A ground-truth message of the input bag."""
        if message.topic not in self._camera_of:
            return
        camera, kind = self._camera_of[message.topic]
        msg = ts.deserialize(message.raw, message.msgtype)
        self._pair(camera, kind, ts.stamp_ns(msg.header), "truth", msg)

    def add_output(self, camera: str, topic: str, msgtype: str, raw: bytes) -> None:
        """An output message written for ``camera``'s frame."""
        kind = topic.rsplit("/", 1)[-1]
        if kind in self._kinds.get(camera, ()):  # outputs without ground truth are not kept
            msg = ts.deserialize(raw, msgtype)
            self._pair(camera, kind, ts.stamp_ns(msg.header), "output", msg)

    def _pair(self, camera: str, kind: str, stamp: int, side: str, msg: Any) -> None:
        other = "output" if side == "truth" else "truth"
        match = self._pending.pop((camera, kind, stamp, other), None)
        if match is None:
            self._pending[(camera, kind, stamp, side)] = msg
            return
        truth, output = (msg, match) if side == "truth" else (match, msg)
        if kind == "mask":
            self._add_masks(mask_to_numpy(truth), mask_to_numpy(output))
        elif kind == "detections":
            boxes, scores, labels = detections_from_message(output)
            gt_boxes, _, gt_labels = detections_from_message(truth)
            self._detection.update(boxes, scores, labels, gt_boxes, gt_labels)
        else:
            self._add_activity(truth, output)

    def _add_masks(self, truth: np.ndarray, pred: np.ndarray) -> None:
        size = max(self._confusion.shape[0], int(truth.max()) + 1, int(pred.max()) + 1)
        if size > self._confusion.shape[0]:
            grown = np.zeros((size, size), np.int64)
            grown[: self._confusion.shape[0], : self._confusion.shape[1]] = self._confusion
            self._confusion = grown
        self._confusion += confusion(pred, truth, size)
        self._frames += 1

    def _add_activity(self, truth: Any, output: Any) -> None:
        pred, true = top_activity(output), top_activity(truth)
        if pred is None or true is None:
            return
        self._activity[0].append(pred)
        self._activity[1].append(true)

    def report(self) -> dict[str, Any]:
        """``{}`` without ground truth; else frame counts, pixel accuracy, per-class and mean IoU
        (classes absent from both truth and prediction are left out), mAP@0.5 (when the
        ground truth has boxes) and activity accuracy / macro F1."""
        report: dict[str, Any] = {}
        if self._frames:
            _, iou, present = class_scores(self._confusion)
            report["pixel_accuracy"] = round(pixel_accuracy(self._confusion), 6)
            report["iou_per_class"] = {int(c): round(float(iou[c]), 6)
                                       for c in np.flatnonzero(present)}
            report["mean_iou"] = round(float(iou[present].mean()), 6)
        map50 = self._detection.compute()
        if not math.isnan(map50):  # NaN: no ground-truth box in the bag
            report["detection_frames"] = self._detection.frames
            report["map50"] = round(map50, 6)
        pred, true = self._activity
        if true:
            # At least 2 classes: torchmetrics refuses 1 (a bag whose every frame is Idle).
            scores = activity_scores(pred, true, max(2, max(pred + true) + 1))
            report["activity_frames"] = len(true)
            report.update({k: round(v, 6) for k, v in scores.items()})
        return {"segmentation_frames": self._frames, **report} if report else {}

