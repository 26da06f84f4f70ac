"""Node pipeline, process-bag and ``evaluate`` decode with the checkpoint's post-processing.

The checkpoint below stores non-default thresholds (score 0.05, NMS 0.3, top_k 20,
max_detections 7). The three consumers must give the same detections on the same frames:
FrameProcessor with the node's default parameters (the node's DDS path is tested to equal
FrameProcessor in test/ros/test_node_stream.py), process-bag with no options, and the
predictor ``evaluate`` runs. Every list of detections goes through the node's message
builder, so boxes, scores and labels are compared exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
import time

import pytest
import torch

from surg_perception.bags.storage import BagReader
from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.data.endovis17 import EndoVis17Dataset, mask_target
from surg_perception.evaluation.evaluate import evaluate, published_detections
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor

pytest.importorskip("rclpy", reason="the node's messages need rclpy")
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from surg_perception.bags import typestore as ts  # noqa: E402
from surg_perception.ros import messages  # noqa: E402
from surg_perception.ros import process_bag as process  # noqa: E402
from surg_perception.ros.params import settings_from_values  # noqa: E402
from surg_perception.ros.pipeline import FrameProcessor, load_predictor  # noqa: E402
from surg_perception.ros.worker import PendingFrame  # noqa: E402

CAMERA = "/jhu_daVinci/left/image_raw"
DETECTIONS = "/apmtl_node/detections"
MAX_DETECTIONS = 7


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    spec = load_spec(tiny_config_path)
    assert spec.postprocess.instance_boxes  # so the instruments' boxes are compared too
    post = dataclasses.replace(spec.postprocess, score_threshold=0.05, nms_threshold=0.3,
                               top_k=20, max_detections=MAX_DETECTIONS)
    spec = dataclasses.replace(spec, postprocess=post)
    torch.manual_seed(1)
    model = build_model(spec.model).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "thresholds.pt", model, spec)


def _rows(msg) -> list[tuple]:
    """(cx, cy, w, h, score, class_id) of every detection of a Detection2DArray."""
    return [(d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y,
             d.results[0].hypothesis.score, d.results[0].hypothesis.class_id)
            for d in msg.detections]


def _node_pipeline(bag: Path, checkpoint: Path) -> list[list[tuple]]:
    settings = settings_from_values({"model.checkpoint": str(checkpoint), "model.device": "cpu",
                                     "model.warmup_steps": 0})  # every detection.* unset
    processor = FrameProcessor(load_predictor(settings))
    out = []
    with BagReader(bag) as reader:
        for message in reader.messages([CAMERA]):
            frame = PendingFrame(deserialize_message(message.raw, Image), False, time.monotonic())
            out.append(_rows(processor.process(frame, settings).messages["detections"]))
    return out


def _process_bag(bag: Path, checkpoint: Path, out: Path) -> list[list[tuple]]:
    parser = argparse.ArgumentParser()
    process.add_arguments(parser)
    args = parser.parse_args([str(bag), str(out), "--checkpoint", str(checkpoint),
                              "--no-progress"])
    assert (args.score_threshold, args.nms_threshold, args.box_fill) == (None, None, None)
    assert process.run(args) == 0
    with BagReader(out) as reader:
        return [_rows(ts.deserialize(m.raw, m.msgtype)) for m in reader.messages([DETECTIONS])]


def _evaluation(sequence: Path, checkpoint: Path) -> list[list[tuple]]:
    predictor = Predictor.from_checkpoint(checkpoint)  # as `surg-perception evaluate` does
    dataset = EndoVis17Dataset(sequence.parent, target=mask_target(predictor.spec),
                               frame_size=None)
    results = []
    step = predictor.step

    def recording_step(*args, **kwargs):
        results.append(step(*args, **kwargs))
        return results[-1]

    predictor.step = recording_step  # evaluate() only reports scores; keep its detections
    evaluate(predictor, dataset)
    published = [published_detections(predictor, r) for r in results]  # what evaluate scores
    return [_rows(messages.detections_msg(Header(), *(t.numpy() for t in d))) for d in published]


def test_node_process_bag_and_evaluate_give_the_same_detections(synth_bag, synth_sequence,
                                                                checkpoint, tmp_path):
    node = _node_pipeline(synth_bag, checkpoint)
    bag = _process_bag(synth_bag, checkpoint, tmp_path / "out")
    evaluation = _evaluation(synth_sequence, checkpoint)
    assert len(node) == len(bag) == len(evaluation) == 4
    assert node == bag == evaluation
    # The checkpoint's values are the ones in use: its max_detections caps every frame, and
    # scores below the 0.3 the node used to apply whatever the checkpoint said are published;
    # so are the boxes of the segmented instruments (tiny.yaml: postprocess.instance_boxes).
    assert all(len(frame) == MAX_DETECTIONS for frame in node)
    assert min(row[4] for frame in node for row in frame) < 0.3


def test_explicit_options_override_the_checkpoint(synth_bag, checkpoint, tmp_path):
    parser = argparse.ArgumentParser()
    process.add_arguments(parser)
    args = parser.parse_args([str(synth_bag), str(tmp_path / "out"), "--checkpoint",
                              str(checkpoint), "--score-threshold", "0.3", "--no-box-fill",
                              "--no-progress"])
    assert args.box_fill is False
    assert process.run(args) == 0
    with BagReader(tmp_path / "out") as reader:
        frames = [_rows(ts.deserialize(m.raw, m.msgtype)) for m in reader.messages([DETECTIONS])]
    # every SSD score of this untrained model is below 0.3: only instruments' boxes that
    # clear it are left (the threshold applies to both sources)
    assert len(frames) == 4 and all(len(frame) < MAX_DETECTIONS for frame in frames)
    assert all(row[4] >= 0.3 for frame in frames for row in frame)
