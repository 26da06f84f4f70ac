"""The rosbags type store of the bag tools: ROS 2 Jazzy types plus vision_msgs and ours.

rosbags serialises and deserialises CDR without ROS, so bags are written and read on
machines without rclpy. The extra types are registered from their ``.msg`` text
(:mod:`surg_perception.bags.msgdefs`, kept equal to the repository's files by a test), which
gives the same RIHS01 hashes as the rosidl-generated types: a bag written here is played
by ``ros2 bag play`` on Humble and Jazzy.

Message objects are rosbags dataclasses (``typestore.types[name]``); arrays such as
``Image.data`` are NumPy arrays.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from surg_perception.bags.msgdefs import MSG_DEFINITIONS
from surg_perception.errors import BagError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
DETECTIONS = "vision_msgs/msg/Detection2DArray"
CLASSIFICATION = "vision_msgs/msg/Classification"
LABEL_INFO = "vision_msgs/msg/LabelInfo"
SCENE = "surg_perception/msg/SurgicalScene"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The shared store: ``Stores.ROS2_JAZZY`` + vision_msgs 4.x (2D) + surg_perception msgs."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for name, text in MSG_DEFINITIONS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def msg_class(msgtype: str) -> type:
    """The rosbags dataclass of ``msgtype`` (``pkg/msg/Name``); BagError when unknown."""
    store = typestore()
    if msgtype not in store.types:
        raise BagError(f"unknown message type {msgtype!r}: not in ROS 2 Jazzy's standard "
                       "types, vision_msgs or surg_perception; the bag tools cannot decode it")
    return store.types[msgtype]


def serialize(msg: Any, msgtype: str) -> bytes:
    """CDR bytes of a rosbags message object (what rclpy would put on the wire)."""
    msg_class(msgtype)
    return bytes(typestore().serialize_cdr(msg, msgtype))


def deserialize(raw: bytes | memoryview, msgtype: str) -> Any:
    """Rosbags message object of ``msgtype`` from CDR bytes; BagError when they do not parse."""
    msg_class(msgtype)
    try:
        return typestore().deserialize_cdr(raw, msgtype)
    except Exception as exc:  # rosbags raises plain struct/index errors on corrupt bytes
        raise BagError(f"a {msgtype} message cannot be decoded ({type(exc).__name__}: {exc}); "
                       "the bag is corrupt or was written with a different definition") from exc


def header(stamp_ns: int, frame_id: str) -> Any:
    """``std_msgs/Header`` with the stamp split into seconds and nanoseconds."""
    types = typestore().types
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id)


def stamp_ns(hdr: Any) -> int:
    """Nanoseconds since the epoch of a header's stamp (rosbags or rclpy header)."""
    return int(hdr.stamp.sec) * 1_000_000_000 + int(hdr.stamp.nanosec)


def image_msg(pixels: np.ndarray, encoding: str, hdr: Any) -> Any:
    """``sensor_msgs/Image`` from ``[H, W]`` (mono8) or ``[H, W, 3]`` uint8 (rgb8/bgr8)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    return typestore().types[IMAGE](
        header=hdr, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
        is_bigendian=0, step=pixels.shape[1] * channels, data=pixels.reshape(-1))


def compressed_msg(data: bytes, fmt: str, hdr: Any) -> Any:
    """``sensor_msgs/CompressedImage`` holding already encoded bytes (``fmt``: jpeg | png)."""
    return typestore().types[COMPRESSED_IMAGE](
        header=hdr, format=fmt, data=np.frombuffer(data, dtype=np.uint8))
