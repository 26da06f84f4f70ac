"""Record live topics into a rosbag2 bag (the rclpy side of ``bags/recorder.py``).

Subscriptions are ``raw=True``: callbacks receive the serialised CDR bytes, which are
written untouched with their receive time. The default QoS is reliable + volatile (it
matches the node's reliable outputs without losses); topics named ``.../label_info/...``
are subscribed transient-local so the latched class lists published before recording
started are recorded too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from surg_perception.bags.recorder import RecordSink
from surg_perception.ros.interfaces import message_class
from surg_perception.ros.params import latched_qos


def default_qos(topic: str, depth: int = 100) -> QoSProfile:
    """Reliable volatile keep-last ``depth``; transient-local depth 1 for LabelInfo topics."""
    if "/label_info/" in topic:
        return latched_qos()  # what the node publishes LabelInfo with
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class TopicRecorder:
    """Subscribe ``topics`` on ``node`` and write every message to a new bag at ``path``.

    Args:
        node: any rclpy node; the caller spins it.
        topics: ``(topic, "pkg/msg/Type")`` pairs, or ``(topic, type, QoSProfile)``.
        path: bag folder to create (mcap by default).
        skip: ``skip(topic, type, raw)`` true for a message not to write (nor count), e.g.
            ``make demo``'s handshake messages (:mod:`.demo_handshake`).

    Use as a context manager or call :meth:`close`: the subscriptions are destroyed first,
    then the bag is finished, so it is readable whatever stopped the recording.
    """

    def __init__(self, node: Node, topics: Sequence[tuple], path: str | Path,
                 storage: str = "mcap", force: bool = False,
                 skip: Callable[[str, str, bytes], bool] | None = None) -> None:
        self.node = node
        self.sink = RecordSink(path, storage, force)
        self._skip = skip
        self._subs = []  # (resolved topic, subscription)
        try:
            for entry in topics:
                topic, msgtype = node.resolve_topic_name(entry[0]), entry[1]
                qos = entry[2] if len(entry) > 2 else default_qos(topic)
                self._subs.append((topic, node.create_subscription(
                    message_class(msgtype), topic, self._callback(topic, msgtype), qos,
                    raw=True)))
        except BaseException:
            self.close()
            raise

    def _callback(self, topic: str, msgtype: str):
        def record(raw: bytes) -> None:
            if self._skip is None or not self._skip(topic, msgtype, raw):
                self.sink.write(topic, msgtype, raw)
        return record

    @property
    def counts(self) -> dict[str, int]:
        """Messages recorded per topic so far."""
        return self.sink.counts

    def matched(self, topic: str) -> bool:
        """Whether the subscription on ``topic`` has matched a publisher (its own side of
        discovery: the publisher may not have matched it yet)."""
        resolved = self.node.resolve_topic_name(topic)
        return any(t == resolved and sub.get_publisher_count() > 0 for t, sub in self._subs)

    def close(self) -> None:
        for _, sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        self.sink.close()

    def __enter__(self) -> TopicRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
