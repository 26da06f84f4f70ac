"""Scores of a live stream: what a node published for each frame against that frame's truth.

``make demo`` publishes a synthetic sequence to the node, records what the node published and
scores it here, frame by frame: one prediction per frame sent, ``None`` where the node dropped
the frame (dropped frames are not scored, only counted). The metrics are those of
``surg-perception evaluate`` (:mod:`surg_perception.evaluation.metrics` and ISINet's protocol
in :mod:`surg_perception.evaluation.protocol`), applied to the published mask as it is (the
node already applied its post-processing, box-fill included), so there is one row, not the
box-fill off/on pair of :func:`~surg_perception.evaluation.evaluate.evaluate`.

Pure NumPy in, plain numbers out: no rclpy, so it is tested without ROS.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

import numpy as np

from surg_perception.data.sample import FrameSample
from surg_perception.errors import ConfigError
from surg_perception.evaluation.metrics import (
    SEG_KEYS,
    DetectionMAP,
    activity_scores,
    nanmean,
    segmentation_scores,
)
from surg_perception.evaluation.protocol import ProtocolScores

PROTOCOL_ROW = "published"


@dataclasses.dataclass(frozen=True, eq=False)  # eq on numpy arrays would be ambiguous
class FramePrediction:
    """What the node published for one frame, in camera pixels.

    Attributes:
        mask: ``[H, W]`` uint8 segmentation class ids (0 = background).
        boxes: ``[N, 4]`` float32 xyxy pixels; ``scores`` ``[N]``; ``labels`` ``[N]`` in 1..K.
        activity: predicted activity index, or None without an activity head.
    """

    mask: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    activity: int | None = None


class StreamScores:
    """Per-frame scores of the frames added so far (see :meth:`summary`).

    Args:
        seg_classes: the model's segmentation vocabulary (index 0 = background).
        num_activities: activity classes of the model (0 without an activity head).
    """

    def __init__(self, seg_classes: Sequence[str], num_activities: int) -> None:
        if len(seg_classes) < 2:
            raise ConfigError(f"seg_classes {tuple(seg_classes)} has no instrument class; "
                              "pass the model's seg_classes (background first)")
        self.seg_classes = tuple(seg_classes)
        self.num_activities = num_activities
        self.seg: dict[str, list[float]] = {key: [] for key in SEG_KEYS}
        self.detection = DetectionMAP()
        self.protocol = ProtocolScores(self.seg_classes)
        self.activity_pred: list[int] = []
        self.activity_true: list[int] = []
        self.frames = 0

    def add(self, prediction: FramePrediction, truth: FrameSample) -> None:
        """Score one published frame against its ground truth (masks of the same size)."""
        scores = segmentation_scores(prediction.mask, truth.mask, len(self.seg_classes))
        for key in SEG_KEYS:
            self.seg[key].append(scores[key])
        self.protocol.update({PROTOCOL_ROW: prediction.mask}, truth.mask)
        self.detection.update(prediction.boxes, prediction.scores, prediction.labels,
                              truth.boxes, truth.labels)
        if prediction.activity is not None and self.num_activities > 0:
            self.activity_pred.append(int(prediction.activity))
            self.activity_true.append(int(truth.activity))
        self.frames += 1

    def summary(self) -> dict:
        """``frames_scored``, Dice/IoU (frame means), ``map50``, activity and ISINet protocol.

        NaN means "no value" (e.g. mAP without ground-truth boxes, activity without labels).
        """
        out: dict = {"frames_scored": self.frames}
        out.update({key: nanmean(values) for key, values in self.seg.items()})
        out["map50"] = self.detection.compute()
        if self.activity_pred:
            out.update(activity_scores(self.activity_pred, self.activity_true,
                                       self.num_activities))
        protocol = self.protocol.summary().get(PROTOCOL_ROW)
        if protocol is not None:
            out["protocol"] = {k: v for k, v in protocol.items() if k != "state"}
        return out


def score_stream(predictions: Sequence[FramePrediction | None], truths: Sequence[FrameSample],
                 seg_classes: Sequence[str], num_activities: int) -> dict:
    """Scores of a stream: ``predictions[i]`` is the output for ``truths[i]``, None = dropped.

    Returns:
        :meth:`StreamScores.summary` plus ``frames`` (sent) and ``frames_dropped``.
    """
    if len(predictions) != len(truths):
        raise ConfigError(f"{len(predictions)} predictions for {len(truths)} frames; pass one "
                          "entry per frame sent (None for a frame without output)")
    scores = StreamScores(seg_classes, num_activities)
    for prediction, truth in zip(predictions, truths):
        if prediction is not None:
            scores.add(prediction, truth)
    summary = scores.summary()
    return {"frames": len(truths), "frames_dropped": len(truths) - scores.frames, **summary}
