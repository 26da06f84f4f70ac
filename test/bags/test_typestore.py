"""The embedded .msg copies match the repository's files and hash like the generated types."""

import json
from pathlib import Path
import sys

import numpy as np
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.msgdefs import MSG_DEFINITIONS


def test_embedded_definitions_equal_the_msg_files(repo_root):
    files = {f"vision_msgs/msg/{p.stem}": p for p in
             (repo_root / "interfaces" / "vision_msgs" / "msg").glob("*.msg")}
    files.update({f"surg_perception/msg/{p.stem}": p for p in (repo_root / "msg").glob("*.msg")})
    assert set(MSG_DEFINITIONS) == set(files)
    for name, path in files.items():
        assert MSG_DEFINITIONS[name] == path.read_text(), f"{name} drifted from {path}"


@pytest.mark.parametrize("name", sorted(MSG_DEFINITIONS))
def test_type_hash_equals_the_rosidl_generated_one(name):
    package, _, type_name = name.split("/")
    path = Path(sys.prefix) / "share" / package / "msg" / f"{type_name}.json"
    if not path.exists():
        pytest.skip(f"{path} not installed (run `make env`)")
    hashes = json.loads(path.read_text())["type_hashes"]
    expected = next(h["hash_string"] for h in hashes if h["type_name"] == name)
    assert ts.typestore().hash_rihs01(name) == expected


def test_image_round_trip_is_readable_by_rclpy():
    serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import Image

    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    header = ts.header(1_700_000_000_123_456_789, "cam")
    raw = ts.serialize(ts.image_msg(pixels, "rgb8", header), ts.IMAGE)
    msg = serialization.deserialize_message(raw, Image)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert msg.header.frame_id == "cam" and msg.encoding == "rgb8" and msg.step == 9
    assert bytes(msg.data) == pixels.tobytes()
    assert ts.stamp_ns(ts.deserialize(raw, ts.IMAGE).header) == 1_700_000_000_123_456_789


def test_unknown_type_is_a_bag_error():
    from surg_perception.errors import BagError

    with pytest.raises(BagError, match="unknown message type 'my_pkg/msg/Nope'"):
        ts.msg_class("my_pkg/msg/Nope")
