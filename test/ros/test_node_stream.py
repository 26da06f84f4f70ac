"""apmtl_node (own process, autostart) fed over Fast DDS: outputs, QoS, bad input, memory."""

import signal
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Classification, Detection2DArray, LabelInfo

from surg_perception.msg import SurgicalScene
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.messages import diagnostics_values

pytestmark = pytest.mark.ros

NODE = "apmtl_node"
START_TIMEOUT_S = 120.0
WIDTH, HEIGHT = 128, 96
# part_mask: the tiny model has a part head (test_part_mask_node.py: a model without one)
OUTPUTS = {"mask": Image, "part_mask": Image, "mask_color": Image, "overlay": Image,
           "detections": Detection2DArray, "activity": Classification, "scene": SurgicalScene}
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def node(start_node, tiny_checkpoint):
    process = start_node(NODE, {
        "model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
        "model.warmup_steps": 1, "autostart": True, "detection.score_threshold": 0.0,
        "input.max_image_pixels": 40000,
    })
    yield process
    process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGINT)


@pytest.fixture(scope="module")
def ros(make_probe, node):
    """Probe with every output subscribed (reliable) before the node goes active."""
    probe = make_probe("stream_probe")
    probe.outputs = {name: probe.subscribe(t, f"/{NODE}/{name}", RELIABLE)
                     for name, t in OUTPUTS.items()}
    probe.diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", 10)
    probe.images = probe.node.create_publisher(Image, "/image", 10)  # reliable publisher
    probe.compressed = probe.node.create_publisher(CompressedImage, "/image/compressed", 10)
    probe.wait_for(lambda: node.alive() and NODE in probe.node.get_node_names(), "the node",
                   START_TIMEOUT_S)
    probe.wait_for(lambda: node.alive() and probe.state(NODE) == "active", "autostart",
                   START_TIMEOUT_S)
    probe.wait_for(lambda: probe.images.get_subscription_count() > 0, "the image subscription")
    return probe


