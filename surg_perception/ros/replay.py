"""``surg-perception replay BAG``: publish recorded messages over DDS at the recorded rate.

The recorded CDR bytes are published as they are (``Publisher.publish(bytes)``), so every
header (stamp and frame_id) reaches subscribers exactly as recorded. The schedule (rate,
start, loop, remaps) is planned without ROS by :mod:`surg_perception.bags.replay`; this
module publishes it (the command line is :mod:`surg_perception.ros.replay_cli`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from surg_perception.errors import BagError
from surg_perception.ros.interfaces import message_class

RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE,
               "best_effort": ReliabilityPolicy.BEST_EFFORT}


class RawPublisher:
    """A node with one publisher per (output topic, type); publishes CDR bytes.

    Args:
        topics: output topic -> type name.
        qos: ``reliable`` or ``best_effort`` (volatile, keep last ``depth``).
    """

    def __init__(self, topics: Mapping[str, str], qos: str = "reliable", depth: int = 10,
                 node_name: str = "surg_perception_replay") -> None:
        if qos not in RELIABILITY:
            raise BagError(f"--qos {qos!r}: use one of {', '.join(RELIABILITY)}")
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node(node_name, context=self.context)
        profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                             reliability=RELIABILITY[qos], durability=DurabilityPolicy.VOLATILE)
        self._pubs = {topic: self.node.create_publisher(message_class(msgtype), topic, profile)
                      for topic, msgtype in topics.items()}

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        """Wait until every topic has a subscriber (DDS discovery), at most ``timeout_s``;
        returns as soon as they all have one. :meth:`without_subscribers` names the rest."""
        deadline = time.monotonic() + timeout_s
        while self.without_subscribers():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def without_subscribers(self) -> list[str]:
        """The topics nobody subscribes to (yet), sorted."""
        return sorted(t for t, pub in self._pubs.items() if pub.get_subscription_count() == 0)

    def publish(self, topic: str, raw: bytes) -> None:
        self._pubs[topic].publish(raw)

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def play(schedule: Iterable[tuple[float, str, bytes]], publisher: RawPublisher,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Publish ``(seconds from playback start, topic, raw)`` items on time; returns the count."""
    start = time.monotonic()
    count = 0
    for offset, topic, raw in schedule:
        delay = start + offset - time.monotonic()
        if delay > 0:
            sleep(delay)
        publisher.publish(topic, raw)
        count += 1
    return count
