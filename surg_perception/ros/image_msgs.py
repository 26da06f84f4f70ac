"""``sensor_msgs/Image`` -> its serialised bytes with one copy of the pixels.

``rclpy.serialization.serialize_message`` copies an Image's pixels three times (Python
message -> C message, C message -> the rmw's CDR buffer, CDR buffer -> ``bytes``). Writing
the few header fields ourselves and joining them with the pixel buffer copies the pixels
once, into the returned ``bytes``. The result is the message in plain little-endian CDR
(XCDR1, what ``rmw_fastrtps`` and ``rmw_cyclonedds`` write for ROS 2 messages), so
``deserialize_message``, ``ros2 bag`` and every subscriber read it; only the padding bytes,
which CDR leaves unspecified, may differ from ``serialize_message`` output.

Publishing does not take this path: ``Publisher.publish(bytes)`` copies the bytes into a
``std::string`` and again into the middleware's payload, so a borrowed Image through
``publish(msg)`` (two copies) stays cheaper there (BENCHMARKS.md, message stage).
"""

from __future__ import annotations

import struct
from typing import Any

# CDR encapsulation header: representation id CDR_LE (0x0001), options 0.
_CDR_LE = b"\x00\x01\x00\x00"


def serialize_image(msg: Any) -> bytes:
    """The CDR bytes of ``msg`` (a ``sensor_msgs/Image``), its ``data`` copied once.

    ``msg.data`` may be any byte buffer: the ``array('B')`` of a received message or the
    read-only view that :func:`~surg_perception.ros.conversions.numpy_to_image` borrows.
    """
    data = memoryview(msg.data).cast("B")
    writer = _Writer()
    stamp = msg.header.stamp
    writer.pack("<iI", stamp.sec, stamp.nanosec)
    writer.string(msg.header.frame_id)
    writer.pack("<II", msg.height, msg.width)
    writer.string(msg.encoding)
    writer.pack("<B", msg.is_bigendian)
    writer.pack("<II", msg.step, len(data))  # step, then the uint8[] sequence length
    return b"".join((_CDR_LE, *writer.parts, data))


class _Writer:
    """Header fields in CDR: each primitive aligned to its size from the body's start."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self._pos = 0

    def pack(self, fmt: str, *values: int) -> None:
        self._align(struct.calcsize(fmt[1]))  # the fields of each format here share a size
        self._put(struct.pack(fmt, *values))

    def string(self, text: str) -> None:
        raw = text.encode() + b"\x00"  # CDR strings: uint32 length with the NUL, then bytes
        self.pack("<I", len(raw))
        self._put(raw)

    def _align(self, size: int) -> None:
        pad = -self._pos % size
        if pad:
            self._put(bytes(pad))

    def _put(self, raw: bytes) -> None:
        self.parts.append(raw)
        self._pos += len(raw)
