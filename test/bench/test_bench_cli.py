"""`surg-perception bench` end to end on the tiny config: JSON structure, no timing limits."""

import argparse
import importlib.util
import json
import math

import pytest

from surg_perception import bench_cli as cli
from surg_perception.bench.report import HEADER
from surg_perception.errors import ConfigError

STAT_KEYS = {"min", "mean", "p50", "p95", "p99", "max", "std"}


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def result(tmp_path_factory, tiny_config_path):
    out = tmp_path_factory.mktemp("bench")
    args = _parse(["--config", str(tiny_config_path), "--frames", "3", "--warmup", "1",
                   "--pruned", "--threads", "1", "--json", str(out / "bench.json"),
                   "--markdown", str(out / "BENCHMARKS.md"), "--backends", "eager,cudagraph",
                   "--dtypes", "fp32,fp16"])
    assert cli.run(args) == 0
    return json.loads((out / "bench.json").read_text()), (out / "BENCHMARKS.md").read_text()


def _finite_positive(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_ratios_are_present_and_measured(result):
    data, _ = result
    ratios = data["ratios"]
    for key in ("pruned_over_unpruned", "memory_overhead", "message_over_memcpy"):
        assert key in ratios
    assert _finite_positive(ratios["pruned_over_unpruned"])
    assert math.isfinite(ratios["memory_overhead"]) and ratios["memory_overhead"] > -1.0
    assert ratios["pruned_params_over_unpruned"] == pytest.approx(22.4 / 38.1, abs=0.02)
    if importlib.util.find_spec("rclpy") is not None:  # the message stage needs ROS
        assert _finite_positive(ratios["message_over_memcpy"])


def test_runs_have_finite_stage_statistics(result):
    data, _ = result
    names = [run["name"] for run in data["runs"]]
    assert names == ["model", "model without memory", "pruned model"]
    for run in data["runs"]:
        assert {"decode", "host_to_device", "preprocess", "network", "postprocess",
                "device_to_host"} <= set(run["stages"])
        for values in [*run["stages"].values(), run["step"], run["latency"]]:
            assert set(values) == STAT_KEYS
            assert all(math.isfinite(v) and v >= 0 for v in values.values())
            assert values["min"] <= values["p50"] <= values["p99"] <= values["max"]
        assert _finite_positive(run["throughput_fps"]) and run["dropped_frames"] == 0
        assert run["latency"]["p50"] >= run["step"]["p50"]  # latency includes the step


def test_unavailable_backends_are_reported_with_a_reason(result):
    data, markdown = result
    if data["machine"]["device"] != "cpu":
        pytest.skip("only on a machine without CUDA")
    skipped = {(s["backend"], s["dtype"]) for s in data["skipped"]}
    assert skipped == {("eager", "fp16"), ("cudagraph", "fp32"), ("cudagraph", "fp16")}
    assert all(s["reason"] for s in data["skipped"])
    assert "CUDA graphs need a CUDA device" in markdown


def test_markdown_has_header_machine_and_tables(result):
    data, markdown = result
    assert markdown.startswith(HEADER)
    assert data["machine"]["cpu"] in markdown and "| network |" in markdown
    assert "pruned_over_unpruned" in markdown


def test_bad_options_raise_config_errors(tiny_config_path):
    with pytest.raises(ConfigError, match="--frames"):
        cli.options_from_args(_parse(["--frames", "0"]))
    with pytest.raises(SystemExit):
        _parse(["--backends", "onnx"])
