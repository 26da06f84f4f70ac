"""``model.backend:=onnxruntime`` in the node's own frame path (configure's load_predictor)."""

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the node's frame path builds ROS messages")
pytest.importorskip("onnxruntime", reason="onnxruntime is the backend under test")

from surg_perception.ros.conversions import numpy_to_image  # noqa: E402
from surg_perception.ros.offline import offline_settings, open_streams  # noqa: E402
from surg_perception.ros.pipeline import FrameProcessor, load_predictor  # noqa: E402
from surg_perception.ros.worker import PendingFrame  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


def _frame(sec: int) -> PendingFrame:
    pixels = np.random.default_rng(sec).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec = sec
    return PendingFrame(msg, False, time.monotonic())


def test_node_frame_path_with_onnxruntime_matches_eager(tiny_checkpoint):
    processors = {}
    for backend in ("eager", "onnxruntime"):
        settings = offline_settings(str(tiny_checkpoint), "cpu", {"model.backend": backend,
                                                                  "model.warmup_steps": 1})
        processors[backend] = (FrameProcessor(load_predictor(settings)), settings)
    assert list(tiny_checkpoint.parent.glob(f"{tiny_checkpoint.name}.onnx-cache/*.onnx"))
    for sec in range(1, 4):
        scenes = [proc.process(_frame(sec), settings, fps=None).messages["scene"]
                  for proc, settings in processors.values()]
        masks = [np.frombuffer(bytes(s.mask.data), np.uint8) for s in scenes]
        assert (masks[0] != masks[1]).mean() <= 1e-3
        assert scenes[0].sequence == scenes[1].sequence == sec - 1


def test_offline_streams_share_one_backend_session(tiny_checkpoint):
    settings = offline_settings(str(tiny_checkpoint), "cpu", {"model.backend": "onnxruntime"})
    first, second = (s.processor.predictor for s in open_streams(settings, ["/a", "/b"]))
    assert first._network is second._network and first._network.backend == "onnxruntime"
    assert first is not second and first.postprocess == second.postprocess
