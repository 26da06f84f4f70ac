"""Tip offsets in the true tool's frame (evaluation/tip_offsets.py)."""

import numpy as np
import pytest

from surg_perception.evaluation.tip_offsets import offset_stats, tip_offset

# a horizontal tool whose body spans x = 10..59 and whose tip is at its right end, x = 60
MASK = np.zeros((40, 100), bool)
MASK[18:22, 10:60] = True
LINE = (0.0, 1.0, -20.0)  # y = 20
TIP = (60.0, 20.0)


@pytest.mark.parametrize("line", [LINE, tuple(-v for v in LINE)])  # either sign of the line
def test_along_is_positive_beyond_the_tip(line):
    beyond = tip_offset((65.0, 23.0), TIP, line, MASK)
    assert beyond.along == pytest.approx(5.0)
    assert beyond.across == pytest.approx(3.0)
    assert beyond.visible_length == pytest.approx(49.5)
    short = tip_offset((52.0, 20.0), TIP, line, MASK)
    assert short.along == pytest.approx(-8.0) and not short.other_end


def test_a_tip_at_the_far_end_is_counted_as_the_other_end():
    far = tip_offset((11.0, 20.0), TIP, LINE, MASK)
    assert far.other_end
    stats = offset_stats([far, tip_offset((61.0, 20.0), TIP, LINE, MASK)])
    assert stats["n"] == 2 and stats["other_end_share"] == 0.5


def test_no_offset_without_a_mask():
    assert tip_offset((1.0, 1.0), TIP, LINE, np.zeros_like(MASK)) is None
    assert offset_stats([])["other_end_share"] is None
