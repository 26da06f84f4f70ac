"""Corruptions keep shape and dtype, are deterministic by seed and grow with severity."""

import numpy as np
import pytest

from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(1)
    base = np.linspace(40, 220, 96 * 128 * 3).reshape(96, 128, 3)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_determinism_and_monotone_strength(image, name):
    distances = []
    for severity in SEVERITIES:
        out = corrupt(image, name, severity, seed=3)
        assert out.shape == image.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, corrupt(image, name, severity, seed=3))
        distances.append(np.abs(out.astype(float) - image).mean())
    assert distances[0] > 0
    assert distances[-1] > distances[0]


def test_seed_changes_random_corruptions(image):
    assert not np.array_equal(corrupt(image, "gaussian_noise", 3, seed=0),
                              corrupt(image, "gaussian_noise", 3, seed=1))


def test_bad_arguments_are_typed_errors(image):
    with pytest.raises(ConfigError, match="valid names"):
        corrupt(image, "rain", 1)
    with pytest.raises(ConfigError, match="severity"):
        corrupt(image, "smoke", 6)
    with pytest.raises(ImageFormatError):
        corrupt(image.astype(np.float32), "smoke", 1)
