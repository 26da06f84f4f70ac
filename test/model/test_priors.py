"""Prior boxes: counts, order, geometry on non-square inputs."""

import math

import pytest
import torch

from surg_perception.config import DetectionConfig
from surg_perception.errors import ConfigError
from surg_perception.ops.priors import make_priors, priors_per_location


def test_count_matches_feature_map_sizes():
    cfg = DetectionConfig()
    sizes = [(4, 5), (2, 3), (1, 2), (1, 1), (1, 1), (1, 1)]
    priors = make_priors(cfg, sizes, (128, 160))
    per_loc = priors_per_location(cfg)
    assert per_loc == (4, 6, 6, 6, 4, 4)
    assert len(priors) == sum(h * w * a for (h, w), a in zip(sizes, per_loc))


def test_first_cell_order_and_square_pixels_on_non_square_input():
    cfg = DetectionConfig(clip_priors=False)
    priors = make_priors(cfg, [(2, 4)] + [(1, 1)] * 5, (64, 128))
    first = priors[:4]  # cell (0, 0) of map 0: s, sqrt(s s'), ar 2 wide, ar 2 tall
    assert torch.allclose(first[:, :2], torch.tensor([[0.125, 0.25]] * 4))
    s = 0.07
    # widths are fractions of W=128 but scaled from the shorter side (64): square in pixels
    assert math.isclose(first[0, 2].item() * 128, s * 64, rel_tol=1e-5)
    assert math.isclose(first[0, 3].item() * 64, s * 64, rel_tol=1e-5)
    assert math.isclose(first[2, 2].item() * 128 / (first[2, 3].item() * 64), 2.0, rel_tol=1e-5)
    # next prior block is the cell to the right (row-major)
    assert math.isclose(priors[4, 0].item(), 0.375, rel_tol=1e-6)


def test_wrong_number_of_scales_is_a_config_error():
    with pytest.raises(ConfigError, match="gives 7 detection feature maps"):
        make_priors(DetectionConfig(), [(1, 1)] * 6 + [(1, 1)], (32, 32))
