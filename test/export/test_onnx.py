"""ONNX export of the inference step: state in/out, matches eager over 3 frames, metadata."""

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec, spec_from_dict
from surg_perception.models.memory import MemoryState
from surg_perception.models.registry import build_model

onnx = pytest.importorskip("onnx", reason="onnx is needed to export")
pytest.importorskip("onnxruntime", reason="onnxruntime is needed to check the export")

from surg_perception.export import cli  # noqa: E402
from surg_perception.export.onnx import (  # noqa: E402
    ATOL,
    InferenceStep,
    export_onnx,
    read_metadata,
    verify_onnx,
)

pytestmark = [pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

TINY = Path(__file__).resolve().parents[2] / "config" / "models" / "tiny.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    spec = load_spec(TINY)
    torch.manual_seed(0)
    model = build_model(spec.model).eval()
    path = export_onnx(model, spec, tmp_path_factory.mktemp("onnx") / "step.onnx")
    return path, model, spec


def test_onnx_matches_eager_over_three_frames_with_state(exported):
    path, model, spec = exported
    worst = verify_onnx(path, model, spec, frames=3)
    assert worst <= ATOL


def test_graph_has_state_inputs_and_outputs_and_no_hog(exported):
    path, model, _ = exported
    graph = onnx.load(str(path)).graph
    inputs = [t.name for t in graph.input]
    outputs = [t.name for t in graph.output]
    assert inputs == ["image", *MemoryState.names()]
    assert outputs[:8] == ["seg_logits", "class_mask", "det_scores", "det_boxes",
                           "activity_probs", "part_logits", "part_mask", "local_feats_out"]
    assert len(outputs) == 7 + len(MemoryState.names())
    assert not any("hog" in name for name in outputs)
    assert outputs == InferenceStep(model, exported[2]).output_names()


def test_metadata_holds_the_spec_and_class_names(exported):
    path, _, spec = exported
    meta = read_metadata(path)
    assert spec_from_dict(json.loads(meta["spec"])) == spec
    assert json.loads(meta["seg_classes"]) == list(spec.model.seg_classes)
    assert json.loads(meta["part_classes"]) == list(spec.model.part_classes) != []
    assert json.loads(meta["preprocess"])["input_size"] == list(spec.preprocess.input_size)
    assert json.loads(meta["state_names"]) == list(MemoryState.names())


def test_export_command_without_memory(tmp_path, capsys):
    spec = load_spec(TINY)
    memory = dataclasses.replace(spec.model.memory, enabled=False)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=memory))
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(spec.model), spec)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args([str(ckpt), "--out", str(tmp_path / "m.onnx")])) == 0
    assert "matches PyTorch over 3 frames" in capsys.readouterr().out
    assert [t.name for t in onnx.load(str(tmp_path / "m.onnx")).graph.input] == ["image"]


def testargmax_ties_are_only_where_the_two_best_logits_agree_within_tolerance():
    import numpy as np

    from surg_perception.export.onnx import argmax_ties

    logits = np.zeros((1, 3, 1, 3), np.float32)
    logits[0, :, 0, 0] = (1.0, 1.00005, -2.0)  # a tie at the export tolerance
    logits[0, :, 0, 1] = (1.0, 1.5, -2.0)  # a clear winner
    logits[0, :, 0, 2] = (3.0, -1.0, 3.0)  # exact tie
    assert argmax_ties(logits, 1e-4, 1e-3).tolist() == [[[True, False, True]]]


def test_instrument_pooled_activity_head_exports(tmp_path):
    """``model.activity_pool: instruments`` reads the segmentation inside the graph."""
    spec = load_spec(TINY)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model,
                                                               activity_pool="instruments"))
    torch.manual_seed(0)
    model = build_model(spec.model).eval()
    path = export_onnx(model, spec, tmp_path / "pooled.onnx")
    assert verify_onnx(path, model, spec, frames=2) <= ATOL
