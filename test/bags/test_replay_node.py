"""replay feeds the running node over DDS; its topics and masks equal process-bag's.

The node runs in its own process (as in ``test/ros/``), started as the README and the
launch file start it (root namespace, ``image`` remapped to the camera), so its outputs are
``/apmtl_node/*``: the names process-bag writes for the same one-camera bag. Frames are
replayed one at a time, each after the node answered the previous one: the node keeps only
the newest frame, and a dropped frame would change the memory and hence the masks.

Before them, handshake frames (another frame_id) are sent until one's mask comes back. The
probe seeing the node's mask publisher does not mean the node's publisher has matched the
probe's subscription (discovery completes on each side on its own), and a mask published
before that is lost - or, the outputs being lazy, never built - while the re-sent frame is a
duplicate the node drops: under load the first frame's mask never came (1 of 5 loaded runs).
The first real frame then starts a fresh memory (frame_id changed), as process-bag does.
"""

import itertools
import os
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="the node needs rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from surg_perception.bags import typestore as ts  # noqa: E402
from surg_perception.bags.replay import schedule  # noqa: E402
from surg_perception.bags.storage import BagReader  # noqa: E402
from surg_perception.ros.process_bag import process_bag  # noqa: E402
from surg_perception.ros.replay import RawPublisher, play  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ros]
CAMERA = "/jhu_daVinci/left/image_raw"
MASK = "/apmtl_node/mask"
START_TIMEOUT_S = 120.0  # importing torch + rclpy and loading the model on a busy 2-core box
HANDSHAKE = "handshake"


def _handshake_frames(first_raw: bytes):
    """The first frame again and again under frame_id ``handshake``, each with a new stamp."""
    msg = deserialize_message(first_raw, Image)
    msg.header.frame_id = HANDSHAKE
    for second in itertools.count(1):
        msg.header.stamp.sec, msg.header.stamp.nanosec = second, 0
        yield serialize_message(msg)


def _mask(data, height, width):
    return np.frombuffer(bytes(data), np.uint8).reshape(height, width)


@pytest.fixture
def node_process(repo_root, tiny_checkpoint, tmp_path):
    args = [sys.executable, "-m", "surg_perception.ros.node", "--ros-args",
            "-r", f"image:={CAMERA}", "-p", f"model.checkpoint:={tiny_checkpoint}",
            "-p", "model.device:=cpu", "-p", "input.qos:=reliable", "-p", "autostart:=true"]
    log = open(tmp_path / "node.log", "w")  # noqa: SIM115 - closed below
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, cwd=repo_root, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield proc, tmp_path / "node.log"
    proc.send_signal(2)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def test_replayed_frames_give_the_masks_of_process_bag(node_process, synth_bag, tiny_checkpoint,
                                                       tmp_path):
    proc, log = node_process
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("replay_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    masks, handshakes = [], []
    subscription = probe.create_subscription(
        Image, MASK,
        lambda m: (handshakes if m.header.frame_id == HANDSHAKE else masks).append(m),
        QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    publisher = RawPublisher({CAMERA: ts.IMAGE}, qos="reliable")

    def spin_until(done, timeout):
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        return done()

    try:
        # Both directions matched: our frames reach the node, its masks reach us.
        ready = spin_until(lambda: publisher.wait_for_subscribers(0.01)
                           and subscription.get_publisher_count() > 0, START_TIMEOUT_S)
        assert ready, f"the node did not come up:\n{log.read_text()[-3000:]}"
        frames = list(schedule(synth_bag, [CAMERA]))
        handshake = _handshake_frames(frames[0][2])
        deadline = time.monotonic() + START_TIMEOUT_S
        while not handshakes and time.monotonic() < deadline:
            play([(0.0, CAMERA, next(handshake))], publisher)
            spin_until(lambda: handshakes, 2.0)
        assert handshakes, f"no mask came back:\n{log.read_text()[-3000:]}"
        for index, (_, topic, raw) in enumerate(frames):
            # Resend if discovery was still settling: a repeated stamp is a duplicate the
            # node drops, so a frame is never processed twice.
            for _ in range(6):
                play([(0.0, topic, raw)], publisher)
                if spin_until(lambda: len(masks) > index, 10.0):
                    break
            assert len(masks) == index + 1, log.read_text()[-3000:]
        live_topics = {topic for topic, _ in probe.get_publisher_names_and_types_by_node(
            "apmtl_node", "/") if topic.startswith("/apmtl_node/")
            and not topic.endswith("/transition_event")}  # the lifecycle's own topic
    finally:
        publisher.close()
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)

    process_bag(synth_bag, tmp_path / "offline", tiny_checkpoint, progress=False)
    with BagReader(tmp_path / "offline") as reader:
        offline = [ts.deserialize(m.raw, m.msgtype) for m in reader.messages([MASK])]
        assert live_topics == set(reader.topics)  # one naming scheme, live and offline
        # 9 outputs (the tiny model's part mask, instruments + markers included), 4 LabelInfo
        assert len(live_topics) == 13
    assert len(masks) == len(offline) == 4
    for live, recorded in zip(masks, offline):
        assert ts.stamp_ns(live.header) == ts.stamp_ns(recorded.header)
        assert live.header.frame_id == recorded.header.frame_id
        np.testing.assert_array_equal(_mask(live.data, live.height, live.width),
                                      _mask(recorded.data, recorded.height, recorded.width))
