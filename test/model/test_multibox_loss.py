"""Multibox loss: hard-negative mining ratio, normalisation, shape errors."""

import pytest
import torch

from surg_perception.ops.multibox_loss import hard_negative_mask, multibox_loss


def test_hard_negative_mining_keeps_three_negatives_per_positive_highest_loss_first():
    conf_loss = torch.tensor([[9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0, 0.5, 4.0, 6.0]])
    positive = torch.zeros(1, 10, dtype=torch.bool)
    positive[0, 0] = True
    mask = hard_negative_mask(conf_loss, positive, neg_pos_ratio=3)
    assert mask.sum().item() == 3
    assert mask[0].nonzero().flatten().tolist() == [4, 6, 9]  # losses 7, 8, 6
    assert not (mask & positive).any()


def test_mining_is_per_image_and_capped_by_available_negatives():
    conf_loss = torch.rand(2, 5)
    positive = torch.tensor([[True, True, False, False, False], [False] * 5])
    mask = hard_negative_mask(conf_loss, positive, 3)
    assert mask.sum(dim=1).tolist() == [3, 0]


def test_loss_values_and_normalisation():
    labels = torch.tensor([[1, 0, 0, 0, 0]])
    logits = torch.zeros(1, 5, 3)
    target_deltas = torch.zeros(1, 5, 4)
    deltas = torch.zeros(1, 5, 4)
    deltas[0, 0] = torch.tensor([0.5, 0.0, 0.0, 0.0])  # smooth-L1 = 0.5 * 0.5^2 = 0.125
    loss = multibox_loss(logits, deltas, labels, target_deltas)
    assert torch.isclose(loss.loc, torch.tensor(0.125))
    # 1 positive + 3 mined negatives, each cross-entropy log(3), divided by 1 positive
    assert torch.isclose(loss.conf, 4 * torch.log(torch.tensor(3.0)))
    assert torch.isclose(loss.total, loss.loc + loss.conf)


def test_gradients_flow_and_no_positive_gives_zero_loss():
    logits = torch.randn(2, 6, 4, requires_grad=True)
    deltas = torch.randn(2, 6, 4, requires_grad=True)
    labels = torch.zeros(2, 6, dtype=torch.long)
    labels[0, 2] = 3
    loss = multibox_loss(logits, deltas, labels, torch.zeros(2, 6, 4))
    loss.total.backward()
    assert logits.grad.abs().sum() > 0 and deltas.grad[0, 2].abs().sum() > 0
    empty = multibox_loss(logits, deltas, torch.zeros_like(labels), torch.zeros(2, 6, 4))
    assert empty.total.item() == 0.0


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="model.priors"):
        multibox_loss(torch.zeros(1, 5, 3), torch.zeros(1, 5, 4),
                      torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, 4))
