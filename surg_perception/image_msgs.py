"""sensor_msgs/Image and CompressedImage -> NumPy: pure readers, no rclpy, no cv_bridge.

One set of readers for every consumer: the live node (rclpy messages), ``process-bag``, and
the bag tools ``render`` and the metrics (rosbags messages). Only the fields ``encoding``,
``height``, ``width``, ``step``, ``data`` and ``format`` are read, and ``data`` may be
``bytes``, an ``array('B')`` (rclpy) or a uint8 NumPy array (rosbags).

cv_bridge's compiled module breaks with NumPy 2, so images are read with ``np.frombuffer``
plus stride handling. Reading is zero-copy where the layout allows (the returned array is
a view into ``msg.data``). Every malformed input raises :class:`ImageFormatError` whose
message names the problem. The writers (NumPy -> rclpy message) are in
:mod:`surg_perception.ros.conversions`.
"""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import PIL.Image

from surg_perception.errors import ImageFormatError

# encoding -> (channels in the message, colour order of the returned 3-channel array)
ENCODINGS: dict[str, tuple[int, str]] = {
    "rgb8": (3, "rgb"),
    "bgr8": (3, "bgr"),
    "rgba8": (4, "rgb"),
    "bgra8": (4, "bgr"),
    "mono8": (1, "rgb"),  # grey is the same in either order
}
# Compression names cv2.imdecode reads. "compressedDepth" (16-bit depth PNG with a header)
# is not a camera image and is rejected by name.
COMPRESSED_FORMATS = ("jpeg", "jpg", "png", "webp", "tiff", "bmp")
DEFAULT_MAX_PIXELS = 4096 * 4096


def _error(reason: str, text: str) -> ImageFormatError:
    """An ImageFormatError tagged with a short ``reason`` (the node counts rejections by it):
    encoding, empty, oversized, step, truncated, format or undecodable."""
    exc = ImageFormatError(text)
    exc.reason = reason
    return exc


def rejection_reason(exc: ImageFormatError) -> str:
    """The short reason of an error raised here (``"invalid"`` for foreign ones)."""
    return getattr(exc, "reason", "invalid")


