"""GADP's accuracy-drop metrics are the evaluation module's, on hand-built logits and masks."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import save_checkpoint
from surg_perception.data.clips import ClipBatch
from surg_perception.models.registry import build_model
from surg_perception.pruning.config import PruneConfig
from surg_perception.pruning.data import FrameScores, clip_loss, with_run_loss_weights
from surg_perception.training.config import LossWeights
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


def test_gadp_loss_uses_the_runs_loss_weights(tiny_spec, tmp_path):
    torch.manual_seed(0)
    model = build_model(tiny_spec.model)
    trained = save_checkpoint(tmp_path / "trained.pt", model, tiny_spec, extra={
        "train_config": {"loss_weights": {"seg": 2.0, "det": 0.0, "activity": 1.0, "hog": 0.5}}})
    bare = save_checkpoint(tmp_path / "bare.pt", model, tiny_spec)
    assert with_run_loss_weights(PruneConfig(), trained).loss_weights == LossWeights(
        seg=2.0, det=0.0, activity=1.0, hog=0.5)
    assert with_run_loss_weights(PruneConfig(), bare).loss_weights == LossWeights()
    own = PruneConfig(loss_weights=LossWeights(det=3.0))
    assert with_run_loss_weights(own, trained) is own
    # the weights reach the loss: without its detection term the clip loss is smaller
    spec = dataclasses.replace(tiny_spec, preprocess=dataclasses.replace(
        tiny_spec.preprocess, input_size=(64, 64)))
    rng = np.random.default_rng(0)
    batch = ClipBatch(
        images=torch.from_numpy(rng.integers(0, 256, (1, 2, 64, 64, 3), dtype=np.uint8)),
        masks=torch.zeros(1, 2, 64, 64, dtype=torch.long),
        boxes=[[torch.tensor([[8.0, 8.0, 40.0, 40.0]])] * 2],
        labels=[[torch.tensor([1])] * 2], activity=torch.zeros(1, 2, dtype=torch.long),
        sequences=["s"], frames=torch.arange(2)[None])
    model.eval()
    with torch.no_grad():
        full = clip_loss(model, batch, spec, torch.device("cpu"), LossWeights())
        no_det = clip_loss(model, batch, spec, torch.device("cpu"), LossWeights(det=0.0))
    assert float(no_det) < float(full)
