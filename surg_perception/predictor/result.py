"""What one frame's step hands back: host arrays in camera pixels, stage times, memory."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """One frame's predictions on the host, in camera pixels.

    Attributes:
        mask: ``[H, W]`` uint8 segmentation class ids (box-filled when enabled).
        color_mask: ``[H, W, 3]`` uint8 BGR rendering of ``mask``, or None if not requested.
        boxes: ``[N, 4]`` float32 xyxy camera pixels, best first.
        scores: ``[N]`` float32.
        labels: ``[N]`` int64 in ``1..K``; the class name is ``det_classes[label - 1]``.
        activity_probs: ``[A]`` float32 summing to 1, or None without an activity head.
        timings_ms: stage -> ms: ``host_to_device``, ``preprocess``, ``network`` (the memory
            runs inside the network's forward, so its time is included there),
            ``postprocess`` (decoding, box-fill, colouring), ``device_to_host``, ``total``;
            streams stepped as one batch (:func:`step_streams`) all report the batch's.
        memory: ``local_size``, ``global_size`` (entries held after this frame) and
            ``reset`` (True when this frame started from an empty memory).
        part_mask: ``[H, W]`` uint8 part ids (``part_classes[id]``: EndoVis 2017's 0
            background, 1 shaft, 2 wrist, 3 claspers), or None without a part head (or a
            network step whose output has no ``part_logits``). Not box-filled or typed.
    """

    mask: np.ndarray
    color_mask: np.ndarray | None
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    activity_probs: np.ndarray | None
    timings_ms: dict[str, float]
    memory: dict[str, Any]
    part_mask: np.ndarray | None = None
