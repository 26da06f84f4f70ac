"""NumPy arrays -> sensor_msgs/Image (rclpy): pure functions, no node, no cv_bridge.

Writing borrows the pixels: the message's ``data`` is a read-only view of the array, and
rclpy copies it straight into the middleware's C message when it publishes or serialises.
The readers (message -> NumPy), shared with the bag tools, are rclpy-free in
:mod:`surg_perception.image_msgs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from surg_perception.errors import ImageFormatError
from surg_perception.image_msgs import ENCODINGS


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Any = None) -> Image:
    """Build a ``sensor_msgs/Image`` from ``[H, W]`` (mono8) or ``[H, W, C]`` uint8.

    The message borrows C-contiguous ``pixels`` (no copy: ``data`` is a read-only
    ``memoryview`` of them, which keeps them alive); other strides are copied once into a
    contiguous array. Do not write to ``pixels`` until the message is published or
    serialised. ``step`` is ``width * channels`` (unpadded).
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
    msg = Image(height=height, width=width, encoding=encoding, step=width * channels)
    if header is not None:
        msg.header = header
    # Why the slot and not the ``data`` setter: the setter copies anything but an
    # ``array('B')`` (``array('B', value)``, per element for a memoryview when checking).
    # rclpy's C converter reads any buffer-protocol object with one memcpy, so a view of
    # the pixels saves the whole build copy (BENCHMARKS.md, message stage).
    msg._data = memoryview(np.ascontiguousarray(pixels)).cast("B").toreadonly()
    return msg


def mask_to_image(mask: np.ndarray, header: Any = None) -> Image:
    """``[H, W]`` uint8 class-id mask -> mono8 ``sensor_msgs/Image`` (never compress a mask)."""
    return numpy_to_image(mask, "mono8", header)
