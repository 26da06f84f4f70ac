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

from surg_perception.predictor import Predictor
from surg_perception.processing.timing import latency_stats
from surg_perception.ros import conversions, messages
from surg_perception.ros.params import OUTPUTS, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor
from surg_perception.ros.worker import PendingFrame

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


# Subscriber sets of the lazy-output comparison: every output watched (RViz with the overlay,
# a recorder) against the class mask alone (a downstream node) and the scene alone.
LAZY_SETS: dict[str, tuple[str, ...]] = {"all": OUTPUTS, "scene": ("scene",), "mask": ("mask",)}


def lazy_outputs(model: Any, spec: Any, device: Any, dtype: Any, frames: list[np.ndarray],
                 sets: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The node's frame path (:meth:`FrameProcessor.process` with ``subscribed``, then
    ``serialize_message`` of what it built) for each subscriber set, same frames, same run.

    One processor per set (own memory, shared weights), interleaved frame by frame so
    background load hits every set alike. ``frames`` are camera-sized BGR pictures.
    Returns per set: ``frame_ms`` (convert .. serialised) and ``outputs_ms`` (everything
    after the model: colour mask, overlay, build, serialise) summaries and bytes per frame,
    plus ``saving_ms`` = all - set (median per-frame time).
    """
    sets = sets or LAZY_SETS
    settings = settings_from_values({})
    processors = {name: FrameProcessor(Predictor(model, spec, device, dtype)) for name in sets}
    samples: dict[str, dict[str, list[float]]] = {
        name: {"frame_ms": [], "outputs_ms": []} for name in sets}
    sizes: dict[str, int] = {}
    for index, pixels in enumerate(frames):
        msg = conversions.numpy_to_image(pixels, "bgr8", Header(frame_id="camera"))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(index * 33_333_333, 10**9)
        for name, outputs in sets.items():
            start = time.monotonic()
            out = processors[name].process(PendingFrame(msg, False, start), settings,
                                           subscribed=outputs)
            sizes[name] = sum(len(serialize_message(m)) for m in out.messages.values())
            frame_ms = (time.monotonic() - start) * 1e3
            samples[name]["frame_ms"].append(frame_ms)
            # latency_ms: receive -> model result (convert + model), before any output
            samples[name]["outputs_ms"].append(frame_ms - out.latency_ms)
    result: dict[str, Any] = {
        "size": list(frames[0].shape[:2]), "frames": len(frames),
        "sets": {name: {"outputs": list(sets[name]), "bytes_per_frame": sizes[name],
                        **{key: latency_stats(values) for key, values in samples[name].items()}}
                 for name in sets}}
    if "all" in sets:
        ref = result["sets"]["all"]["frame_ms"]["p50"]
        for name, row in result["sets"].items():
            row["saving_ms"] = ref - row["frame_ms"]["p50"]
    return result

