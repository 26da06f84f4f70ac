"""The bench compares backends in one run: eager vs onnxruntime on the real Predictor."""

import argparse
import json
import math

import pytest

from surg_perception import bench_cli as cli
from surg_perception.bench.ratios import backend_speedups

pytestmark = [pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


def _run(p50, backend, dtype="fp32", network=None, low=None):
    return {"backend": backend, "dtype": dtype, "step": {"p50": p50, "min": low or p50},
            "stages": {"network": {"p50": network or p50}}}


def test_speedups_are_eager_over_backend_at_the_same_dtype():
    runs = [_run(100.0, "eager"), _run(50.0, "onnxruntime", network=25.0, low=40.0),
            _run(80.0, "compile", "fp16")]
    assert backend_speedups(runs) == {"speedup_onnxruntime": 2.0,
                                      "speedup_onnxruntime_network": 4.0,
                                      "speedup_onnxruntime_min": 2.5}


def test_bench_runs_onnxruntime_beside_eager(tmp_path, tiny_config_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is the compared backend")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--config", str(tiny_config_path), "--frames", "3", "--warmup",
                              "1", "--threads", "1", "--no-messages", "--backend",
                              "eager,onnxruntime", "--json", str(tmp_path / "b.json")])
    assert cli.run(args) == 0
    data = json.loads((tmp_path / "b.json").read_text())
    assert [r["backend"] for r in data["runs"][:2]] == ["eager", "onnxruntime"]
    assert data["runs"][1]["stages"]["network"]["p50"] > 0
    speedup = data["ratios"]["speedup_onnxruntime"]
    assert isinstance(speedup, float) and math.isfinite(speedup) and speedup > 0
    assert not data["skipped"]
