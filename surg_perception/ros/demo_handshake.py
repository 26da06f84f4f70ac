"""``make demo``'s handshake: no frame of the video is sent before every path is matched.

A publisher seen on the graph has not necessarily matched our subscription yet: discovery
completes on each side on its own, and the node's outputs are lazy (built only for a matched
subscriber), so the first frames' outputs were lost on some topics and not on others; under
load the stereo demo once recorded no ``~/instruments`` at all. So the demo first sends
handshake frames (the video's first frame, frame_id :data:`HANDSHAKE`, stamps of now) until
the recorder has received a handshake message on every topic it must record and, in stereo,
an ``InstrumentArray`` with ``stereo`` set (both images and both camera_info reached the
node). Handshake messages are never written to the bag (:class:`HandshakeFilter` is the
recorder's ``skip``), and the node's counters are rebased (:func:`since`) on its values once
the handshake frames are accounted for, so the summary counts and scores the video only.
The first video frame starts a fresh memory (frame_id changed), as a new camera would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rclpy.serialization import deserialize_message

from surg_perception.ros.interfaces import message_class
from surg_perception.ros.stats import COUNTER_PREFIXES, COUNTERS

HANDSHAKE = "handshake"


def frame_id(msg: Any) -> str | None:
    """The message's header frame_id (a MarkerArray's: its first marker's, the node's
    DELETEALL), None when it has none."""
    header = getattr(msg, "header", None)
    if header is None:
        markers = getattr(msg, "markers", None)
        header = markers[0].header if markers else None
    return None if header is None else header.frame_id


class HandshakeFilter:
    """The recorder's ``skip``: true for handshake messages, kept per topic in :attr:`seen`.

    A topic is read (deserialised) until its first video message, frame_id neither
    :data:`HANDSHAKE` nor empty (a LabelInfo latched before any frame): each topic has one
    publisher, in order, and no handshake frame is sent after the first video frame.
    """

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}  # topic -> handshake messages received
        self.stereo: set[str] = set()  # topics with a handshake InstrumentArray in stereo
        self._video: set[str] = set()  # topics whose video messages have begun

    def __call__(self, topic: str, msgtype: str, raw: bytes) -> bool:
        if topic in self._video:
            return False
        msg = deserialize_message(raw, message_class(msgtype))
        name = frame_id(msg)
        if name == HANDSHAKE:
            self.seen[topic] = self.seen.get(topic, 0) + 1
            if getattr(msg, "stereo", False) is True:
                self.stereo.add(topic)
            return True
        if name:
            self._video.add(topic)
        return False

    def missing(self, topics: Iterable[str], stereo_topic: str | None = None) -> list[str]:
        """``topics`` without a handshake message yet, and ``stereo_topic`` (InstrumentArray)
        until one of its handshake messages was stereo; sorted."""
        out = {t for t in topics if t not in self.seen}
        if stereo_topic is not None and stereo_topic not in self.stereo:
            out.add(stereo_topic)
        return sorted(out)


def since(values: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    """``/diagnostics`` values with the cumulative counters minus those of ``base``."""
    def counter(key: str) -> bool:
        return key in COUNTERS or key.startswith(COUNTER_PREFIXES)

    return {key: str(int(value) - int(base.get(key, 0))) if counter(key) else value
            for key, value in values.items()}
