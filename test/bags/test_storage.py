"""Bag errors: missing topic, unknown type, corrupt and truncated files."""

import shutil

import numpy as np
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.storage import BagReader, BagWriter
from surg_perception.errors import BagError

TOPIC = "/cam/image_raw"


def _write(path, frames=12, size=(300, 400)):
    """Big frames so the bag spans several 1 MiB mcap chunks."""
    with BagWriter(path) as writer:
        for i in range(frames):
            header = ts.header(10**18 + i * 10**8, "cam")
            image = ts.image_msg(np.full((*size, 3), i, np.uint8), "rgb8", header)
            writer.write_msg(TOPIC, ts.IMAGE, ts.stamp_ns(header), image)
    return path


def test_truncated_mcap_yields_what_survives_then_a_clear_error(tmp_path):
    bag = _write(tmp_path / "cut")
    mcap = bag / "cut.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.6)])
    reader = BagReader(bag)
    assert reader.topics == {TOPIC: ts.IMAGE}
    seen = []
    with pytest.raises(BagError, match=r"truncated or corrupt .* holds (\d+) readable") as info:
        for message in reader.messages():
            seen.append(ts.deserialize(message.raw, message.msgtype).data[0])
    assert 0 < len(seen) < 12
    assert seen == list(range(len(seen)))  # complete messages, in order
    assert f"holds {len(seen)} readable" in str(info.value)


def test_an_mcap_name_is_one_file_and_is_replaced_only_with_force(tmp_path):
    bag = _write(tmp_path / "seq1.mcap", frames=2, size=(4, 4))
    assert bag.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["seq1.mcap"]
    with BagReader(bag) as reader:
        assert reader.counts == {TOPIC: 2}
    with pytest.raises(BagError, match="exists; pass --force"):
        BagWriter(bag)
    with BagWriter(bag, force=True) as writer:
        writer.write_msg(TOPIC, ts.IMAGE, 1, ts.image_msg(np.zeros((2, 2, 3), np.uint8), "rgb8",
                                                          ts.header(1, "cam")))
    with BagReader(bag) as reader:
        assert reader.counts == {TOPIC: 1}
    with pytest.raises(BagError, match="storage 'sqlite3'"):
        BagWriter(tmp_path / "x.mcap", storage="sqlite3")
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(BagError, match="not a bag"):
        BagWriter(tmp_path / "notes.txt", force=True)


def test_garbage_and_missing_bags_are_bag_errors(tmp_path):
    (tmp_path / "junk.mcap").write_bytes(b"definitely not an mcap file" * 10)
    with pytest.raises(BagError, match="junk.mcap"):
        BagReader(tmp_path / "junk.mcap")
    with pytest.raises(BagError, match="bag not found"):
        BagReader(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a rosbag2 bag"):
        BagReader(tmp_path / "empty")


def test_missing_topic_lists_the_available_ones(tmp_path):
    with BagReader(_write(tmp_path / "ok", frames=1, size=(4, 4))) as reader:
        with pytest.raises(BagError, match=r"no topic '/other'; the bag has: /cam/image_raw"):
            reader.require("/other")
        with pytest.raises(BagError, match="expected one of"):
            reader.require(TOPIC, [ts.DETECTIONS])


def test_unknown_type_and_closed_on_error(tmp_path):
    out = tmp_path / "partial"
    with pytest.raises(BagError, match="unknown message type"):
        with BagWriter(out) as writer:
            header = ts.header(5, "cam")
            writer.write_msg(TOPIC, ts.IMAGE, 5, ts.image_msg(np.zeros((2, 2), np.uint8),
                                                              "mono8", header))
            writer.write("/x", "nope_msgs/msg/X", 6, b"\x00\x01\x00\x00")
    with BagReader(out) as reader:  # what was written before the error is kept
        assert reader.counts == {TOPIC: 1}
    shutil.rmtree(out)
