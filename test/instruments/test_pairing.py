"""Approximate-time pairing of left/right stamps with a slop; the skew is measured."""

import numpy as np
import pytest

from surg_perception.errors import ConfigError
from surg_perception.instruments import pair_stamps


def test_jittered_streams_pair_one_to_one_and_report_the_skew():
    rng = np.random.default_rng(0)
    left = np.arange(50) / 30.0
    right = left + rng.uniform(-0.004, 0.004, 50)
    right = np.delete(right, [10, 11])  # the right eye dropped two frames
    out = pair_stamps(left, right, slop=0.01)
    assert len(out.pairs) == 48 and out.unpaired_left == (10, 11) and out.unpaired_right == ()
    assert all(abs(right[j] - left[i]) <= 0.004 for i, j in out.pairs)
    assert np.allclose(out.skew_s, [right[j] - left[i] for i, j in out.pairs])
    assert out.max_abs_skew_s <= 0.004
    assert len({j for _, j in out.pairs}) == 48


def test_slop_unordered_input_and_edge_cases():
    out = pair_stamps([0.2, 0.0, 0.1], [0.13, 0.001], slop=0.02)
    assert set(out.pairs) == {(1, 1)} and out.unpaired_left == (0, 2)  # 0.13 is 0.03 off
    assert pair_stamps([], [1.0], 0.1).unpaired_right == (0,)
    assert pair_stamps([1.0], [1.05], 0.1).pairs == ((0, 0),)
    with pytest.raises(ConfigError):
        pair_stamps([0.0], [0.0], -1.0)
