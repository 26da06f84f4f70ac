"""The activity head's pools: what each reads, and that the mask weight trains nothing."""

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.heads.activity_head import ActivityHead


def _scene():
    """A 4x4 feature map whose channel 0 is 10 in one cell, and logits marking that cell."""
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, 1, 2] = 10.0
    seg = torch.zeros(1, 2, 128, 128)
    seg[0, 0] = 8.0  # background everywhere ...
    seg[0, 0, 32:64, 64:96] = -8.0  # ... except under the cell (1, 2) at stride 32
    return x, seg


def test_instrument_pool_reads_the_instrument_cells():
    x, seg = _scene()
    head = ActivityHead(3, 5, pool="instruments").eval()
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.zero_()
        head.fc.weight[0, 3] = 1.0  # class 0 <- instrument-weighted channel 0
        head.fc.weight[1, 0] = 1.0  # class 1 <- frame average of channel 0
        logits = head(x, seg)
    assert logits[0, 0] == pytest.approx(10.0, rel=1e-2)  # the instrument cell's value
    assert logits[0, 1] == pytest.approx(10.0 / 16)  # diluted over the frame
    with torch.no_grad():
        empty = head(x, torch.stack([seg[:, 0].abs(), -seg[:, 0].abs()], dim=1))
    assert abs(float(empty[0, 0])) < 1e-2  # no instrument: the pool is ~0, not NaN


def test_frame_pool_ignores_the_masks():
    x, seg = _scene()
    head = ActivityHead(3, 5).eval()
    assert head.fc.in_features == 3
    with torch.no_grad():
        assert torch.equal(head(x, seg), head(x, -seg))


def test_the_activity_loss_does_not_reach_the_segmentation():
    x, seg = _scene()
    seg.requires_grad_(True)
    x.requires_grad_(True)
    ActivityHead(3, 5, pool="instruments")(x, seg).sum().backward()
    assert seg.grad is None
    assert x.grad is not None


def test_unknown_pool_is_a_config_error():
    with pytest.raises(ConfigError, match="activity_pool"):
        ActivityHead(3, 5, pool="max")
