"""Pure builders: one frame's :class:`FrameResult` -> ROS messages (shared with the bag tools).

Class ids (one convention for every head, documented in the README of the node):
- ``ObjectHypothesis.class_id`` is the class's NUMERIC id written as a decimal string, and the
  matching ``LabelInfo`` maps that id to its name: ``VisionClass(class_id=int(id),
  class_name=...)``. This is vision_msgs' own design (``class_id`` is a key into the label
  metadata), survives renaming a class, and is the same rule for all three heads.
- detection: ids ``1..K`` (the predictor's labels; ``det_classes[id - 1]``), 0 is background
  and never published;
- segmentation: mask values ``0..S-1`` (``seg_classes[id]``, 0 = background);
- activity: ``0..A-1`` (``activity_classes[id]``), every class listed in index order;
- parts (``~/part_mask``, a part head only): mask values ``0..P-1`` (``part_classes[id]``:
  0 background, 1 shaft, 2 wrist, 3 claspers), named by the ``parts`` LabelInfo.

Every message carries the source image header unchanged (stamp AND frame_id).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from vision_msgs.msg import (
    BoundingBox2D,
    Classification,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    VisionClass,
)

from surg_perception.msg import SurgicalScene
from surg_perception.ros.conversions import mask_to_image, numpy_to_image
from surg_perception.ros.image_msgs import serialize_image

DIAGNOSTIC_LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN,
                     "error": DiagnosticStatus.ERROR, "stale": DiagnosticStatus.STALE}


def detections_msg(header: Any, boxes: np.ndarray, scores: np.ndarray,
                   labels: np.ndarray) -> Detection2DArray:
    """Boxes ``[N, 4]`` xyxy camera pixels, scores ``[N]``, labels ``[N]`` in ``1..K``.

    Boxes become centre + size in the same pixels; ``Detection2D.id`` (a tracking id) stays
    empty because the model does not track.
    """
    array = Detection2DArray(header=header)
    for (x0, y0, x1, y1), score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
        bbox = BoundingBox2D(size_x=x1 - x0, size_y=y1 - y0)
        bbox.center.position.x = (x0 + x1) / 2.0
        bbox.center.position.y = (y0 + y1) / 2.0
        hypothesis = ObjectHypothesisWithPose(
            hypothesis=ObjectHypothesis(class_id=str(int(label)), score=float(score)))
        array.detections.append(Detection2D(header=header, bbox=bbox, results=[hypothesis]))
    return array


def classification_msg(header: Any, probs: np.ndarray | None) -> Classification:
    """Activity probabilities ``[A]`` -> every class with its probability, in index order.

    ``probs=None`` (no activity head) gives an empty result list.
    """
    msg = Classification(header=header)
    if probs is not None:
        msg.results = [ObjectHypothesis(class_id=str(i), score=float(p))
                       for i, p in enumerate(probs.tolist())]
    return msg


def label_info_msg(header: Any, class_names: Sequence[str], first_id: int = 0,
                   threshold: float = 0.0) -> LabelInfo:
    """``VisionClass(first_id + i, class_names[i])`` for each name (detection: first_id=1)."""
    class_map = [VisionClass(class_id=first_id + i, class_name=name)
                 for i, name in enumerate(class_names)]
    return LabelInfo(header=header, class_map=class_map, threshold=float(threshold))


def label_infos(header: Any, seg_classes: Sequence[str], det_classes: Sequence[str],
                activity_classes: Sequence[str], score_threshold: float,
                part_classes: Sequence[str] = ()) -> dict[str, LabelInfo]:
    """LabelInfo per head: ``{"segmentation", "detection", "activity", "parts"}`` (empty
    heads omitted)."""
    infos = {"segmentation": label_info_msg(header, seg_classes)}
    if det_classes:
        infos["detection"] = label_info_msg(header, det_classes, 1, score_threshold)
    if activity_classes:
        infos["activity"] = label_info_msg(header, activity_classes)
    if part_classes:
        infos["parts"] = label_info_msg(header, part_classes)
    return infos


def scene_msg(header: Any, result: Any, sequence: int, latency_ms: float,
              reset_reason: str = "", *, mask: Image | None = None,
              detections: Detection2DArray | None = None,
              activity: Classification | None = None) -> SurgicalScene:
    """All outputs of one frame in one message (see ``msg/SurgicalScene.msg``).

    ``result`` is a :class:`~surg_perception.predictor.FrameResult`; ``memory_reset`` is the
    predictor's own flag, and ``reset_reason`` says why (empty when not reset). ``mask``,
    ``detections`` and ``activity`` are the frame's already-built messages (built here from
    ``result`` when None), so a frame's full-size mask is copied into a message once.
    """
    memory = result.memory
    reset = bool(memory.get("reset", False))
    if mask is None:
        mask = mask_to_image(result.mask, header)
    if detections is None:
        detections = detections_msg(header, result.boxes, result.scores, result.labels)
    if activity is None:
        activity = classification_msg(header, result.activity_probs)
    return SurgicalScene(
        header=header,
        sequence=int(sequence),
        mask=mask,
        detections=detections,
        activity=activity,
        latency_ms=float(latency_ms),
        inference_ms=float(result.timings_ms.get("network", 0.0)),
        local_memory_size=int(memory.get("local_size", 0)),
        global_memory_size=int(memory.get("global_size", 0)),
        memory_reset=reset,
        memory_reset_reason=(reset_reason or "reset") if reset else "",
    )


def build_messages(header: Any, result: Any, outputs: Collection[str], sequence: int,
                   latency_ms: float, reset_reason: str = "", overlay: np.ndarray | None = None,
                   has_detection: bool = True) -> dict[str, Any]:
    """One frame's messages by output name, each part built once (the scene reuses them).

    ``outputs`` names the wanted outputs (``mask``, ``part_mask``, ``mask_color``,
    ``overlay``, ``detections``, ``activity``, ``scene``). ``part_mask`` needs
    ``result.part_mask`` (a part head; the scene does not carry it), ``mask_color``
    ``result.color_mask`` and ``overlay`` the rendered BGR picture; ``activity`` is left out
    without an activity head.
    Without a detection head (EndoARSS) nothing goes to ``detections`` (the scene carries an
    empty array); the detection LabelInfo's empty class_map says why.
    """
    scene = "scene" in outputs
    want_dets = "detections" in outputs and has_detection
    want_activity = "activity" in outputs and result.activity_probs is not None
    mask = mask_to_image(result.mask, header) if scene or "mask" in outputs else None
    dets = (detections_msg(header, result.boxes, result.scores, result.labels)
            if scene or want_dets else None)
    activity = classification_msg(header, result.activity_probs) \
        if scene or want_activity else None
    out: dict[str, Any] = {}
    if "mask" in outputs:
        out["mask"] = mask
    if "part_mask" in outputs and result.part_mask is not None:
        out["part_mask"] = mask_to_image(result.part_mask, header)
    if "mask_color" in outputs and result.color_mask is not None:
        out["mask_color"] = numpy_to_image(result.color_mask, "bgr8", header)
    if "overlay" in outputs and overlay is not None:
        out["overlay"] = numpy_to_image(overlay, "bgr8", header)
    if want_dets:
        out["detections"] = dets
    if want_activity:
        out["activity"] = activity
    if scene:
        out["scene"] = scene_msg(header, result, sequence, latency_ms, reset_reason, mask=mask,
                                 detections=dets, activity=activity)
    return out


def serialize(msg: Any) -> bytes:
    """A message's CDR bytes (what a bag stores): an Image with one copy of its pixels
    (:func:`~surg_perception.ros.image_msgs.serialize_image`), anything else by rclpy."""
    if type(msg) is Image:
        return serialize_image(msg)
    return serialize_message(msg)


def diagnostics_msg(stamp: Any, name: str, stats: Mapping[str, Any], hardware_id: str = "",
                    level: str = "ok", message: str = "") -> DiagnosticArray:
    """One ``DiagnosticStatus`` whose values are ``stats`` (floats with 3 decimals).

    ``level`` is ``ok | warn | error | stale``.
    """
    values = [KeyValue(key=str(key), value=_format_value(value)) for key, value in stats.items()]
    status = DiagnosticStatus(level=DIAGNOSTIC_LEVELS[level], name=name, message=message,
                              hardware_id=hardware_id, values=values)
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def diagnostics_values(msg: DiagnosticArray, name: str | None = None) -> dict[str, str]:
    """Inverse helper for tools and tests: ``{key: value}`` of the (named) status."""
    for status in msg.status:
        if name is None or status.name == name:
            return {kv.key: kv.value for kv in status.values}
    return {}
