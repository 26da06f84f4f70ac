"""GADP's accuracy-drop metrics are the evaluation module's, on hand-built logits and masks."""

import math

import pytest
import torch

from surg_perception.pruning.data import FrameScores
from surg_perception.training.losses import IGNORE_ACTIVITY


def _logits(pred: torch.Tensor, classes: int) -> torch.Tensor:
    """``[B, H, W]`` class ids -> one-hot logits ``[B, C, H, W]`` whose argmax is ``pred``."""
    return torch.nn.functional.one_hot(pred, classes).permute(0, 3, 1, 2).float()


def test_dice_per_frame_and_activity_over_known_labels():
    masks = torch.zeros(2, 4, 4, dtype=torch.long)
    masks[0, 0, :] = 1  # frame 0: 4 px of class 1
    masks[1, 1, :2] = 2  # frame 1: 2 px of class 2
    pred = masks.clone()
    pred[0, 0, 2:] = 0  # frame 0 finds half of class 1 -> Dice 2*2/(2+4)
    pred[1, 3, 0] = 1  # frame 1: one false class-1 pixel
    scores = FrameScores()
    scores.add(_logits(pred, 3), masks, torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
               torch.tensor([1, IGNORE_ACTIVITY]))
    # frame 1: binary 2*2/(3+2); type: class 2 perfect, class 1 false positive -> (1 + 0) / 2
    summary = scores.summary(num_activities=2)
    assert summary["binary_dice"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert summary["type_dice"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert summary["activity_accuracy"] == 1.0  # the unknown label of frame 1 is ignored


def test_frames_without_instruments_have_no_score():
    scores = FrameScores()
    empty = torch.zeros(1, 4, 4, dtype=torch.long)
    scores.add(_logits(empty, 3), empty, None, torch.tensor([IGNORE_ACTIVITY]))
    summary = scores.summary(num_activities=2)
    assert math.isnan(summary["binary_dice"]) and "activity_accuracy" not in summary
