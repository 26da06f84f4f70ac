"""The foreground-only type cross-entropy (training/losses.py: type_loss, LossWeights.seg_type)."""

import math

import torch

from surg_perception.models.outputs import ModelOutput
from surg_perception.training.config import LossWeights
from surg_perception.training.losses import (
    IGNORE_ACTIVITY,
    FrameTargets,
    task_losses,
    type_loss,
    weighted_total,
)


def _logits(masks: torch.Tensor, classes: int, scale: float = 20.0) -> torch.Tensor:
    return torch.nn.functional.one_hot(masks, classes).permute(0, 3, 1, 2).float() * scale


def _masks() -> torch.Tensor:
    masks = torch.zeros(2, 16, 16, dtype=torch.int64)
    masks[0, 2:6, 3:9] = 3
    masks[1, 8:12, 1:4] = 5
    return masks


def test_only_the_type_of_foreground_pixels_counts():
    masks = _masks()
    assert type_loss(_logits(masks, 8), masks) < 1e-3
    # all background: the type loss does not see it (the instrument/background loss does) ...
    predicted = _logits(torch.zeros_like(masks), 8)
    predicted[:, 3] += 1.0  # ... it only compares the types among themselves: type 3 wins
    at_type_3 = type_loss(predicted, masks)
    wrong_type = masks.clone()
    wrong_type[masks == 3] = 4
    wrong = type_loss(_logits(wrong_type, 8), masks)
    assert wrong > 5.0  # 24 of 36 foreground pixels confidently wrong
    # averaged over the 36 foreground pixels, not the 512 of the frame
    assert abs(wrong.item() - 24 / 36 * 20.0) < 0.1
    assert at_type_3 < wrong


def test_no_foreground_gives_zero_with_a_gradient_path():
    masks = torch.zeros(1, 8, 8, dtype=torch.int64)
    logits = torch.zeros(1, 8, 8, 8, requires_grad=True)
    loss = type_loss(logits, masks)
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def _targets(masks: torch.Tensor) -> FrameTargets:
    return FrameTargets(masks=masks, boxes=[], labels=[], hog=None,
                        activity=torch.full((masks.shape[0],), IGNORE_ACTIVITY))


def test_task_losses_add_it_only_when_asked_and_it_has_its_own_weight():
    masks = _masks()
    output = ModelOutput(seg_logits=torch.zeros(2, 8, 16, 16))
    off = task_losses(output, _targets(masks), None, (0.1, 0.2))
    on = task_losses(output, _targets(masks), None, (0.1, 0.2), type_ce=True)
    assert "seg_type" not in off and "seg_type" in on
    assert abs(on["seg_type"].item() - math.log(7)) < 1e-5  # uniform over the 7 types
    weighted = weighted_total(on, LossWeights(seg_type=2.0), {"seg"})
    assert abs(weighted.item() - (on["seg"] + 2.0 * on["seg_type"]).item()) < 1e-5
    assert weighted_total(on, LossWeights(seg_type=2.0), {"det", "seg"}) == weighted
    # a binary vocabulary has one foreground class: nothing to tell apart, no term
    binary = ModelOutput(seg_logits=torch.zeros(2, 2, 16, 16))
    assert "seg_type" not in task_losses(binary, _targets((masks > 0).long()), None,
                                         (0.1, 0.2), type_ce=True)
