"""``evaluate --instruments``: the model's stereo instruments scored against the 3D truth.

A tiny synthetic stereo dataset is written to disk as ``surg-perception synth --stereo``
writes it. The untrained tiny model checks the report's structure (JSON, Markdown, stdout);
an ORACLE network (``test/ros/instruments_oracle.py``: the real Predictor, whose injected
network returns the ground-truth logits of the frame it is shown, both eyes) checks that
the scoring path (both eyes through the node's InstrumentStream, manifest rig, matching)
gives small errors and no id switch when the segmentation is perfect.
"""

import argparse
import dataclasses
import importlib.util
import json

import pytest

from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError, DatasetError
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor
from surg_perception.ros import evaluate_cmd as cli
from surg_perception.ros.instrument_eval import evaluate_instruments

from support.stereo_frames import render_stereo

SIZE = (320, 256)  # (W, H): 12 px of disparity at 9 cm
SEED, FRAMES, SEQUENCES = 7, 24, 3  # sequence 3 of seed 7: three tools in both views
MEDIAN_2D_PX = 4.0  # the target; the oracle measures 3.3 px (mask end, no parts)
MEDIAN_3D_MM = 6.0  # no part head: tip = mask end; the oracle measures 2.1 mm here


@pytest.fixture(scope="module")
def stereo_data(tmp_path_factory, tiny_config_path):
    root = tmp_path_factory.mktemp("stereo-eval")
    write_synth_dataset(root / "data", SynthConfig(sequences=SEQUENCES, frames=FRAMES,
                                                   size=SIZE, seed=SEED, stereo=True))
    spec = load_spec(tiny_config_path)
    spec = dataclasses.replace(spec, preprocess=dataclasses.replace(
        spec.preprocess, input_size=(SIZE[1], SIZE[0])))
    save_checkpoint(root / "model.pt", build_model(spec.model).eval(), spec)
    return root


def _args(root, out, *extra):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(root / "model.pt"), "--data", str(root / "data"),
                              "--out", str(out), *extra])


def test_report_has_the_instrument_section(stereo_data, tmp_path, capsys):
    args = _args(stereo_data, tmp_path, "--instruments", "--sequences", "1", "--max-frames", "4")
    assert cli.run(args) == 0
    scores = json.loads((tmp_path / "report.json").read_text())["instruments"]
    assert scores["frames"] == 4 and scores["gt_instrument_frames"] > 0
    assert scores["setup"]["sequences"] == ["instrument_dataset_1"]
    assert set(scores["mot"]) >= {"mota", "idf1", "id_switches", "fragmentations",
                                  "id_switches_per_instrument_300"}
    assert [b["depth_m"] for b in scores["tip_3d_mm"]["by_depth"]] == [
        [0.05, 0.075], [0.075, 0.1], [0.1, 0.125], [0.125, 0.15]]
    assert scores["mot"]["mota"] <= 1.0 and 0.0 <= scores["mot"]["idf1"] <= 1.0
    text = (tmp_path / "report.md").read_text()
    assert "## Instruments (stereo tips and tracks)" in text and "| depth (cm) |" in text
    printed = capsys.readouterr().out
    assert "instruments (stereo): 2D tip error: median" in printed and "id switches" in printed


def test_instruments_refuse_folds_and_mono_data(stereo_data, tmp_path):
    with pytest.raises(ConfigError, match="--instruments"):
        cli.run(_args(stereo_data, tmp_path, "--instruments", "--fold", "0"))
    mono = tmp_path / "mono"
    write_synth_dataset(mono, SynthConfig(sequences=1, frames=1, size=(128, 96)))
    predictor = Predictor.from_checkpoint(stereo_data / "model.pt")
    with pytest.raises(DatasetError, match="not a stereo dataset"):
        evaluate_instruments(predictor, mono)


def _oracle_network(path):
    pytest.importorskip("rclpy", reason="the oracle module is also the oracle node's entry")
    file = path.parents[1] / "ros" / "instruments_oracle.py"
    spec = importlib.util.spec_from_file_location("instruments_oracle", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OracleNetwork


def _both_eyes(tmp_path, sequence: int) -> str:
    """Frames + type masks of both eyes of ``sequence``, rendered as the generator does."""
    frames = render_stereo(SEED, sequence, FRAMES, *SIZE)
    return str(frames.save_oracle_npz(tmp_path / "oracle.npz"))


def test_an_oracle_model_scores_small_tip_errors_and_no_id_switch(stereo_data, tmp_path,
                                                                  request):
    oracle = _oracle_network(request.path)
    real = Predictor.from_checkpoint(stereo_data / "model.pt")
    network = oracle(_both_eyes(tmp_path, SEQUENCES), len(real.spec.model.seg_classes))
    predictor = Predictor(real.model, real.spec, network=network)
    scores = evaluate_instruments(predictor, stereo_data / "data", [SEQUENCES])
    mot, band = scores["mot"], scores["tip_3d_mm"]["band_stats"]
    print(scores["tip_2d_px"], band, mot, scores["valid_3d_rate"])
    assert scores["frames"] == FRAMES
    assert scores["tip_2d_px"]["n"] >= 0.8 * scores["gt_instrument_frames"]
    assert scores["tip_2d_px"]["median"] <= MEDIAN_2D_PX
    assert band["n"] > 0 and band["median"] <= MEDIAN_3D_MM
    assert scores["valid_3d_rate"] >= 0.8
    assert mot["id_switches"] == 0 and mot["mota"] >= 0.8 and mot["idf1"] >= 0.8
