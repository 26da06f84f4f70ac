"""The ROS end of a frame for ``surg-perception bench``: build the node's messages and
serialise them (their CDR bytes, as a bag stores them). It lives under ``ros/`` because it
needs rclpy; the bench imports it only when the message stage runs (and reports the stage
skipped without ROS). ``python -m surg_perception.ros.message_bench`` prints the cost of
each copy of a camera-sized image message (BENCHMARKS.md, message stage).
"""

from __future__ import annotations

import argparse
import array
from collections.abc import Callable
import time
from typing import Any

import numpy as np
import rclpy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from surg_perception.malloc_tuning import set_malloc_tuning
from surg_perception.predictor import Predictor
from surg_perception.processing.timing import latency_stats
from surg_perception.ros import conversions, messages
from surg_perception.ros.params import OUTPUTS, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor
from surg_perception.ros.worker import PendingFrame

BENCH_OUTPUTS = ("mask", "mask_color", "detections", "activity", "scene")


class MessageStage:
    """Builds a frame's outputs (:data:`BENCH_OUTPUTS`) and serialises each with
    :func:`~surg_perception.ros.messages.serialize` (Images: one pixel copy; the rest rclpy)."""

    def __init__(self) -> None:
        self._messages = messages
        self._conversions = conversions
        self._serialize = messages.serialize
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

    def image_roundtrip_rclpy(self, pixels: np.ndarray) -> int:
        """The same through ``rclpy.serialization.serialize_message`` (three pixel copies)."""
        msg = self._conversions.numpy_to_image(pixels, "bgr8", self._header)
        return len(serialize_message(msg))


def interleaved_ms(variants: dict[str, Callable[[], Any]], repeats: int = 30,
                   block: int = 5) -> dict[str, float]:
    """Median ms per call of each variant: blocks of ``block`` back-to-back calls (after
    one untimed call), the variants' blocks taken in turn so background load on a shared
    host hits them alike; ``repeats`` timed calls per variant."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(1, repeats // block)):
        for name, fn in variants.items():
            fn()  # the block's steady state: caches and the allocator as the last call left them
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def _test_image(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return pixels, np.empty_like(pixels)


def message_vs_memcpy(stage: MessageStage, height: int = 1024, width: int = 1280,
                      repeats: int = 30) -> dict[str, float | None]:
    """Median ms of build + serialise of a ``height x width`` bgr8 Image vs ``np.copyto``.

    ``memcpy_ms`` copies the same bytes into a preallocated array (the floor for moving
    them); ``ratio`` = message / memcpy with the stage's serialiser, ``rclpy_ratio`` with
    ``serialize_message``. Measured interleaved (:func:`interleaved_ms`).
    """
    pixels, target = _test_image(height, width)
    ms = interleaved_ms({"memcpy": lambda: np.copyto(target, pixels),
                         "message": lambda: stage.image_roundtrip(pixels),
                         "rclpy": lambda: stage.image_roundtrip_rclpy(pixels)}, repeats)
    memcpy = ms["memcpy"]
    return {"bytes": int(pixels.nbytes), "memcpy_ms": memcpy, "message_ms": ms["message"],
            "ratio": ms["message"] / memcpy if memcpy > 0 else None,
            "rclpy_message_ms": ms["rclpy"],
            "rclpy_ratio": ms["rclpy"] / memcpy if memcpy > 0 else None}


def image_copies(height: int = 1024, width: int = 1280, repeats: int = 30,
                 publisher: Any = None) -> dict[str, float]:
    """Median ms of each step an image output can take, interleaved, for a bgr8 frame.

    ``memcpy``: the floor; ``array_copy``: the ``array('B')`` copy the build used to make;
    ``build``: ``numpy_to_image`` (borrows); ``serialize_image``: the one-copy CDR writer;
    ``bytes_copy``: one copy into a new ``bytes`` (``serialize_message``'s last step);
    ``serialize_message``: rclpy (C message, rmw CDR buffer, ``bytes``); ``*_small``: the
    same for a 2x2 image (the fixed cost). With ``publisher`` (``sensor_msgs/Image``):
    ``publish_msg`` = ``publish(msg)`` and ``publish_bytes`` = ``publish(serialized)``.
    """
    pixels, target = _test_image(height, width)
    header = Header(frame_id="camera")
    msg = conversions.numpy_to_image(pixels, "bgr8", header)
    small = conversions.numpy_to_image(pixels[:2, :2], "bgr8", header)
    flat = memoryview(pixels).cast("B")
    variants: dict[str, Callable[[], Any]] = {
        "memcpy": lambda: np.copyto(target, pixels),
        "array_copy": lambda: array.array("B").frombytes(flat),
        "build": lambda: conversions.numpy_to_image(pixels, "bgr8", header),
        "serialize_image": lambda: messages.serialize(msg),
        "bytes_copy": lambda: bytes(flat),
        "serialize_message": lambda: serialize_message(msg),
        "serialize_image_small": lambda: messages.serialize(small),
        "serialize_message_small": lambda: serialize_message(small),
    }
    if publisher is not None:
        raw = messages.serialize(msg)
        variants["publish_msg"] = lambda: publisher.publish(msg)
        variants["publish_bytes"] = lambda: publisher.publish(raw)
    return interleaved_ms(variants, repeats)


def _with_publisher(height: int, width: int, repeats: int) -> dict[str, float]:
    """:func:`image_copies` with a real publisher (no subscriber: Fast DDS still writes
    every sample into its history) on a private context."""
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("message_bench", context=context)
        publisher = node.create_publisher(Image, "message_bench/image", 1)
        try:
            return image_copies(height, width, repeats, publisher)
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def main(argv: list[str] | None = None) -> None:
    """Print the per-copy table (markdown, ms and x memcpy) with the allocator tuned."""
    parser = argparse.ArgumentParser(description=image_copies.__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 1280), metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--no-publish", action="store_true", help="skip the rclpy publisher")
    args = parser.parse_args(argv)
    set_malloc_tuning(True)  # as the node runs
    height, width = args.size
    ms = (image_copies(height, width, args.repeats) if args.no_publish
          else _with_publisher(height, width, args.repeats))
    stage = message_vs_memcpy(MessageStage(), height, width, args.repeats)
    print(f"{width}x{height} bgr8, {3 * height * width} bytes, median of {args.repeats}")
    print("\n| step | ms | x memcpy |\n|---|---|---|")
    for name, value in ms.items():
        print(f"| {name} | {value:.3f} | {value / ms['memcpy']:.2f} |")
    print(f"\nbench stage: memcpy {stage['memcpy_ms']:.3f} ms, build + serialise "
          f"{stage['message_ms']:.3f} ms (ratio {stage['ratio']:.2f}), with serialize_message "
          f"{stage['rclpy_message_ms']:.3f} ms (ratio {stage['rclpy_ratio']:.2f})")


# Subscriber sets of the lazy-output comparison: every output watched (RViz with the overlay,
# a recorder) against the class mask alone (a downstream node) and the scene alone.
LAZY_SETS: dict[str, tuple[str, ...]] = {"all": OUTPUTS, "scene": ("scene",), "mask": ("mask",)}


def lazy_outputs(model: Any, spec: Any, device: Any, dtype: Any, frames: list[np.ndarray],
                 sets: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The node's frame path (:meth:`FrameProcessor.process` with ``subscribed``, then
    :func:`messages.serialize` of what it built) for each subscriber set: same frames, same run.

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
            sizes[name] = sum(len(messages.serialize(m)) for m in out.messages.values())
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


if __name__ == "__main__":
    main()
