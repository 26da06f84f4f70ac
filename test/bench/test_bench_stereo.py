"""`surg-perception bench --stereo`: a stereo pair per frame, batched and one step per eye,
with the network-stage ratios over mono (no timing limits: the numbers are BENCHMARKS.md's)."""

import math

import pytest
import torch

from surg_perception.bench.pipeline import StereoStream, make_jpeg_frames
from surg_perception.bench.runner import BenchOptions, run_benchmark
from surg_perception.config import load_spec
from surg_perception.models.registry import build_model


@pytest.fixture(scope="module")
def result(tiny_config_path):
    options = BenchOptions(config=str(tiny_config_path), frames=3, warmup=1, messages=False,
                           threads=1, device="cpu", stereo=True)
    return run_benchmark(options, ["surg-perception", "bench", "--stereo"])


def test_stereo_runs_and_ratios(result):
    names = [run["name"] for run in result["runs"]]
    assert names == ["model", "model without memory", "stereo pair (batched)",
                     "stereo pair (one step per eye)"]
    for key in ("stereo_over_mono_network", "stereo_over_mono_network_min", "stereo_over_mono",
                "stereo_two_steps_over_mono_network"):
        value = result["ratios"][key]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, key
    assert "both eyes in one forward" in result["notes"]["stereo"]


def test_without_stereo_there_are_no_stereo_ratios(tiny_config_path):
    options = BenchOptions(config=str(tiny_config_path), frames=1, warmup=0, messages=False,
                           threads=1, device="cpu", memory=False)
    ratios = run_benchmark(options, [])["ratios"]
    assert not [key for key in ratios if key.startswith("stereo")]


class Calls:
    def __init__(self, model) -> None:
        self.model, self.batches = model, []
        self.batch_streams = True

    def __call__(self, images, state):
        self.batches.append(images.shape[0])
        return self.model(images, state=state)


@pytest.mark.parametrize("batched", [True, False])
def test_stereo_stream_steps_both_eyes_each_with_its_memory(tiny_config_path, batched):
    spec = load_spec(tiny_config_path)
    model = build_model(spec.model).eval()
    calls = Calls(model)
    stream = StereoStream(calls, model, spec, torch.device("cpu"), torch.float32, batched)
    frames = make_jpeg_frames(*spec.preprocess.input_size, 3)
    stream.warm(frames, 1)
    assert stream.right.memory_info()["local_size"] == 0  # warm-up forgotten by both eyes
    with torch.inference_mode():
        spans, _ = stream.process(frames[1], 1)
    assert calls.batches == ([2, 2] if batched else [1, 1, 1, 1])
    assert stream.predictor.memory_info()["local_size"] == 1
    assert stream.right.memory_info()["local_size"] == 1
    assert spans["network"] > 0 and spans["total"] >= spans["network"]
