"""SMA: patch unfold/fold layout, shape preservation, per-sample independence."""

from __future__ import annotations

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.endoarss.sma import SMA, fold_patches, unfold_patches


def test_unfold_groups_pixels_by_offset_inside_their_patch():
    x = torch.arange(1 * 1 * 4 * 6, dtype=torch.float32).reshape(1, 1, 4, 6)
    maps = unfold_patches(x, patch=2)  # [4, 1, 2, 3]: one map per offset (a, b)
    assert maps.shape == (4, 1, 2, 3)
    for a in range(2):
        for b in range(2):
            assert torch.equal(maps[a * 2 + b, 0], x[0, 0, a::2, b::2])
    assert torch.equal(fold_patches(maps, patch=2), x)


def test_fold_inverts_unfold_for_batches_and_channels():
    x = torch.randn(3, 5, 6, 9)
    assert torch.equal(fold_patches(unfold_patches(x, 3), 3), x)


@pytest.mark.parametrize(("patch", "size"), [(1, (7, 9)), (2, (7, 9)), (3, (4, 5))])
def test_sma_keeps_shape_for_any_map_size(patch, size):
    x = torch.randn(2, 16, *size)
    out = SMA(16, patch=patch).eval()(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_samples_in_a_batch_do_not_interact():
    """TESLA's gradient separation relies on this: both tasks share one SMA batch."""
    torch.manual_seed(0)
    sma = SMA(16, patch=2).train()
    x = torch.randn(4, 16, 7, 9)
    together = sma(x)
    for index in range(4):
        alone = sma(x[index : index + 1])[0]
        torch.testing.assert_close(alone, together[index], rtol=1e-5, atol=1e-6)


def test_invalid_settings_are_config_errors():
    with pytest.raises(ConfigError, match="groups"):
        SMA(12, patch=2, groups=8)
    with pytest.raises(ConfigError, match="sma_patch"):
        SMA(16, patch=0)
