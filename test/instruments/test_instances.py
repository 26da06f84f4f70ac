"""Instances from hand-drawn masks: components, split by boxes, merge, axis, tip, jaws."""

import cv2
import numpy as np
import pytest

from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.instruments import BoxDetections, InstanceConfig, extract_instances

H, W = 120, 160


def bar(mask, p0, p1, value, thickness=9):
    cv2.line(mask, p0, p1, int(value), thickness)
    return mask


def test_a_bar_from_the_border_has_its_tip_at_the_inner_end():
    types = bar(np.zeros((H, W), np.uint8), (0, 60), (100, 60), 2)
    (inst,) = extract_instances(types)
    assert inst.class_id == 2 and inst.area == np.count_nonzero(types)
    assert inst.shaft_axis.direction[0] == pytest.approx(1.0, abs=1e-3)  # towards the tip
    a, b, c = inst.shaft_axis.line_2d
    assert abs(a * 50 + b * 60 + c) < 0.5 and a * a + b * b == pytest.approx(1.0)
    # The rule: the mean of the pixels within tip_band_px (2) of the farthest along the axis.
    cols = np.nonzero(types)[1]
    assert inst.tip_2d[0] == pytest.approx(cols[cols >= cols.max() - 2].mean(), abs=0.05)
    assert inst.tip_2d[1] == pytest.approx(60, abs=0.05)
    rows, cols = np.nonzero(types)
    assert inst.box == (0.0, rows.min(), cols.max() + 1.0, rows.max() + 1.0)  # pixel edges
    assert inst.jaw_opening is None and inst.score == 1.0


def test_two_types_and_noise_components():
    types = bar(np.zeros((H, W), np.uint8), (0, 20), (80, 20), 1)
    bar(types, (W - 1, 100), (90, 100), 6)
    types[60:63, 60:63] = 3  # 9 pixels: below min_area
    found = extract_instances(types)
    assert [i.class_id for i in found] == [1, 6]
    assert found[1].tip_2d[0] == pytest.approx(86, abs=1.5)  # enters from the right border


def box_of(mask):
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_two_crossing_instruments_of_one_type_stay_two_with_boxes():
    one = bar(np.zeros((H, W), np.uint8), (0, 30), (100, 90), 3)
    two = bar(np.zeros((H, W), np.uint8), (40, H - 1), (90, 20), 3)
    types = np.maximum(one, two)
    assert len(extract_instances(types)) == 1  # one component, nothing to split it
    dets = BoxDetections(np.array([box_of(one), box_of(two)], float), np.array([0.9, 0.8]),
                         np.array([3, 3]))
    found = extract_instances(types, detections=dets)
    assert len(found) == 2 and {i.score for i in found} == {0.9, 0.8}
    assert sum(i.area for i in found) == np.count_nonzero(types)
    assert not (found[0].mask & found[1].mask).any()
    tips = sorted(found, key=lambda i: i.score)
    assert np.hypot(tips[1].tip_2d[0] - 100, tips[1].tip_2d[1] - 90) < 6
    assert np.hypot(tips[0].tip_2d[0] - 90, tips[0].tip_2d[1] - 20) < 6
    low = dets._replace(scores=np.array([0.9, 0.1]))  # one box under detection_score
    assert len(extract_instances(types, detections=low)) == 1
    other = dets._replace(labels=np.array([3, 5]))  # a box of another class claims nothing
    assert len(extract_instances(types, detections=other)) == 1


def test_an_instrument_cut_by_another_is_merged_along_its_axis():
    types = bar(np.zeros((H, W), np.uint8), (0, 60), (120, 60), 4)
    bar(types, (70, 0), (70, H - 1), 2, thickness=15)  # crosses in front
    found = extract_instances(types)
    assert sorted(i.class_id for i in found) == [2, 4]
    sealer = next(i for i in found if i.class_id == 4)
    assert sealer.tip_2d[0] == pytest.approx(124, abs=1.5)
    apart = bar(np.zeros((H, W), np.uint8), (0, 30), (50, 30), 4)
    bar(apart, (W - 1, 90), (100, 90), 4)  # parallel, far off the other's line
    assert len(extract_instances(apart)) == 2


def jawed(opening_deg, length=40):
    """Shaft from the left border, wrist, and two jaws opening symmetrically (parts 1/2/3)."""
    types, parts = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    bar(parts, (0, 60), (60, 60), 1, 11)
    bar(parts, (60, 60), (70, 60), 2, 11)
    half = np.radians(opening_deg / 2)
    tips = [(70 + length * np.cos(half), 60 + s * length * np.sin(half)) for s in (-1, 1)]
    for u, v in tips:
        bar(parts, (72, 60), (round(u), round(v)), 3, 5)
    types[parts > 0] = 1
    return types, parts, np.mean(tips, axis=0)


def test_tip_is_midway_between_open_jaws_and_the_opening_is_measured():
    types, parts, tip = jawed(50)
    (inst,) = extract_instances(types, parts)
    assert np.hypot(*np.subtract(inst.tip_2d, tip)) < 3.0
    assert inst.jaw_opening == pytest.approx(np.radians(50), abs=np.radians(10))
    assert inst.shaft_axis.direction[0] > 0.99


def test_closed_jaws_give_the_distal_end_and_jawless_classes_no_opening():
    types, parts, tip = jawed(0)
    (inst,) = extract_instances(types, parts)
    assert np.hypot(*np.subtract(inst.tip_2d, tip)) < 3.0 and inst.jaw_opening < 0.1
    types[types > 0] = 7
    (tube,) = extract_instances(types, parts)
    assert tube.jaw_opening is None


def test_bad_inputs_are_typed_errors():
    with pytest.raises(ImageFormatError):
        extract_instances(np.zeros((4, 4), np.int32))
    with pytest.raises(ImageFormatError):
        extract_instances(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))
    with pytest.raises(ConfigError):
        InstanceConfig(claim_cover=0.0)
