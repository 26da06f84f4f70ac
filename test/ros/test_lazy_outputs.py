"""Lazy outputs: what nobody subscribes to is not rendered, built or serialised.

Without DDS: :class:`FrameProcessor` builds only the subscribed outputs (and what they
carry); process-bag's path (``subscribed=None``) still builds every output. Over Fast DDS:
with only ~/scene subscribed no overlay is rendered (``built.overlay`` stays absent in
/diagnostics), and subscribing to ~/overlay later makes it appear; the frames' delays are
reported too.
"""

import dataclasses
import signal
import time

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from surg_perception.msg import SurgicalScene
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.params import OUTPUTS, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor, wanted_outputs
from surg_perception.ros.worker import PendingFrame

pytestmark = pytest.mark.ros

NODE = "lazy_node"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _image(stamp_ns: int, size=(96, 128)) -> Image:
    pixels = np.random.default_rng(stamp_ns % 2**32).integers(0, 256, size + (3,), np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.header.frame_id = "endoscope"
    return msg


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    settings = settings_from_values({"model.checkpoint": str(tiny_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 0})
    return FrameProcessor(load_predictor(settings)), settings


def test_only_subscribed_outputs_are_built(processor):
    proc, settings = processor
    proc.restart()
    frame = PendingFrame(_image(10**9), False, time.monotonic())
    masks = proc.process(frame, settings, subscribed=["mask"])
    assert set(masks.messages) == {"mask"}
    assert masks.skipped == frozenset(OUTPUTS) - {"mask"}
    nothing = proc.process(PendingFrame(_image(2 * 10**9), False, time.monotonic()), settings,
                           subscribed=[])
    assert nothing.messages == {} and nothing.skipped == frozenset(OUTPUTS)
    shared = proc.process(PendingFrame(_image(3 * 10**9), False, time.monotonic()), settings,
                          subscribed=["scene", "mask"])
    assert set(shared.messages) == {"scene", "mask"}
    # One mask buffer for both messages: the scene carries the ~/mask message itself.
    assert shared.messages["scene"].mask is shared.messages["mask"]
    assert shared.messages["scene"].mask.data is shared.messages["mask"].data


def test_offline_path_builds_every_enabled_output(processor):
    proc, settings = processor
    every = proc.process(PendingFrame(_image(4 * 10**9), False, time.monotonic()), settings)
    assert set(every.messages) == set(OUTPUTS) and every.skipped == frozenset()
    no_overlay = dataclasses.replace(settings, publish_overlay=False)
    assert wanted_outputs(no_overlay, ["overlay", "mask"]) == {"mask"}
    assert wanted_outputs(no_overlay) == frozenset(OUTPUTS) - {"overlay"}


@pytest.fixture(scope="module")
def node(start_node, tiny_checkpoint):
    process = start_node(NODE, {
        "model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
        "model.warmup_steps": 0, "autostart": True,
    })
    yield process
    process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGINT)


@pytest.fixture(scope="module")
def ros(make_probe, node):
    probe = make_probe("lazy_probe")
    probe.scenes = probe.subscribe(SurgicalScene, f"/{NODE}/scene", RELIABLE)
    probe.images = probe.node.create_publisher(Image, "/image", 10)
    probe.wait_node(node, "active")
    probe.wait_for(lambda: probe.images.get_subscription_count() > 0, "the image subscription")
    probe.wait_for(lambda: probe.node.count_subscribers(f"/{NODE}/scene") > 0, "matching")
    return probe


def _send_until(ros, stamp_ns: int, received: list) -> None:
    """Send frames (a new stamp each time) until ``received`` gets the first one's result."""
    before = len(received)
    for index in range(20):
        ros.images.publish(_image(stamp_ns + index * 33_333_333))
        try:
            ros.wait_for(lambda: len(received) > before, "an output message", 10.0)
            return
        except AssertionError:
            continue
    raise AssertionError("no output after 20 frames")


def _diagnostics_after(ros, processed: int) -> dict:
    return ros.wait_for(lambda: (v := ros.diagnostics(NODE)) and int(v["processed"]) >= processed
                        and v, f"diagnostics with processed >= {processed}")


def test_unsubscribed_overlay_is_not_rendered_until_subscribed(ros):
    for second in range(100, 105):
        _send_until(ros, second * 10**9, ros.scenes)
    values = _diagnostics_after(ros, 5)
    assert int(values["built.scene"]) >= 5
    assert "built.overlay" not in values and "built.mask_color" not in values
    assert int(values["skipped.overlay"]) >= 5 and int(values["skipped.mask"]) >= 5
    overlays = ros.subscribe(Image, f"/{NODE}/overlay", RELIABLE)
    _send_until(ros, 200 * 10**9, overlays)
    assert (overlays[0].width, overlays[0].height, overlays[0].encoding) == (128, 96, "bgr8")
    later = ros.wait_for(lambda: (v := ros.diagnostics(NODE)) and "built.overlay" in v and v,
                         "built.overlay on /diagnostics")
    assert int(later["built.overlay"]) >= 1


def test_published_frames_report_their_delays(ros):
    values = ros.wait_for(lambda: (v := ros.diagnostics(NODE))
                          and "receive_to_publish_ms.total.p99.9" in v and v, "the delays")
    for delay in ("receive_to_publish_ms", "stamp_to_publish_ms"):
        total = [float(values[f"{delay}.total.{k}"]) for k in ("p50", "p95", "p99", "p99.9")]
        assert total == sorted(total) and total[-1] <= float(values[f"{delay}.total.max"])
    assert float(values["receive_to_publish_ms.total.p50"]) > 0
    # The test stamps frames with made-up times long ago: the camera's age is huge.
    assert float(values["stamp_to_publish_ms.total.p50"]) > 1e6
    assert {"window.received", "window.processed", "window.dropped", "missed"} <= set(values)


def test_bench_compares_subscriber_sets_on_the_same_frames(processor):
    from surg_perception.ros.message_bench import LAZY_SETS, lazy_outputs

    predictor = processor[0].predictor
    frames = [np.random.default_rng(i).integers(0, 256, (120, 160, 3), np.uint8)
              for i in range(2)]
    result = lazy_outputs(predictor.model, predictor.spec, predictor.device, predictor.dtype,
                          frames)
    sets = result["sets"]
    assert set(sets) == set(LAZY_SETS) and result["size"] == [120, 160]
    # Bytes are exact: every output vs the mono8 mask alone (a 160x120 mask + header).
    assert sets["mask"]["bytes_per_frame"] < 120 * 160 + 200
    assert sets["all"]["bytes_per_frame"] > 7 * 120 * 160  # 2 colour images + mask + scene
    assert sets["all"]["saving_ms"] == 0.0
    for row in sets.values():
        assert row["frame_ms"]["p50"] >= row["outputs_ms"]["p50"] >= 0.0
