"""Two rclpy nodes in two processes exchange our message types over real Fast DDS."""

from pathlib import Path
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from surg_perception.msg import SurgicalScene  # noqa: E402

PUBLISHER = Path(__file__).with_name("dds_publisher.py")


@pytest.fixture()
def received():
    rclpy.init()
    node = rclpy.create_node("foundation_subscriber")
    got: dict[str, object] = {}
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Detection2DArray, "foundation/detections",
                             lambda m: got.setdefault("det", m), qos)
    node.create_subscription(SurgicalScene, "foundation/scene",
                             lambda m: got.setdefault("scene", m), qos)
    child = subprocess.Popen([sys.executable, str(PUBLISHER), "60"])
    try:
        deadline = time.monotonic() + 60
        while len(got) < 2 and time.monotonic() < deadline and child.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.2)
        yield got
    finally:
        child.kill()
        child.wait()
        node.destroy_node()
        rclpy.shutdown()


def test_messages_cross_processes_intact(received):
    assert set(received) == {"det", "scene"}, f"received only {sorted(received)}"
    det: Detection2DArray = received["det"]
    assert det.header.frame_id == "jhu_daVinci_left"
    assert (det.header.stamp.sec, det.header.stamp.nanosec) == (1700000000, 123456789)
    (d,) = det.detections
    assert (d.bbox.center.position.x, d.bbox.center.position.y) == (320.5, 240.25)
    assert (d.bbox.size_x, d.bbox.size_y) == (64.0, 48.0)
    assert d.results[0].hypothesis.class_id == "Prograsp Forceps"
    assert d.results[0].hypothesis.score == 0.875
    assert d.id == "7"

    scene: SurgicalScene = received["scene"]
    assert scene.header == det.header
    assert scene.sequence == 41
    assert (scene.mask.height, scene.mask.width, scene.mask.encoding) == (2, 3, "mono8")
    assert bytes(scene.mask.data) == bytes([0, 1, 2, 3, 4, 7])
    assert scene.detections == det
    assert (scene.latency_ms, scene.inference_ms) == (12.5, 8.25)
    assert (scene.local_memory_size, scene.global_memory_size) == (4, 3)
    assert scene.memory_reset and scene.memory_reset_reason == "stamp went backwards"
