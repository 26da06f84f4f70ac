"""Both eyes through one batched forward (``step_streams``) == each eye on its own predictor.

The tiny model with its dual memory (local window + global bank): a batch of 2 with the two
eyes' states stacked must give every eye what a batch-of-1 step of its own would, frame
after frame, through resets and a size change of one eye.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
import torch

from surg_perception.config import load_spec
from surg_perception.errors import ConfigError
from surg_perception.models.memory.batch import split_state, stack_states
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor, step_streams

CONFIGS = Path(__file__).parents[2] / "config" / "models"
FRAMES = 6


def _model(name: str):
    spec = load_spec(CONFIGS / name)
    # An untrained model is never confident: admit every novel frame into the global bank,
    # so that it takes part in the comparison.
    memory = dataclasses.replace(spec.model.memory, alpha=-1e3)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=memory))
    torch.manual_seed(0)
    return build_model(spec.model).eval(), spec


@pytest.fixture(scope="module")
def tiny():
    return _model("tiny.yaml")


def eye_frames(count: int, height: int = 96, width: int = 128, seed: int = 0):
    """(left, right) pairs: smooth noise, the right eye a few pixels shifted, plus noise."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        base = rng.integers(0, 256, (height, width + 8, 3), np.uint8)
        right = base[:, :width].astype(np.int16) + rng.integers(-20, 20, (height, width, 3))
        pairs.append((np.ascontiguousarray(base[:, 8:]), np.clip(right, 0, 255).astype(np.uint8)))
    return pairs


def assert_same(got, want):
    assert got.memory == want.memory
    # Logit ties can flip a pixel's arg-max between batch sizes; nothing beyond that.
    assert np.mean(got.mask != want.mask) < 1e-3
    assert got.boxes.shape == want.boxes.shape
    # An untrained model scores many boxes alike: equal scores may come out in either order
    # between batch sizes, so detections are paired one to one before they are compared.
    cost = np.abs(got.boxes[:, None] - want.boxes[None]).sum(-1) \
        + np.abs(got.scores[:, None] - want.scores[None]) * 1e3
    rows, cols = linear_sum_assignment(cost)
    np.testing.assert_allclose(got.boxes[rows], want.boxes[cols], atol=1e-3)
    np.testing.assert_allclose(got.scores[rows], want.scores[cols], atol=1e-5)
    np.testing.assert_array_equal(got.labels[rows], want.labels[cols])
    np.testing.assert_allclose(got.activity_probs, want.activity_probs, atol=1e-5)


def assert_same_state(got: Predictor, want: Predictor):
    for a, b in zip(got._state.to_tuple(), want._state.to_tuple()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_batched_eyes_match_one_step_per_eye(tiny):
    model, spec = tiny
    left = Predictor(model, spec)
    right = left.fork()
    # Per-eye post-processing: the right eye decodes with its own threshold.
    right.postprocess = dataclasses.replace(right.postprocess, score_threshold=0.2)
    solo_left, solo_right = left.fork(), right.fork()
    solo_left.postprocess = left.postprocess
    pairs = eye_frames(FRAMES)
    for index, (frame_l, frame_r) in enumerate(pairs):
        if index == 3:  # one eye starts over: it joins the batch with an empty memory
            right.reset()
            solo_right.reset()
        got = step_streams([left, right], [frame_l, frame_r], ["rgb", "bgr"], [True, False])
        want = [solo_left.step(frame_l, "rgb", True), solo_right.step(frame_r, "bgr")]
        for g, w in zip(got, want):
            assert_same(g, w)
        assert got[1].color_mask is None
        np.testing.assert_array_equal(got[0].color_mask[got[0].mask == want[0].mask],
                                      want[0].color_mask[got[0].mask == want[0].mask])
        assert_same_state(left, solo_left)
        assert_same_state(right, solo_right)
    assert left.memory_info()["global_size"] > 0  # the global bank took part too
    assert left.memory_info() != right.memory_info()  # two memories, not one shared
    assert got[0].timings_ms == got[1].timings_ms  # one batch, one set of stage times


def test_one_eye_changing_size_resets_only_its_memory(tiny):
    model, spec = tiny
    left = Predictor(model, spec)
    right = left.fork()
    (frame_l, frame_r), (next_l, _) = eye_frames(2)
    step_streams([left, right], [frame_l, frame_r], ["rgb", "rgb"])
    bigger = np.zeros((120, 150, 3), np.uint8)
    got = step_streams([left, right], [next_l, bigger], ["rgb", "rgb"])
    assert got[0].memory["local_size"] == 2 and not got[0].memory["reset"]
    assert got[1].memory["local_size"] == 1 and got[1].memory["reset"]
    assert got[1].mask.shape == (120, 150)


def test_state_stack_and_split_round_trip(tiny):
    model, spec = tiny
    eyes = [Predictor(model, spec) for _ in range(2)]
    for eye, (frame, _) in zip(eyes, eye_frames(2, seed=3)):
        eye.step(frame)
    stacked = stack_states([eyes[0]._state, None, eyes[1]._state])
    assert stacked.batch_size == 3 and stacked.info()["local_size"] == [1, 0, 1]
    back = split_state(stacked, 3)
    for a, b in zip(back[2].to_tuple(), eyes[1]._state.to_tuple()):
        assert torch.equal(a, b)
    assert stack_states([None, None]) is None


class Counting:
    """The eager model as an injected step, recording the batch of every call."""

    def __init__(self, model, batch_streams: bool) -> None:
        self.model, self.batches = model, []
        if batch_streams:
            self.batch_streams = True

    def __call__(self, images, state):
        self.batches.append(images.shape[0])
        return self.model(images, state=state)


@pytest.mark.parametrize("batch_streams", [True, False])
def test_injected_step_batches_only_when_it_says_so(tiny, caplog, batch_streams):
    model, spec = tiny
    step = Counting(model, batch_streams)
    left = Predictor(model, spec, network=step)
    right = left.fork()
    solo = Predictor(model, spec)
    with caplog.at_level(logging.WARNING, logger="surg_perception.predictor"):
        for frame_l, frame_r in eye_frames(3, seed=5):
            got = step_streams([left, right], [frame_l, frame_r], ["rgb", "rgb"])
            assert_same(got[0], solo.step(frame_l))
    assert step.batches == ([2] * 3 if batch_streams else [1] * 6)
    said = [r.message for r in caplog.records if "one network step each" in r.message]
    assert len(said) == (0 if batch_streams else 1)  # once, not every pair
    assert (left.batch_reason() == "") == batch_streams
    if not batch_streams:
        assert "batch_streams = True" in said[0]


def test_streams_must_share_the_network(tiny):
    model, spec = tiny
    other_model, _ = _model("tiny.yaml")
    frame, _ = eye_frames(1)[0]
    with pytest.raises(ConfigError, match="fork"):
        step_streams([Predictor(model, spec), Predictor(other_model, spec)], [frame] * 2,
                     ["rgb"] * 2)
    with pytest.raises(ConfigError, match="one frame"):
        step_streams([Predictor(model, spec)], [frame] * 2, ["rgb"])
    with pytest.raises(ConfigError, match="one frame"):
        step_streams([], [], [])


def test_model_without_memory_batches_too():
    model, spec = _model("endoarss_tiny.yaml")
    left = Predictor(model, spec)
    right, solo = left.fork(), left.fork()
    frame_l, frame_r = eye_frames(1, *spec.preprocess.input_size)[0]
    got = step_streams([left, right], [frame_l, frame_r], ["rgb", "rgb"])
    assert_same(got[1], solo.step(frame_r))
