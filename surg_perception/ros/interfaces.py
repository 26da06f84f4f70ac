"""ROS type names -> rclpy message classes.

The rclpy-free side names types as ``pkg/msg/Name`` (:mod:`surg_perception.topics`, the bag
tools); publishers and subscribers here need the generated classes.
"""

from __future__ import annotations

import importlib

from surg_perception.errors import BagError


def message_class(msgtype: str) -> type:
    """``sensor_msgs/msg/Image`` -> the rclpy class; BagError when the package is missing."""
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f"message type {msgtype} is not available to rclpy here ({exc}); "
                       "install its interface package") from exc

