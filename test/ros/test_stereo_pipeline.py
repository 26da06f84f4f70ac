"""FrameProcessor's stereo path without DDS: both eyes in one batched forward, each eye with
its own memory; a network taking a batch of 1 runs the eyes one step each, and says so;
``stereo.batch`` chooses between the two (auto: batched on CUDA only)."""

import dataclasses
import time

import numpy as np
import pytest
import torch

from surg_perception.data.synth_camera import camera_info, make_camera
from surg_perception.image_msgs import image_to_numpy
from surg_perception.instruments import StereoRig
from surg_perception.predictor import Predictor
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.instrument_stream import batch_eyes
from surg_perception.ros.params import settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.stereo_input import StereoFrame


def _image(sec: int, eye: str, size=(96, 128)):
    pixels = np.random.default_rng([sec, eye == "right"]).integers(0, 256, size + (3,),
                                                                     dtype=np.uint8)
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec = sec
    msg.header.frame_id = eye
    return msg


def _pair(sec: int, right: bool = True) -> StereoFrame:
    return StereoFrame(_image(sec, "left"), False, time.monotonic(),
                       _image(sec, "right") if right else None, 0.0)


class Calls:
    """The eager model as an injected step (no ``batch_streams``: like an exported graph)."""

    def __init__(self, model) -> None:
        self.model, self.batches = model, []

    def __call__(self, images, state):
        self.batches.append(images.shape[0])
        return self.model(images, state=state)


class BatchCalls(Calls):
    """The same, taking any batch (as the eager model does)."""

    batch_streams = True


@pytest.fixture(scope="module")
def setup(tiny_checkpoint):
    settings = settings_from_values({"model.checkpoint": str(tiny_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 1,
                                     "stereo.enabled": True, "stereo.batch": True})
    return load_predictor(settings), settings


def test_pairs_run_as_one_batch_with_a_memory_per_eye(setup):
    predictor, settings = setup
    proc = FrameProcessor(predictor)
    cams = [make_camera(128, 96, eye) for eye in ("left", "right")]
    proc.instruments.set_rig(StereoRig.from_camera_info(*(camera_info(c, (128, 96))
                                                          for c in cams)))
    for sec in range(3):
        assert proc.process(_pair(sec), settings).messages["instruments"].stereo
    proc.process(_pair(3, right=False), settings)  # mono: the right eye waits
    right = proc.instruments._right
    assert predictor.memory_info()["local_size"] == 4
    assert right.memory_info()["local_size"] == 3
    status = proc.status()
    assert status["instruments.stereo_batched"] is True
    assert status["instruments.stereo_frames"] == 3 and status["instruments.mono_frames"] == 1
    # The batched pair gives the left eye what a mono step on the same memory gives.
    solo = predictor.fork()
    for sec in range(5):  # 0..2 paired above, 3 alone, 4 paired below
        mono = solo.step(_pixels(_image(sec, "left")))
    pair = proc.instruments.predict_pair((_pixels(_image(4, "left")), "rgb"),
                                         (_pixels(_image(4, "right")), "rgb"))
    assert pair[0].memory == mono.memory
    assert np.mean(pair[0].mask != mono.mask) < 1e-3
    np.testing.assert_allclose(pair[0].scores, mono.scores, atol=1e-5)
    alone = proc.instruments.right_step(_pixels(_image(5, "right")), "rgb")
    assert alone.mask.shape == (96, 128) and not alone.memory["reset"]  # the right memory


def test_a_network_of_batch_one_runs_each_eye_and_says_so(setup, caplog):
    predictor, settings = setup
    calls = Calls(predictor.model)
    proc = FrameProcessor(Predictor(predictor.model, predictor.spec, network=calls))
    with caplog.at_level("WARNING", logger="surg_perception.predictor"):
        for sec in range(2):
            out = proc.process(_pair(sec), settings)
    assert calls.batches == [1, 1, 1, 1]
    assert out.messages["instruments"].stereo is False  # no camera_info: no rig, 2D only
    assert proc.status()["instruments.stereo_batched"] is False
    assert sum("one network step each" in r.message for r in caplog.records) == 1
    mono_only = dataclasses.replace(settings, publish_instruments=False,
                                    publish_instrument_markers=False)
    proc.process(_pair(5), mono_only)  # no instrument output: the right eye is not run
    assert calls.batches == [1, 1, 1, 1, 1]


def _pixels(msg) -> np.ndarray:
    return image_to_numpy(msg)[0]


@pytest.mark.parametrize("mode, batches, batched", [
    ("true", [2, 2], True), (True, [2, 2], True),
    ("false", [1, 1, 1, 1], False), (False, [1, 1, 1, 1], False),
    ("auto", [1, 1, 1, 1], False),  # on the CPU two steps are faster (BENCHMARKS.md)
])
def test_stereo_batch_chooses_one_forward_or_a_step_per_eye(setup, caplog, mode, batches,
                                                            batched):
    predictor, settings = setup
    settings = dataclasses.replace(settings, stereo_batch=mode)
    calls = BatchCalls(predictor.model)
    proc = FrameProcessor(Predictor(predictor.model, predictor.spec, network=calls))
    assert "instruments.stereo_batched" not in proc.status()  # no pair yet: nothing to say
    with caplog.at_level("WARNING", logger="surg_perception.predictor"):
        outs = [proc.process(_pair(sec), settings) for sec in range(2)]
    assert calls.batches == batches
    assert proc.status()["instruments.stereo_batched"] is batched
    assert not any("one network step each" in r.message for r in caplog.records)  # chosen
    # Either way one memory per eye (batched == per-eye steps: test_batched_eyes.py).
    right = proc.instruments._right
    assert proc.predictor.memory_info()["local_size"] == right.memory_info()["local_size"] == 2
    assert not outs[-1].memory_reset


def test_auto_batches_on_cuda_only():
    assert batch_eyes("auto", torch.device("cuda", 0)) is True
    assert batch_eyes("auto", torch.device("cpu")) is False
    for mode, device in ((True, "cpu"), ("true", "cpu"), ("TRUE", "cuda")):
        assert batch_eyes(mode, torch.device(device)) is True
    for mode, device in ((False, "cuda"), ("false", "cuda"), ("false", "cpu")):
        assert batch_eyes(mode, torch.device(device)) is False


def test_warmup_runs_the_pair_batch_only_when_pairs_batch(tiny_checkpoint, monkeypatch):
    """load_predictor warms a batch of 2 for stereo only where the pairs will batch."""
    seen = []
    original = Predictor.warmup

    def warmup(self, height, width, steps=2, streams=1):
        seen.append(streams)
        original(self, height, width, steps, streams)

    monkeypatch.setattr(Predictor, "warmup", warmup)
    for mode, want in (("true", [1, 2]), ("auto", [1]), ("false", [1])):
        seen.clear()
        load_predictor(settings_from_values({
            "model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
            "model.warmup_steps": 1, "stereo.enabled": True, "stereo.batch": mode}))
        assert seen == want, mode