def _stamp_ns(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


def _stamps(msgs) -> set[int]:
    return {_stamp_ns(m.header) for m in msgs}


def _image(stamp_ns: int, encoding: str = "rgb8", frame_id: str = "endoscope") -> Image:
    channels = {"mono8": 1, "rgba8": 4, "bgra8": 4}.get(encoding, 3)
    shape = (HEIGHT, WIDTH) if channels == 1 else (HEIGHT, WIDTH, channels)
    pixels = np.random.default_rng(stamp_ns % 2**32).integers(0, 256, shape, dtype=np.uint8)
    msg = numpy_to_image(pixels, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.header.frame_id = frame_id
    return msg


def _send_and_wait(ros, msg, publisher=None, scenes=None):
    """Publish until a scene with this stamp arrives (best-effort input may drop one)."""
    publisher = publisher or ros.images
    scenes = ros.outputs["scene"] if scenes is None else scenes
    stamp = _stamp_ns(msg.header)

    def arrived():
        return next((s for s in scenes if _stamp_ns(s.header) == stamp), None)

    for _ in range(3):
        publisher.publish(msg)
        try:
            return ros.wait_for(arrived, f"the scene of stamp {stamp}", 20.0)
        except AssertionError:
            continue
    raise AssertionError(f"no scene for stamp {stamp} after 3 sends")


def _latest_diagnostics(ros) -> dict:
    for msg in reversed(ros.diagnostics):
        values = diagnostics_values(msg, f"/{NODE}")
        if values:
            return values
    return {}


def test_thirty_frames_reach_every_output(ros):
    encodings = ["rgb8", "bgr8", "mono8", "rgba8", "bgra8"]
    sent = {}
    for index in range(30):
        msg = _image(100 * 10**9 + index * 33_333_333, encodings[index % len(encodings)])
        sent[_stamp_ns(msg.header)] = msg.header
        _send_and_wait(ros, msg)
    for name in OUTPUTS:
        received = ros.outputs[name]
        ros.wait_for(lambda received=received: _stamps(received) >= set(sent),
                     f"all 30 frames on ~/{name}")
        for msg in ros.outputs[name]:
            assert msg.header == sent[_stamp_ns(msg.header)]  # stamp AND frame_id
    images = ("mask", "part_mask", "mask_color", "overlay")
    for image in (msg for name in images for msg in ros.outputs[name]):
        assert (image.width, image.height) == (WIDTH, HEIGHT)
    assert {m.encoding for m in ros.outputs["mask"] + ros.outputs["part_mask"]} == {"mono8"}
    part_ids = np.concatenate([np.frombuffer(bytes(m.data), np.uint8)
                               for m in ros.outputs["part_mask"]])
    assert part_ids.size == 30 * WIDTH * HEIGHT and part_ids.max() <= 3  # 0..3: up to claspers
    boxes = [d.bbox for a in ros.outputs["detections"] for d in a.detections]
    assert boxes, "score threshold 0 should give detections"
    for box in boxes:
        x, y = box.center.position.x, box.center.position.y
        assert 0 <= x - box.size_x / 2 and x + box.size_x / 2 <= WIDTH + 1e-3
        assert 0 <= y - box.size_y / 2 and y + box.size_y / 2 <= HEIGHT + 1e-3
    for activity in ros.outputs["activity"]:
        assert sum(r.score for r in activity.results) == pytest.approx(1.0, abs=1e-4)
    scenes = sorted(ros.outputs["scene"], key=lambda s: s.sequence)
    assert [s.sequence for s in scenes] == list(range(30))
    assert scenes[0].memory_reset and not any(s.memory_reset for s in scenes[1:])


def test_label_info_reaches_a_late_subscriber(ros):
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    infos = {head: ros.subscribe(LabelInfo, f"/{NODE}/label_info/{head}", latched)
             for head in ("segmentation", "detection", "activity", "parts")}
    for head, received in infos.items():
        ros.wait_for(lambda received=received: received, f"LabelInfo of {head}")
    assert infos["segmentation"][0].class_map[0].class_name == "background"
    # the camera's frame_id (the frames of the tests before this one), not an empty one
    assert all(received[-1].header.frame_id == "endoscope" for received in infos.values())
    detection = infos["detection"][0]
    assert detection.class_map[0].class_id == 1 and detection.threshold == 0.0
    assert len(infos["activity"][0].class_map) > 1
    assert [(c.class_id, c.class_name) for c in infos["parts"][0].class_map] == [
        (0, "background"), (1, "shaft"), (2, "wrist"), (3, "claspers")]


def test_best_effort_subscriber_and_publisher_with_default_qos(ros):
    best_effort_scenes = ros.subscribe(SurgicalScene, f"/{NODE}/scene", qos_profile_sensor_data)
    sensor_publisher = ros.node.create_publisher(Image, "/image", qos_profile_sensor_data)
    ros.wait_for(lambda: ros.node.count_publishers(f"/{NODE}/scene") > 0, "the scene publisher")
    _send_and_wait(ros, _image(110 * 10**9), scenes=best_effort_scenes)  # reliable publisher
    _send_and_wait(ros, _image(110 * 10**9 + 10**7), sensor_publisher, best_effort_scenes)
    ros.node.destroy_publisher(sensor_publisher)


def test_compressed_input(ros):
    pixels = np.random.default_rng(3).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    msg = CompressedImage(format="bgr8; jpeg compressed bgr8",
                          data=cv2.imencode(".jpg", pixels)[1].tobytes())
    msg.header.stamp.sec, msg.header.frame_id = 120, "endoscope"
    scene = _send_and_wait(ros, msg, ros.compressed)
    assert (scene.mask.width, scene.mask.height) == (120, 80)
    assert scene.header.frame_id == "endoscope"


def test_stamp_rewind_resets_memory(ros):
    base = 200 * 10**9
    scenes = [_send_and_wait(ros, _image(base + i * 33_333_333)) for i in range(3)]
    assert not scenes[-1].memory_reset
    rewound = _send_and_wait(ros, _image(base - 50 * 10**9))
    assert rewound.memory_reset and "backwards" in rewound.memory_reset_reason
    after = _send_and_wait(ros, _image(base - 50 * 10**9 + 33_333_333))
    assert not after.memory_reset


def _malformed() -> list:
    good = _image(0)
    size = {"height": HEIGHT, "width": WIDTH}
    raw = [
        Image(**size, encoding="32FC1", step=WIDTH * 4, data=bytes(WIDTH * HEIGHT * 4)),
        Image(**size, encoding="rgb8", step=WIDTH, data=bytes(good.data)),  # step too small
        Image(**size, encoding="rgb8", step=WIDTH * 3, data=bytes(good.data)[:-100]),
        Image(height=0, width=0, encoding="rgb8", step=0),
        Image(height=256, width=256, encoding="mono8", step=256, data=bytes(256 * 256)),  # > max
    ]
    compressed = [
        CompressedImage(format="jpeg", data=b""),
        CompressedImage(format="h264", data=b"\x00\x00\x01"),
        CompressedImage(format="jpeg", data=b"\xff\xd8 definitely not a jpeg"),  # decoded last
    ]
    return raw + compressed


def test_malformed_stream_is_rejected_and_counted(ros, node):
    before = int(ros.wait_for(lambda: _latest_diagnostics(ros), "diagnostics")["rejected"])
    bad = _malformed()
    for msg in bad:
        (ros.compressed if isinstance(msg, CompressedImage) else ros.images).publish(msg)
        time.sleep(0.05)  # pacing only: each bad frame reaches the node on its own
    expected = before + len(bad)
    ros.wait_for(lambda: int(_latest_diagnostics(ros).get("rejected", -1)) >= expected,
                 f"rejected = {expected} on /diagnostics")
    values = _latest_diagnostics(ros)
    assert int(values["rejected"]) == expected
    reasons = ("encoding", "step", "truncated", "empty", "oversized", "format", "undecodable")
    for reason in reasons:
        assert int(values.get(f"rejected.{reason}", 0)) >= 1, (reason, values)
    # Throttled per reason: each kind of bad input, sent right after another, is logged.
    ros.wait_for(lambda: all(f"rejected input frame ({r})" in node.log() for r in reasons),
                 "one warning per rejection reason in the node's log", 10.0)
    reported = {"fps", "processed", "dropped", "latency_ms.p50", "latency_ms.p99",
                "local_size", "global_size", "device", "has_detection", "threads"}
    assert reported <= set(values), reported - set(values)
    assert ros.state(NODE) == "active"
    scene = _send_and_wait(ros, _image(300 * 10**9))  # valid frames keep flowing
    assert (scene.mask.width, scene.mask.height) == (WIDTH, HEIGHT)


def test_live_threshold_change(ros):
    result = ros.set_parameters(NODE, detection__score_threshold=1.0)[0]
    assert result.successful, result.reason
    scene = _send_and_wait(ros, _image(400 * 10**9))
    assert len(scene.detections.detections) == 0
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    info = ros.subscribe(LabelInfo, f"/{NODE}/label_info/detection", latched)
    assert ros.wait_for(lambda: info, "the detection LabelInfo")[-1].threshold == 1.0


def test_sigterm_shuts_down_cleanly(node, ros):
    assert node.stop(signal.SIGTERM) == 0, node.log()
    assert "shutting down" in node.log()
