"""~/part_mask for a model WITHOUT a part head: no publisher, nothing built or skipped.

The tiny model has a part head (test_node_stream.py and test_pipeline.py check its
~/part_mask); here the same model with ``model.part_classes`` empty. Without DDS the frame
processor neither builds nor counts it; over Fast DDS the node creates no ~/part_mask
publisher, says so once in its log, and latches an empty ``parts`` LabelInfo.
"""

import dataclasses
import signal
import time

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import LabelInfo

from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.models.registry import build_model
from surg_perception.msg import SurgicalScene
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.params import OUTPUTS, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.worker import PendingFrame

pytestmark = pytest.mark.ros

NODE = "partless_node"
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def partless_checkpoint(tmp_path_factory, tiny_config_path):
    import torch

    spec = load_spec(tiny_config_path)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, part_classes=()))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("partless") / "partless.pt"
    return save_checkpoint(path, build_model(spec.model).eval(), spec)


def _image(stamp_ns: int) -> Image:
    pixels = np.random.default_rng(stamp_ns % 2**32).integers(0, 256, (96, 128, 3), np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.header.frame_id = "endoscope"
    return msg


def test_processor_neither_builds_nor_skips_the_part_mask(partless_checkpoint):
    settings = settings_from_values({"model.checkpoint": str(partless_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 0})
    proc = FrameProcessor(load_predictor(settings))
    assert proc.absent_outputs.keys() == {"part_mask"} and not proc.status()["has_parts"]
    every = proc.process(PendingFrame(_image(10**9), False, time.monotonic()), settings)
    assert set(every.messages) == set(OUTPUTS) - {"part_mask"} and every.skipped == frozenset()
    asked = proc.process(PendingFrame(_image(2 * 10**9), False, time.monotonic()), settings,
                         subscribed=["part_mask", "mask"])
    assert set(asked.messages) == {"mask"} and "part_mask" not in asked.skipped
    assert list(proc.label_infos(asked.messages["mask"].header)["parts"].class_map) == []


@pytest.fixture(scope="module")
def node(start_node, partless_checkpoint):
    process = start_node(NODE, {
        "model.checkpoint": str(partless_checkpoint), "model.device": "cpu",
        "model.warmup_steps": 0, "autostart": True, "output.lazy": False,
    })
    yield process
    process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGINT)


def test_node_without_a_part_head_has_no_part_mask_publisher(make_probe, node):
    probe = make_probe("partless_probe")
    scenes = probe.subscribe(SurgicalScene, f"/{NODE}/scene", RELIABLE)
    parts = probe.subscribe(Image, f"/{NODE}/part_mask", RELIABLE)
    info = probe.subscribe(LabelInfo, f"/{NODE}/label_info/parts", LATCHED)
    images = probe.node.create_publisher(Image, "/image", 10)
    probe.wait_node(node, "active")
    probe.wait_for(lambda: images.get_subscription_count() > 0, "the image subscription")
    probe.wait_for(lambda: probe.node.count_publishers(f"/{NODE}/scene") > 0, "matching")
    for index in range(20):  # until a frame has gone all the way through
        images.publish(_image(100 * 10**9 + index * 33_333_333))
        try:
            probe.wait_for(lambda: scenes, "a scene", 5.0)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("no scene after 20 frames")
    assert probe.node.count_publishers(f"/{NODE}/part_mask") == 0 and parts == []
    assert probe.node.count_publishers(f"/{NODE}/mask") == 1
    probe.wait_for(lambda: info, "the parts LabelInfo")
    assert list(info[-1].class_map) == []  # the head is absent, not late
    values = probe.wait_for(lambda: (v := probe.diagnostics(NODE)) and "built.mask" in v and v,
                            "diagnostics of a built frame")
    assert values["has_parts"] == "False"
    assert "built.part_mask" not in values and "skipped.part_mask" not in values
    assert node.log().count("~/part_mask is not published: the model has no part head") == 1
