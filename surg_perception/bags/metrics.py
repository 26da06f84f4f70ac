"""Scores of a processed bag against the ground truth recorded in the input bag.

``endovis2bag`` writes ground truth with the frame's header; ``process-bag`` writes outputs
with the same header. Both sides are paired by (camera, header stamp) as they stream past,
so nothing but a running confusion matrix and counters is kept in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from surg_perception.bags import typestore as ts
from surg_perception.bags.storage import BagMessage, BagReader


class BagMetrics:
    """Segmentation confusion matrix and activity accuracy, accumulated frame by frame.

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
        for camera in cameras:
            for kind, topic in truth_topics[camera].items():
                if topic in reader.topics and kind in ("mask", "activity"):
                    self._camera_of[topic] = (camera, kind)
        self.truth_topics = set(self._camera_of)
        self._pending: dict[tuple[str, str, int, str], Any] = {}
        self._confusion = np.zeros((num_classes, num_classes), np.int64)
        self._frames = 0
        self._activity = [0, 0]  # correct, total

    def add_truth(self, message: BagMessage) -> None:
        """A ground-truth message of the input bag."""
        if message.topic not in self._camera_of:
            return
        camera, kind = self._camera_of[message.topic]
        msg = ts.deserialize(message.raw, message.msgtype)
        self._pair(camera, kind, ts.stamp_ns(msg.header), "truth", msg)

    def add_output(self, camera: str, topic: str, msgtype: str, raw: bytes) -> None:
        """An output message written for ``camera``'s frame."""
        if not self.truth_topics:
            return
        kind = topic.rsplit("/", 1)[-1]
        if kind in ("mask", "activity"):
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
            self._add_masks(_mask(truth), _mask(output))
        else:
            self._add_activity(truth, output)

    def _add_masks(self, truth: np.ndarray, pred: np.ndarray) -> None:
        size = max(self._confusion.shape[0], int(truth.max()) + 1, int(pred.max()) + 1)
        if size > self._confusion.shape[0]:
            grown = np.zeros((size, size), np.int64)
            grown[: self._confusion.shape[0], : self._confusion.shape[1]] = self._confusion
            self._confusion = grown
        pairs = truth.astype(np.int64).ravel() * size + pred.astype(np.int64).ravel()
        self._confusion += np.bincount(pairs, minlength=size * size).reshape(size, size)
        self._frames += 1

    def _add_activity(self, truth: Any, output: Any) -> None:
        if not truth.results or not output.results:
            return
        best = max(output.results, key=lambda r: r.score)
        self._activity[0] += int(best.class_id == truth.results[0].class_id)
        self._activity[1] += 1

    def report(self) -> dict[str, Any]:
        """``{}`` without ground truth; else frame counts, pixel accuracy, per-class and mean IoU
        (classes absent from both truth and prediction are left out) and activity accuracy."""
        if not self._frames and not self._activity[1]:
            return {}
        report: dict[str, Any] = {"segmentation_frames": self._frames}
        if self._frames:
            confusion = self._confusion
            inter = np.diag(confusion)
            union = confusion.sum(0) + confusion.sum(1) - inter
            seen = union > 0
            iou = inter[seen] / union[seen]
            report["pixel_accuracy"] = round(float(inter.sum() / confusion.sum()), 6)
            report["iou_per_class"] = {int(c): round(float(v), 6)
                                       for c, v in zip(np.flatnonzero(seen), iou)}
            report["mean_iou"] = round(float(iou.mean()), 6)
        if self._activity[1]:
            report["activity_frames"] = self._activity[1]
            report["activity_accuracy"] = round(self._activity[0] / self._activity[1], 6)
        return report


def _mask(msg: Any) -> np.ndarray:
    """mono8 Image (rosbags) -> [H, W] uint8, honouring row padding."""
    rows = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)
    return rows[:, : msg.width]
