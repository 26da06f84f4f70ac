"""``scripts/probe_instance_types.py``: the instance-level type confusion on constructed masks."""

import numpy as np
import pytest

from support.scripts import import_script


@pytest.fixture(scope="module")
def probe():
    return import_script("probe_instance_types")


def test_found_wrong_missed_and_small_instruments_are_told_apart(probe):
    truth = np.zeros((40, 60), np.uint8)
    truth[2:12, 2:30] = 3  # found, mostly typed 3 (a patch of 5)
    truth[20:30, 2:30] = 6  # found, typed 2: wrong
    truth[20:30, 40:58] = 6  # a second type-6 instrument: missed (background)
    truth[35:38, 50:53] = 1  # 9 pixels: under min_area, not counted
    pred = np.zeros_like(truth)
    pred[2:12, 2:24] = 3
    pred[2:12, 24:30] = 5
    pred[20:30, 2:30] = 2
    pred[35:38, 50:53] = 1
    counts = probe.instance_confusion(pred, truth, types=7, min_area=20)
    assert counts.shape == (7, 8) and counts.sum() == 3
    assert counts[2, 3] == 1  # type 3 -> 3
    assert counts[5, 2] == 1 and counts[5, 0] == 1  # type 6 -> 2, and one missed
    assert counts[0].sum() == 0  # too small
    # under the "found" share the instrument counts as missed, whatever its vote
    sparse = np.zeros_like(truth)
    sparse[2:4, 2:30] = 3  # 56 of 280 pixels: 0.2 < 0.3
    assert probe.instance_confusion(sparse, truth, 7, 20)[2, 0] == 1
