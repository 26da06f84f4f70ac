"""HOG targets: float, right length, not integer-truncated; head absent in eval."""

import numpy as np
import pytest

from surg_perception.config import HogConfig
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.ops.hog import hog_dim, hog_targets


def test_targets_are_float_and_match_hog_dim():
    cfg = HogConfig(image_size=(32, 48), pixels_per_cell=8, cells_per_block=2, orientations=9)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 40, 56, 3), dtype=np.uint8)
    out = hog_targets(images, cfg)
    assert out.dtype == np.float32
    assert out.shape == (2, hog_dim(cfg)) == (2, 3 * 5 * 36)
    # the published bug cast these to int (all zeros); real targets have fractional values
    assert np.any((out > 0) & (out < 1))


def test_grayscale_and_edge_image():
    cfg = HogConfig(image_size=(32, 32), pixels_per_cell=8)
    image = np.zeros((1, 32, 32), dtype=np.float32)
    image[:, :, 16:] = 1.0  # one vertical edge: gradients only in the horizontal direction
    out = hog_targets(image, cfg)
    assert out.shape == (1, hog_dim(cfg)) and out.max() > 0


def test_bad_inputs():
    with pytest.raises(ConfigError, match="pixels_per_cell"):
        hog_dim(HogConfig(image_size=(16, 16), pixels_per_cell=16))
    with pytest.raises(ImageFormatError):
        hog_targets(np.zeros((2, 8, 8, 4)), HogConfig(image_size=(32, 32), pixels_per_cell=8))
