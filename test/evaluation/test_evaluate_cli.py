"""The evaluate command writes JSON + Markdown (and the degradation plot) for a checkpoint."""

import argparse
import json

import pytest
import torch

from surg_perception.checkpoint import load_spec_from_checkpoint, save_checkpoint
from surg_perception.config import load_spec
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError
from surg_perception.evaluation import cli
from surg_perception.models.registry import build_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_config_path):
    root = tmp_path_factory.mktemp("eval")
    write_synth_dataset(root / "data", SynthConfig(sequences=2, frames=3, size=(128, 96), seed=2))
    torch.manual_seed(0)
    spec = load_spec(tiny_config_path)
    save_checkpoint(root / "model.pt", build_model(spec.model), spec)
    return root


def _args(setup, out, *extra):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(setup / "model.pt"), "--data", str(setup / "data"),
                              "--out", str(out), *extra])


def test_evaluate_writes_json_and_markdown(setup, tmp_path):
    assert cli.run(_args(setup, tmp_path, "--sequences", "1", "2")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    overall = report["overall"]
    assert overall["frames"] == 6
    assert set(report["sequences"]) == {"instrument_dataset_1", "instrument_dataset_2"}
    for row in ("box_fill_off", "box_fill_on"):
        for key in ("binary_dice", "type_dice", "binary_iou", "type_iou"):
            value = overall[row][key]
            assert value is None or 0.0 <= value <= 1.0
    assert 0.0 <= overall["activity_accuracy"] <= 1.0
    assert report["timing"]["fps"] > 0
    text = (tmp_path / "report.md").read_text()
    assert "| box fill off |" in text and "| box fill on |" in text and "mAP@0.5" in text


def test_corruption_suite_adds_curves_and_a_plot(setup, tmp_path):
    assert cli.run(_args(setup, tmp_path, "--corruptions", "--max-frames", "1")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    curves = report["robustness"]["curves"]
    assert len(curves) == 7 and all(len(v) == 6 for v in curves.values())
    assert (tmp_path / "degradation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Robustness" in (tmp_path / "report.md").read_text()


def test_split_without_fold_is_a_config_error(setup, tmp_path):
    with pytest.raises(ConfigError, match="--fold"):
        cli.run(_args(setup, tmp_path, "--split", "val"))


def test_protocol_table_in_the_report_and_on_stdout(setup, tmp_path, capsys):
    assert cli.run(_args(setup, tmp_path, "--sequences", "1", "--protocol")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    on = report["overall"]["protocol"]["box_fill_on"]
    assert set(on) == {"challenge_iou", "iou", "mc_iou", "class_iou", "state"}
    classes = load_spec_from_checkpoint(setup / "model.pt").model.seg_classes
    assert list(on["class_iou"]) == list(classes[1:])
    assert on["state"]["frames"] == 3
    for key in ("challenge_iou", "iou", "mc_iou"):
        assert on[key] is None or 0.0 <= on[key] <= 1.0
    printed = capsys.readouterr().out
    assert "| Challenge IoU | IoU | mcIoU | Bipolar Forceps |" in printed
    assert "| box fill on |" in printed
    text = (tmp_path / "report.md").read_text()
    assert "## Published protocol (ISINet evaluation code)" in text and "Frames scored" in text


def test_test_release_layout(setup, tmp_path):
    import numpy as np

    from surg_perception.data.io import write_png

    frames, labels = tmp_path / "frames", tmp_path / "instrument_2017_test"
    types = np.zeros((96, 128), np.uint8)
    types[10:40, 20:60] = 2
    for name in ("frame225.png", "frame226.png"):
        write_png(frames / "instrument_dataset_3" / "left_frames" / name,
                  np.full((96, 128, 3), 100, np.uint8))
        write_png(labels / "instrument_dataset_3" / "TypeSegmentation" / name, types)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(setup / "model.pt"), "--data", str(frames), "--out",
                              str(tmp_path / "out"), "--test-labels", str(labels)])
    assert cli.run(args) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["overall"]["frames"] == 2 and "test release" in report["split"]
    assert report["overall"]["protocol"]["box_fill_off"]["state"]["challenge_frames"] == 2
    with pytest.raises(ConfigError, match="no folds"):
        cli.run(parser.parse_args([str(setup / "model.pt"), "--data", str(frames), "--out",
                                   str(tmp_path / "o2"), "--test-labels", str(labels),
                                   "--fold", "0"]))


def test_memory_off_judges_every_frame_from_a_fresh_state(setup, tmp_path):
    from surg_perception.data import EndoVis17Dataset
    from surg_perception.evaluation.evaluate import evaluate
    from surg_perception.evaluation.metrics import segmentation_scores
    from surg_perception.predictor import Predictor

    assert cli.run(_args(setup, tmp_path, "--memory", "off")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["memory"] == "off"
    predictor = Predictor.from_checkpoint(setup / "model.pt")
    predictor.postprocess = predictor.postprocess.__class__(
        **{**predictor.postprocess.__dict__, "box_fill": False, "instance_typing": False})
    dataset = EndoVis17Dataset(setup / "data", frame_size=None)
    dice = []
    for i in range(len(dataset)):
        predictor.reset()
        sample = dataset[i]
        dice.append(segmentation_scores(predictor.step(sample.image).mask, sample.mask,
                                        8)["binary_dice"])
    expected = sum(dice) / len(dice)
    assert report["overall"]["box_fill_off"]["binary_dice"] == pytest.approx(expected, abs=1e-6)
    with_memory = evaluate(Predictor.from_checkpoint(setup / "model.pt"), dataset)
    assert with_memory["overall"]["frames"] == report["overall"]["frames"]
