"""NumPy arrays -> sensor_msgs/Image (rclpy): pure functions, no node, no cv_bridge.

Writing copies the pixels once into the message's buffer. The readers (message -> NumPy),
shared with the bag tools, are rclpy-free in :mod:`surg_perception.image_msgs`.
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from surg_perception.errors import ImageFormatError
from surg_perception.image_msgs import ENCODINGS


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
