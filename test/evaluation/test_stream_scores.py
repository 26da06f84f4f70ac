"""Stream scores (what ``make demo`` prints) on synthetic frames with constructed predictions."""

import math

import numpy as np
import pytest

from surg_perception.classes import ACTIVITIES, ENDOVIS17_INSTRUMENT_TYPES
from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError
from surg_perception.evaluation.stream_scores import FramePrediction, score_stream

CLASSES = ENDOVIS17_INSTRUMENT_TYPES  # background + 7 types: the tiny model's vocabulary


@pytest.fixture(scope="module")
def truths(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synth_dataset(root, SynthConfig(sequences=1, frames=6, size=(128, 96), seed=3))
    dataset = EndoVis17Dataset(root, [1], target="type", frame_size=None, crop="none")
    samples = [dataset[i] for i in range(len(dataset))]
    assert all(s.labels.size for s in samples), "every frame should show an instrument"
    assert all(s.activity >= 0 for s in samples)
    return samples


def perfect(truth) -> FramePrediction:
    return FramePrediction(truth.mask.copy(), truth.boxes.copy(),
                           np.ones(len(truth.labels), np.float32), truth.labels.copy(),
                           truth.activity)


def empty(truth) -> FramePrediction:
    boxes, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    wrong = (truth.activity + 1) % len(ACTIVITIES)
    return FramePrediction(np.zeros_like(truth.mask), boxes, np.zeros(0, np.float32), labels,
                           wrong)


def test_ground_truth_as_prediction_scores_one(truths):
    scores = score_stream([perfect(t) for t in truths], truths, CLASSES, len(ACTIVITIES))
    assert (scores["frames"], scores["frames_scored"], scores["frames_dropped"]) == (6, 6, 0)
    for key in ("binary_dice", "binary_iou", "type_dice", "type_iou", "map50",
                "activity_accuracy"):
        assert scores[key] == pytest.approx(1.0), key
    assert scores["protocol"]["iou"] == pytest.approx(1.0)
    assert scores["protocol"]["challenge_iou"] == pytest.approx(1.0)
    assert scores["protocol"]["mc_iou"] == pytest.approx(1.0)


def test_empty_prediction_scores_zero(truths):
    scores = score_stream([empty(t) for t in truths], truths, CLASSES, len(ACTIVITIES))
    for key in ("binary_dice", "type_dice", "type_iou", "map50", "activity_accuracy"):
        assert scores[key] == 0.0, key
    assert scores["protocol"]["challenge_iou"] == 0.0


def test_wrong_types_lower_type_dice_only(truths):
    def retyped(truth):
        shifted = np.where(truth.mask > 0, truth.mask % 7 + 1, 0).astype(np.uint8)
        return FramePrediction(shifted, truth.boxes, np.ones(len(truth.labels), np.float32),
                               truth.labels % 7 + 1, truth.activity)

    scores = score_stream([retyped(t) for t in truths], truths, CLASSES, len(ACTIVITIES))
    assert scores["binary_dice"] == pytest.approx(1.0)
    assert scores["type_dice"] == 0.0 and scores["map50"] == 0.0


def test_dropped_frames_are_counted_not_scored(truths):
    predictions = [perfect(t) for t in truths]
    predictions[1] = predictions[4] = None
    scores = score_stream(predictions, truths, CLASSES, len(ACTIVITIES))
    assert (scores["frames_scored"], scores["frames_dropped"]) == (4, 2)
    # a dropped frame scored as an empty prediction would pull these below 1
    assert scores["binary_dice"] == pytest.approx(1.0) and scores["map50"] == pytest.approx(1.0)


def test_nothing_published_has_no_scores(truths):
    scores = score_stream([None] * len(truths), truths, CLASSES, len(ACTIVITIES))
    assert scores["frames_scored"] == 0 and scores["frames_dropped"] == len(truths)
    assert math.isnan(scores["binary_dice"]) and math.isnan(scores["map50"])
    assert "activity_accuracy" not in scores


def test_one_prediction_per_frame_is_required(truths):
    with pytest.raises(ConfigError, match="one entry per frame"):
        score_stream([perfect(truths[0])], truths, CLASSES, len(ACTIVITIES))
