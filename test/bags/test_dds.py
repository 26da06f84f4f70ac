"""Replay and recording over real DDS (Fast DDS on localhost, a domain per test process)."""

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="replay and recording need rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from surg_perception.bags.replay import schedule  # noqa: E402
from surg_perception.bags.storage import BagReader  # noqa: E402
from surg_perception.ros.recorder import TopicRecorder  # noqa: E402
from surg_perception.ros.replay import RawPublisher, play  # noqa: E402

CAMERA = "/jhu_daVinci/left/image_raw"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bag_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.spin_until = lambda done, timeout=20.0: _spin(executor, done, timeout)
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def _spin(executor, done, timeout):
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return done()


def _image(i):
    msg = Image(height=2, width=3, encoding="mono8", step=3, data=bytes(range(i, i + 6)))
    msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 100 + i, 7, "cam"
    return msg


def test_recorder_writes_what_a_publisher_sent(node, tmp_path):
    images = node.create_publisher(Image, "/rec/image", RELIABLE)
    detections = node.create_publisher(Detection2DArray, "/rec/detections", RELIABLE)
    topics = [("/rec/image", "sensor_msgs/msg/Image"),
              ("/rec/detections", "vision_msgs/msg/Detection2DArray")]
    sent = [_image(i) for i in range(5)]
    with TopicRecorder(node, topics, tmp_path / "rec.mcap") as recorder:
        assert node.spin_until(lambda: images.get_subscription_count()
                               and detections.get_subscription_count())
        for msg in sent:
            images.publish(msg)
        detections.publish(Detection2DArray(header=sent[0].header))
        assert node.spin_until(lambda: sum(recorder.counts.values()) == 6)
    assert (tmp_path / "rec.mcap").is_file()  # a .mcap name is one file
    with BagReader(tmp_path / "rec.mcap") as reader:
        assert reader.topics == dict(topics)
        recorded = [m.raw for m in reader.messages(["/rec/image"])]
        times = [m.timestamp for m in reader.messages(["/rec/image"])]
    # CDR padding bytes are unspecified: compare the decoded messages.
    assert [deserialize_message(raw, Image) for raw in recorded] == sent
    assert times == sorted(times) and abs(times[0] - time.time_ns()) < 60e9  # receive time


def test_replay_publishes_recorded_bytes_with_exact_stamps(node, synth_bag):
    received = []
    node.create_subscription(Image, "/replayed", received.append, RELIABLE, raw=False)
    publisher = RawPublisher({"/replayed": "sensor_msgs/msg/Image"}, qos="reliable")
    try:
        assert publisher.wait_for_subscribers(20.0)
        items = list(schedule(synth_bag, [CAMERA], rate=4.0, remaps={CAMERA: "/replayed"}))
        assert [round(offset, 4) for offset, _, _ in items] == \
            [round(i / 30 / 4, 4) for i in range(4)]
        assert play(items, publisher) == 4
        assert node.spin_until(lambda: len(received) == 4)
    finally:
        publisher.close()
    with BagReader(synth_bag) as reader:
        expected = [m.raw for m in reader.messages([CAMERA])]
    assert received == [deserialize_message(raw, Image) for raw in expected]
    assert received[0].header.frame_id == "jhu_daVinci_left"
    assert np.frombuffer(bytes(received[1].data), np.uint8).size == 96 * 80 * 3


def test_loop_and_start_offsets(synth_bag):
    gen = schedule(synth_bag, [CAMERA], rate=1.0, start=0.05, loop=True)
    items = [next(gen) for _ in range(6)]
    offsets = [round(offset, 4) for offset, _, _ in items]
    # start=0.05 s skips frames 0 and 1 (0 and 33 ms); 2 and 3 remain, then the bag repeats.
    assert len({raw for _, _, raw in items}) == 2
    assert offsets[:2] == [round(0.0667 - 0.05, 4), round(0.1 - 0.05, 4)]
    assert offsets[2] > offsets[1]


def test_replay_plays_no_ground_truth_by_default_and_names_topics_without_subscribers(
        node, synth_bag, capsys):
    import argparse

    from surg_perception.bags.replay import select_topics
    from surg_perception.ros import replay_cli

    with BagReader(synth_bag) as reader:
        assert select_topics(reader, None) == {CAMERA: "sensor_msgs/msg/Image"}
        with_truth = select_topics(reader, None, ground_truth=True)
    assert set(with_truth) == {CAMERA, "/jhu_daVinci/left/ground_truth/mask",
                               "/jhu_daVinci/left/ground_truth/detections",
                               "/jhu_daVinci/left/ground_truth/activity"}
    received = []
    node.create_subscription(Image, "/cli/image", received.append, RELIABLE)
    parser = argparse.ArgumentParser()
    replay_cli.add_arguments(parser)
    base = [str(synth_bag), "--remap", f"{CAMERA}:=/cli/image", "--rate", "8"]
    # The camera has a subscriber, so waiting ends at once and says nothing.
    assert replay_cli.run(parser.parse_args([*base, "--wait-for-subscribers", "60"])) == 0
    out = capsys.readouterr()
    assert out.err == "" and "published 4 message(s) on /cli/image" in out.out
    assert node.spin_until(lambda: len(received) == 4)
    # With the ground truth: nobody listens there, and the warning says where.
    assert replay_cli.run(parser.parse_args([*base, "--ground-truth",
                                             "--wait-for-subscribers", "1"])) == 0
    warning = capsys.readouterr().err
    assert "/jhu_daVinci/left/ground_truth/mask" in warning and "/cli/image" not in warning
