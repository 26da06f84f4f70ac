"""The segmentation loss's soft Dice term (training/losses.py) on constructed masks."""

import torch

from surg_perception.training.losses import soft_dice_loss


def _logits(masks: torch.Tensor, classes: int, scale: float = 50.0) -> torch.Tensor:
    return torch.nn.functional.one_hot(masks, classes).permute(0, 3, 1, 2).float() * scale


def test_perfect_prediction_costs_nothing_and_all_background_costs_the_most():
    masks = torch.zeros(2, 16, 16, dtype=torch.int64)
    masks[0, 2:6, 3:9] = 3
    masks[1, 8:12, 1:4] = 5
    assert soft_dice_loss(_logits(masks, 8), masks) < 1e-3
    background = soft_dice_loss(_logits(torch.zeros_like(masks), 8), masks)
    # binary Dice 0 and the two present types at Dice 0: the loss is near its maximum
    assert background > 1.2
    wrong_type = masks.clone()
    wrong_type[masks == 3] = 4  # instrument found, type wrong
    mixed = soft_dice_loss(_logits(wrong_type, 8), masks)
    assert 1e-3 < mixed < background


def test_gradient_reaches_every_class_logit():
    masks = torch.zeros(1, 8, 8, dtype=torch.int64)
    masks[0, 2:5, 2:5] = 1
    logits = torch.zeros(1, 8, 8, 8, requires_grad=True)
    soft_dice_loss(logits, masks).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
