"""``surg-perception replay BAG``: publish recorded messages over DDS at the recorded rate.

The recorded CDR bytes are published as they are (``Publisher.publish(bytes)``), so every
header (stamp and frame_id) reaches subscribers exactly as recorded. The schedule (rate,
start, loop, remaps) is planned without ROS by :mod:`surg_perception.bags.replay`; this
module publishes it and holds the command's ``add_arguments`` / ``run``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from surg_perception.bags.replay import parse_remaps, schedule, select_topics
from surg_perception.bags.storage import BagReader
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
        """Wait until every topic has a subscriber (DDS discovery), at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(pub.get_subscription_count() > 0 for pub in self._pubs.values()):
                return True
            time.sleep(0.05)
        return False

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception replay``."""
    parser.add_argument("bag", type=Path, help="bag folder, .mcap or .db3")
    parser.add_argument("--topic", action="append", dest="topics",
                        help="topic to play (repeatable; default: every image topic)")
    parser.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    parser.add_argument("--start", type=float, default=0.0, help="skip this many seconds")
    parser.add_argument("--loop", action="store_true", help="play again and again")
    parser.add_argument("--remap", action="append", default=[], metavar="OLD:=NEW",
                        help="rename a topic (repeatable)")
    parser.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="before playing, wait up to this long for a subscriber per topic")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception replay``; returns the exit status."""
    remaps = parse_remaps(args.remap)
    with BagReader(args.bag) as reader:
        topics = select_topics(reader, args.topics)
    publisher = RawPublisher({remaps.get(t, t): m for t, m in topics.items()}, qos=args.qos)
    try:
        if args.wait_for_subscribers > 0 and not publisher.wait_for_subscribers(
                args.wait_for_subscribers):
            print(f"warning: not every topic has a subscriber after {args.wait_for_subscribers} s")
        count = play(schedule(args.bag, list(topics), args.rate, args.start, args.loop, remaps),
                     publisher)
    finally:
        publisher.close()
    print(f"published {count} message(s) on {', '.join(remaps.get(t, t) for t in topics)}")
    return 0
