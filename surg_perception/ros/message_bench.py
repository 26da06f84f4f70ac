"""The ROS end of a frame for ``surg-perception bench``: build the node's messages and
serialise them as publish does. It lives under ``ros/`` because it needs rclpy; the bench
imports it only when the message stage runs (and reports the stage skipped without ROS).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from surg_perception.ros import conversions, messages

BENCH_OUTPUTS = ("mask", "mask_color", "detections", "activity", "scene")


class MessageStage:
    """Builds a frame's outputs (:data:`BENCH_OUTPUTS`) and
    serialises each with ``rclpy.serialization.serialize_message`` (the copy publish makes)."""

    def __init__(self) -> None:
        self._messages = messages
        self._conversions = conversions
        self._serialize = serialize_message
        self._header = Header(frame_id="camera")

    def build(self, result: Any, sequence: int, latency_ms: float) -> dict[str, Any]:
        """:class:`~surg_perception.predictor.FrameResult` -> messages by output name: the
        node's own builder with every output except the overlay (it is drawn, not built)."""
        return self._messages.build_messages(self._header, result, BENCH_OUTPUTS, sequence,
                                             latency_ms)

    def serialize(self, messages: dict[str, Any]) -> int:
        """Serialise every message; returns the total bytes."""
        return sum(len(self._serialize(msg)) for msg in messages.values())

    def image_roundtrip(self, pixels: np.ndarray) -> int:
        """Build a bgr8 Image of ``pixels`` ``[H, W, 3]`` and serialise it; returns bytes."""
        msg = self._conversions.numpy_to_image(pixels, "bgr8", self._header)
        return len(self._serialize(msg))


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def message_vs_memcpy(stage: MessageStage, height: int = 1024, width: int = 1280,
                      repeats: int = 30) -> dict[str, float | None]:
    """Median ms of build + serialise of a ``height x width`` bgr8 Image vs ``np.copyto``.

    ``memcpy_ms`` copies the same bytes into a preallocated array (the floor for moving
    them); ``ratio`` = message / memcpy.
    """
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    target = np.empty_like(pixels)
    memcpy = _median_ms(lambda: np.copyto(target, pixels), repeats)
    message = _median_ms(lambda: stage.image_roundtrip(pixels), repeats)
    return {"bytes": int(pixels.nbytes), "memcpy_ms": memcpy, "message_ms": message,
            "ratio": message / memcpy if memcpy > 0 else None}
