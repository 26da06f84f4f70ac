"""``make demo``'s handshake filter on hand-built messages: handshakes skipped, video kept."""

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")

from rclpy.serialization import serialize_message  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import LabelInfo  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from surg_perception.msg import InstrumentArray  # noqa: E402
from surg_perception.ros import demo_handshake as hs  # noqa: E402

ARRAY, MARKERS = "surg_perception/msg/InstrumentArray", "visualization_msgs/msg/MarkerArray"
LABELS = "vision_msgs/msg/LabelInfo"


def _raw(msg) -> bytes:
    return serialize_message(msg)


def test_handshake_messages_are_skipped_and_counted_video_messages_kept():
    skip = hs.HandshakeFilter()
    mono = _raw(InstrumentArray(header=Header(frame_id=hs.HANDSHAKE), stereo=False))
    assert skip("/i", ARRAY, mono)
    assert skip.seen == {"/i": 1} and skip.missing(["/i"], "/i") == ["/i"]  # not stereo yet
    assert skip("/i", ARRAY, _raw(InstrumentArray(header=Header(frame_id=hs.HANDSHAKE),
                                                  stereo=True)))
    assert skip.missing(["/i", "/m"], "/i") == ["/m"]
    assert not skip("/i", ARRAY, _raw(InstrumentArray(header=Header(frame_id="cam"))))
    assert not skip("/i", ARRAY, mono)  # after the video's first message: not read any more
    assert skip.seen == {"/i": 2}


def test_marker_arrays_are_read_by_their_first_marker_and_latched_labels_recorded():
    skip = hs.HandshakeFilter()
    markers = MarkerArray(markers=[Marker(header=Header(frame_id=hs.HANDSHAKE))])
    assert skip("/m", MARKERS, _raw(markers))
    assert hs.frame_id(MarkerArray()) is None
    # the LabelInfo latched before any frame (empty frame_id) is recorded, and the
    # handshake's one after it is still skipped
    assert not skip("/l", LABELS, _raw(LabelInfo(header=Header(frame_id=""))))
    assert skip("/l", LABELS, _raw(LabelInfo(header=Header(frame_id=hs.HANDSHAKE))))


def test_since_rebases_the_cumulative_counters_only():
    base = {"received": "5", "processed": "3", "dropped": "2", "fps": "2.000"}
    last = {"received": "21", "processed": "19", "dropped": "2", "rejected.size": "1",
            "fps": "14.000"}
    assert hs.since(last, base) == {"received": "16", "processed": "16", "dropped": "0",
                                    "rejected.size": "1", "fps": "14.000"}
