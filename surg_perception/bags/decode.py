"""Result messages (rosbags or rclpy objects) -> NumPy: the one reader of each for the tools.

``render``, the bag metrics and ``make demo``'s scores read the node's outputs (and the
ground truth written by ``endovis2bag``) through these functions, so they cannot disagree on
what a message says. Images and masks are read by :mod:`surg_perception.image_msgs`.

The class of a hypothesis list is its highest-scoring entry. The node writes exactly one
hypothesis per detection (``ros/messages.detections_msg``), so for its messages that is also
the first; for a foreign detector's message vision_msgs does not order ``results``, and the
highest score is the class the detector believes. A detection without any hypothesis keeps
its box with score 0 and label 0 (the background id, never a ground-truth label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def best_hypothesis(results: Sequence[Any]) -> tuple[int, float] | None:
    """``(class id, score)`` of the highest-scoring hypothesis; None for an empty list.

    Accepts ``ObjectHypothesis`` (Classification) and ``ObjectHypothesisWithPose``
    (Detection2D) entries; a class id that is not a decimal number reads as 0.
    """
    best = None
    for result in results:
        hypothesis = getattr(result, "hypothesis", result)
        if best is None or hypothesis.score > best.score:
            best = hypothesis
    if best is None:
        return None
    class_id = int(best.class_id) if best.class_id.isdigit() else 0
    return class_id, float(best.score)


def detections_from_message(msg: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection2DArray -> xyxy pixel boxes ``[N, 4]`` float32, scores ``[N]``, ids ``[N]``."""
    boxes, scores, labels = [], [], []
    for det in msg.detections:
        x, y = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        label, score = best_hypothesis(det.results) or (0, 0.0)
        scores.append(score)
        labels.append(label)
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
            np.asarray(labels, np.int64))


def activity_probs(msg: Any) -> np.ndarray | None:
    """Classification -> its scores ``[A]`` in message order (the node lists every class in
    index order); None when it has no result (a model without an activity head)."""
    if not len(msg.results):
        return None
    return np.asarray([r.score for r in msg.results], np.float32)


def top_activity(msg: Any) -> int | None:
    """Classification -> the class id of its best result; None when it has none."""
    best = best_hypothesis(msg.results)
    return None if best is None else best[0]
