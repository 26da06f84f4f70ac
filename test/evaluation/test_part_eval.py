"""evaluate with a part head: the dataset carries part labels, the protocol scores parts."""

import argparse
import dataclasses

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.evaluation import cli
from surg_perception.evaluation.evaluate import evaluate
from surg_perception.evaluation.protocol import ProtocolScores
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor, step_streams


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_config_path):
    root = tmp_path_factory.mktemp("parts")
    write_synth_dataset(root / "data", SynthConfig(sequences=1, frames=3, size=(160, 128),
                                                   seed=4))
    torch.manual_seed(0)
    spec = load_spec(tiny_config_path)
    save_checkpoint(root / "model.pt", build_model(spec.model), spec)
    return root


def _dataset(setup):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(setup / "model.pt"), "--data", str(setup / "data"),
                              "--out", str(setup / "out")])
    predictor = Predictor.from_checkpoint(setup / "model.pt")
    return predictor, cli._dataset(args, predictor.spec)


def test_a_part_model_is_evaluated_on_part_labels(setup):
    predictor, dataset = _dataset(setup)
    assert predictor.model.has_parts
    sample = dataset[0]
    assert sample.part_mask is not None and sample.part_mask.shape == sample.mask.shape
    assert evaluate(predictor, dataset)["overall"]["frames"] == 3


def test_a_part_model_step_returns_camera_size_part_ids(setup):
    predictor, _ = _dataset(setup)
    frames = [np.random.default_rng(i).integers(0, 256, (100, 140, 3), np.uint8)
              for i in range(2)]
    single = predictor.step(frames[0])
    assert single.part_mask.shape == (100, 140) and single.part_mask.dtype == np.uint8
    assert single.part_mask.max() < len(predictor.spec.model.part_classes)
    predictor.reset()
    # a stereo pair's batched step: each eye its own part mask, the first one as alone (an
    # untrained model's near-ties may flip a few pixels between batch sizes)
    left, right = step_streams([predictor, predictor.fork()], frames, ["rgb", "rgb"])
    assert (left.part_mask == single.part_mask).mean() > 0.99
    assert right.part_mask.shape == (100, 140)


def test_a_model_without_a_part_head_returns_no_part_mask(tiny_config_path):
    spec = load_spec(tiny_config_path)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, part_classes=()))
    predictor = Predictor(build_model(spec.model).eval(), spec)
    assert not predictor.model.has_parts
    assert predictor.step(np.zeros((64, 80, 3), np.uint8)).part_mask is None


def test_protocol_part_iou_of_a_perfect_and_an_empty_prediction():
    scores, empty = ProtocolScores(("background", "a")), ProtocolScores(("background", "a"))
    gt = np.zeros((8, 8), np.uint8)
    gt[2:6, 1:7] = [[1, 1, 2, 2, 3, 3]] * 4
    scores.update_parts(gt, gt)
    empty.update_parts(np.zeros_like(gt), gt)
    assert scores.summary()["part_iou"] == 1.0 and empty.summary()["part_iou"] == 0.0


def test_evaluate_reports_part_iou(setup):
    predictor, dataset = _dataset(setup)
    protocol = evaluate(predictor, dataset)["overall"]["protocol"]
    assert 0.0 <= protocol["part_iou"] <= 1.0
