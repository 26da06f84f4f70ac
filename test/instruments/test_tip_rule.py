"""The 2D tip rule against the generator's definition: masks drawn with a known tip point."""

import cv2
import numpy as np
import pytest

from surg_perception.instruments import extract_instances

H, W = 200, 260


def _jaw(parts, pivot, direction, length, thickness=7):
    end = np.asarray(pivot) + length * np.asarray(direction)
    cv2.line(parts, tuple(int(round(v)) for v in pivot), tuple(int(round(v)) for v in end),
             3, thickness)
    return end


@pytest.mark.parametrize("bend_deg", [0.0, 20.0])
def test_open_jaws_tip_is_midway_between_the_jaw_ends(bend_deg):
    """Shaft from the left border, a wrist bend, two jaws opening 40 deg in the image plane:
    the generator's tool tip is the midpoint of the two jaws' centre-line ends, which lies
    in the gap between them (outside the mask)."""
    parts = np.zeros((H, W), np.uint8)
    pivot = np.array([120.0, 100.0])
    cv2.line(parts, (0, 100), (int(pivot[0]) - 8, 100), 1, 15)  # shaft (part 1)
    bend = np.radians(bend_deg)
    ends = [_jaw(parts, pivot, (np.cos(bend + s), np.sin(bend + s)), 70.0)
            for s in (np.radians(20), -np.radians(20))]
    truth = (ends[0] + ends[1]) / 2
    types = np.where(parts > 0, 1, 0).astype(np.uint8)
    assert not types[int(truth[1]), int(truth[0])]  # the tip point is in the gap
    (inst,) = extract_instances(types, parts)
    assert np.hypot(*(np.subtract(inst.tip_2d, truth))) < 2.5
    assert inst.jaw_opening == pytest.approx(np.radians(40), abs=np.radians(4))


def test_tube_tip_is_the_end_of_its_rounded_tip_part():
    """The jawless tube ends in a hemisphere (synth_geometry._tube_tip) and its tip is the
    end of the axis: the farthest point, not the mean of a band behind it."""
    parts = np.zeros((H, W), np.uint8)
    d = np.array([np.cos(np.radians(25)), np.sin(np.radians(25))])
    joint = np.array([0.0, 40.0]) + 150 * d
    centre = joint + 30 * d  # the rounded end's centre; radius 8
    cv2.line(parts, (0, 40), tuple(int(round(v)) for v in joint), 1, 17)
    cv2.line(parts, tuple(int(round(v)) for v in joint), tuple(int(round(v)) for v in centre),
             3, 17)
    truth = centre + 8.0 * d
    types = np.where(parts > 0, 7, 0).astype(np.uint8)
    (inst,) = extract_instances(types, parts)
    assert inst.jaw_opening is None
    assert np.hypot(*(np.subtract(inst.tip_2d, truth))) < 1.0
