"""sensor_msgs images <-> NumPy arrays: pure functions, no node, no cv_bridge.

cv_bridge's compiled module breaks with NumPy 2, so images are read with ``np.frombuffer``
plus stride handling. Reading is zero-copy where the layout allows (the returned array is
a view into ``msg.data``); writing copies the pixels once into the message's buffer.
Every malformed input raises :class:`ImageFormatError` whose message names the problem.
"""

from __future__ import annotations

import array
import io
from typing import Any

import cv2
import numpy as np
import PIL.Image
from sensor_msgs.msg import CompressedImage, Image

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


def image_to_numpy(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
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


def check_image(msg: Image, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, str]:
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
    msg: CompressedImage, max_pixels: int = DEFAULT_MAX_PIXELS
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


def _compressed_size(msg: CompressedImage) -> tuple[int, int]:
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


def check_compressed(msg: CompressedImage) -> str:
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


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Any = None) -> Image:
    """Build a ``sensor_msgs/Image`` from ``[H, W]`` (mono8) or ``[H, W, C]`` uint8.

    The pixels are copied exactly once into the message's byte buffer (no ``tobytes``
    intermediate); ``step`` is ``width * channels`` (unpadded).
    """
    if encoding not in ENCODINGS:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r}; use one of {sorted(ENCODINGS)}")
    channels = ENCODINGS[encoding][0]
    expected = 2 if channels == 1 else 3
    if pixels.dtype != np.uint8 or pixels.ndim not in (expected, 3) or pixels.size == 0:
        raise ImageFormatError(
            f"{encoding} needs a non-empty uint8 array, got {pixels.dtype} {pixels.shape}")
    if (pixels.shape[2] if pixels.ndim == 3 else 1) != channels:
        raise ImageFormatError(f"{encoding} needs {channels} channel(s), got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    # check_fields=True makes the data setter keep our array.array as is; with the default
    # (unchecked) the generated setter copies it a second time via array('B', value).
    msg = Image(check_fields=True, height=height, width=width, encoding=encoding,
                step=width * channels)
    if header is not None:
        msg.header = header
    msg.data = _to_byte_array(pixels)
    return msg


def _to_byte_array(pixels: np.ndarray) -> array.array:
    """Copy ``pixels`` (any strides) once into a new ``array('B')`` (rclpy's uint8[] type)."""
    if pixels.flags.c_contiguous:
        buffer = array.array("B")
        buffer.frombytes(memoryview(pixels).cast("B"))
        return buffer
    # Non-contiguous (a crop, a channel slice): fill a buffer and copy into it once
    # rather than making a contiguous temporary and copying that again.
    buffer = array.array("B", bytes(1)) * pixels.size
    np.copyto(np.frombuffer(buffer, dtype=np.uint8).reshape(pixels.shape), pixels)
    return buffer


def mask_to_image(mask: np.ndarray, header: Any = None) -> Image:
    """``[H, W]`` uint8 class-id mask -> mono8 ``sensor_msgs/Image`` (never compress a mask)."""
    return numpy_to_image(mask, "mono8", header)
