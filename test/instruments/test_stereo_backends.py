"""A stereo pair on the onnxruntime backend: its exported graph takes a batch of 1, so the
eyes run one step each (said once in the log), each with its own memory, as two mono
predictors on the same graph would."""

import logging

import numpy as np
import pytest
import torch

from surg_perception.backends import BackendConfig
from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor, step_streams

pytest.importorskip("onnx", reason="onnx is needed to export (the `export` extra)")
pytest.importorskip("onnxruntime", reason="onnxruntime is the backend under test")

pytestmark = [pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_config_path):
    spec = load_spec(tiny_config_path)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt",
                           build_model(spec.model).eval(), spec)


def test_onnxruntime_pair_runs_one_step_per_eye(checkpoint, caplog):
    left = Predictor.from_checkpoint(checkpoint, backend=BackendConfig("onnxruntime", threads=1))
    right = left.fork()
    solo_left, solo_right = left.fork(), left.fork()
    assert "onnxruntime" in left.batch_reason() and "batch of 1" in left.batch_reason()
    rng = np.random.default_rng(0)
    height, width = left.spec.preprocess.input_size
    with caplog.at_level(logging.WARNING, logger="surg_perception.predictor"):
        for _ in range(3):
            frames = [rng.integers(0, 256, (height, width, 3), np.uint8) for _ in range(2)]
            got = step_streams([left, right], frames, ["rgb", "rgb"])
            want = [solo_left.step(frames[0]), solo_right.step(frames[1])]
            for g, w in zip(got, want):
                assert g.memory == w.memory
                np.testing.assert_array_equal(g.mask, w.mask)  # the same graph, same inputs
                np.testing.assert_allclose(g.scores, w.scores, atol=1e-6)
    said = [r.message for r in caplog.records if "one network step each" in r.message]
    assert len(said) == 1 and "onnxruntime" in said[0]
    assert left.memory_info()["local_size"] == right.memory_info()["local_size"] == 3
