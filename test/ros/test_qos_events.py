"""Incompatible QoS over real Fast DDS: a best-effort camera against the node's reliable
subscription, reliable / transient-local subscribers against best-effort outputs -> one
warning per (topic, policy) naming the parameter to change, and counters in /diagnostics."""

import signal

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from surg_perception.msg import SurgicalScene
from surg_perception.ros.qos_diagnosis import INPUT, OUTPUT, QosWatch, incompatibility_hint

pytestmark = pytest.mark.ros

NODE = "qos_node"
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
LATCHED_BEST_EFFORT = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)


def test_watch_warns_once_per_topic_and_policy():
    warnings = []
    watch = QosWatch(warnings.append)
    assert watch.event(INPUT, "/image", "RELIABILITY", 1, "input.qos", "reliable")
    assert not watch.event(INPUT, "/image", "RELIABILITY", 2, "input.qos", "reliable")
    assert watch.event(OUTPUT, "/n/mask", "RELIABILITY", 1, "output.qos", "best_effort")
    assert len(warnings) == 2 and watch.event(INPUT, "/image", "DEADLINE", 1, "input.qos",
                                              "reliable")
    warnings.pop() and "set input.qos:=best_effort" in warnings[0]
    assert "set output.qos:=reliable" in warnings[1]
    assert watch.counts() == {"qos_incompatible": 5, "qos_incompatible./image:RELIABILITY": 3,
                              "qos_incompatible./image:DEADLINE": 1,
                              "qos_incompatible./n/mask:RELIABILITY": 1}
    durability = incompatibility_hint(OUTPUT, "/n/scene", "DURABILITY", "output.qos", "reliable")
    assert "volatile durability" in durability
    assert "ros2 topic info -v /image" in incompatibility_hint(INPUT, "/image", "DEADLINE",
                                                               "input.qos", "reliable")


@pytest.fixture(scope="module")
def node(start_node, tiny_checkpoint):
    process = start_node(NODE, {
        "model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
        "model.warmup_steps": 0, "autostart": True, "input.qos": "reliable",
        "output.qos": "best_effort", "publish.overlay": False, "publish.mask_color": False,
    })
    yield process
    process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGINT)


@pytest.fixture(scope="module")
def ros(make_probe, node):
    probe = make_probe("qos_probe")
    probe.wait_node(node, "active")
    return probe


def _lines(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def test_best_effort_camera_against_reliable_input(ros, node):
    cameras = [ros.node.create_publisher(Image, "/image", qos_profile_sensor_data)
               for _ in range(2)]  # two offending publishers: still one warning
    key = "qos_incompatible./image:RELIABILITY"
    ros.wait_for(lambda: int(ros.diagnostics(NODE).get(key, 0)) >= 2, f"{key} >= 2")
    warning = "incompatible QoS (RELIABILITY) on /image:"
    lines = _lines(node.log(), warning)
    assert len(lines) == 1, node.log()
    assert "publisher on /image is best-effort" in lines[0]
    assert "set input.qos:=best_effort" in lines[0]
    values = ros.diagnostics(NODE)
    assert int(values["qos_incompatible"]) >= 2
    for camera in cameras:
        ros.node.destroy_publisher(camera)


def test_reliable_and_latched_subscribers_against_best_effort_outputs(ros, node):
    ros.subscribe(Image, f"/{NODE}/mask", RELIABLE)
    ros.subscribe(SurgicalScene, f"/{NODE}/scene", LATCHED_BEST_EFFORT)
    mask_key = f"qos_incompatible./{NODE}/mask:RELIABILITY"
    scene_key = f"qos_incompatible./{NODE}/scene:DURABILITY"
    ros.wait_for(lambda: {mask_key, scene_key} <= set(ros.diagnostics(NODE)),
                 f"{mask_key} and {scene_key} on /diagnostics")
    log = node.log()
    (mask_line,) = _lines(log, f"incompatible QoS (RELIABILITY) on /{NODE}/mask:")
    assert "output.qos=best_effort" in mask_line and "set output.qos:=reliable" in mask_line
    (scene_line,) = _lines(log, f"incompatible QoS (DURABILITY) on /{NODE}/scene:")
    assert "subscribe with volatile durability" in scene_line
    status = ros.diagnostics(NODE)
    assert int(status["qos_incompatible"]) >= 4 and int(status[mask_key]) >= 1