def image_to_numpy(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """Read a ``sensor_msgs/Image`` as an ``[H, W, 3]`` uint8 array and its colour order.

    Row padding (``step > width * channels``) is skipped by slicing; alpha is dropped and
    mono8 is broadcast to three channels, both as views (no pixel copy).

    Returns:
        ``(pixels [H, W, 3] uint8, "rgb" | "bgr")``; the array may be a read-only view.

    Raises:
        ImageFormatError: unknown encoding, empty, oversized, ``step`` too small or data
            shorter than ``step * height``.
    """
    channels, order = check_image(msg, max_pixels)
    height, width, step = msg.height, msg.width, msg.step
    data = np.frombuffer(msg.data, dtype=np.uint8)
    rows = data[: step * height].reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if channels == 1:
        pixels = np.broadcast_to(pixels, (height, width, 3))
    elif channels == 4:
        pixels = pixels[:, :, :3]
    return pixels, order


def check_image(msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, str]:
    """Validate an Image's encoding, geometry and data length in O(1) (no pixel access).

    Returns ``(channels in the message, colour order)``; raises like :func:`image_to_numpy`.
    """
    if msg.encoding not in ENCODINGS:
        raise _error(
            "encoding",
            f"unsupported image encoding {msg.encoding!r}; publish one of {sorted(ENCODINGS)}"
        )
    channels, order = ENCODINGS[msg.encoding]
    if msg.height == 0 or msg.width == 0:
        raise _error("empty", f"empty image: {msg.width}x{msg.height} pixels")
    _check_pixel_count(msg.height, msg.width, max_pixels)
    if msg.step < msg.width * channels:
        raise _error(
            "step",
            f"image step {msg.step} is smaller than width*channels = {msg.width}*{channels} "
            f"for {msg.encoding}"
        )
    if len(msg.data) < msg.step * msg.height:
        raise _error(
            "truncated",
            f"image data is truncated: {len(msg.data)} bytes, expected step*height = "
            f"{msg.step}*{msg.height} = {msg.step * msg.height}"
        )
    return channels, order


def _check_pixel_count(height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise _error(
            "oversized",
            f"image of {width}x{height} = {height * width} pixels exceeds the limit of "
            f"{max_pixels}; raise max_image_pixels if this camera is expected"
        )


def compressed_to_numpy(
    msg: Any, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, str]:
    """Decode a ``sensor_msgs/CompressedImage`` into ``([H, W, 3] uint8, "bgr")``.

    ``format`` may be a bare compression name (``"jpeg"``, ``"png"``) or image_transport's
    ``"<encoding>; <compression> compressed <encoding>"``; cv2 always decodes to BGR.

    Raises:
        ImageFormatError: unknown format, empty or undecodable data, oversized image.
    """
    check_compressed(msg)
    width, height = _compressed_size(msg)
    _check_pixel_count(height, width, max_pixels)  # before decoding: no decompression bombs
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    try:
        pixels = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # e.g. dimensions beyond OpenCV's own limits
        raise _error("undecodable",
                     f"compressed image ({msg.format!r}) cannot be decoded: {exc}") from exc
    if pixels is None or pixels.size == 0:
        raise _error(
            "undecodable",
            f"compressed image ({msg.format!r}, {len(msg.data)} bytes) cannot be decoded"
        )
    _check_pixel_count(pixels.shape[0], pixels.shape[1], max_pixels)
    return pixels, "bgr"


def _compressed_size(msg: Any) -> tuple[int, int]:
    """(width, height) from the compressed header alone (Pillow parses it without decoding).

    Why: a few kB of PNG can declare 8000x8000 pixels; decoding first would allocate
    hundreds of MiB before the size limit could reject it.
    """
    try:
        with PIL.Image.open(io.BytesIO(msg.data)) as probe:
            return probe.size
    except PIL.Image.DecompressionBombError as exc:
        raise _error("oversized", f"compressed image declares too many pixels: {exc}") from exc
    except (PIL.UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _error("undecodable",
                     f"compressed image ({msg.format!r}) has no readable header: {exc}") from exc


def check_compressed(msg: Any) -> str:
    """O(1) checks before decoding: a known format and some data. Returns the compression."""
    compression = check_compressed_format(msg.format)
    if len(msg.data) == 0:
        raise _error("empty", "compressed image has no data")
    return compression


def check_compressed_format(fmt: str) -> str:
    """Return the compression name in a CompressedImage ``format`` string, or raise."""
    words = fmt.replace(";", " ").lower().split()
    if "compresseddepth" in words:
        raise _error("format", f"compressed depth images are not camera frames: {fmt!r}")
    for word in words:
        if word in COMPRESSED_FORMATS:
            return word
    raise _error(
        "format",
        f"unsupported compressed image format {fmt!r}; expected one of {list(COMPRESSED_FORMATS)}"
    )


def to_bgr(pixels: np.ndarray, order: str) -> np.ndarray:
    """A reader's ``(pixels, order)`` as a contiguous BGR ``[H, W, 3]`` array (OpenCV's order)."""
    if order == "rgb":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(pixels)


def message_to_bgr(msg: Any, compressed: bool,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An Image or CompressedImage as a contiguous BGR ``[H, W, 3]`` uint8 array."""
    reader = compressed_to_numpy if compressed else image_to_numpy
    return to_bgr(*reader(msg, max_pixels))


def mask_to_numpy(msg: Any) -> np.ndarray:
    """A mono8 class-id mask Image -> ``[H, W]`` uint8 (a view; row padding skipped).

    Raises:
        ImageFormatError: not mono8, or malformed like :func:`image_to_numpy`.
    """
    if msg.encoding != "mono8":
        raise _error("encoding", f"a class-id mask must be mono8, not {msg.encoding!r}")
    return image_to_numpy(msg, DEFAULT_MAX_PIXELS)[0][:, :, 0]
