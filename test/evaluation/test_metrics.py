"""Metrics on hand-built masks, boxes and labels, against hand-computed values."""

import math

import numpy as np
import pytest

from surg_perception.evaluation.metrics import (
    DetectionMAP,
    activity_scores,
    class_scores,
    hausdorff_distance,
    pixel_accuracy,
    segmentation_scores,
)


def test_dice_and_iou_match_hand_counts():
    target = np.zeros((4, 4), np.uint8)
    target[0, :] = 1  # 4 pixels of class 1
    target[3, :2] = 2  # 2 pixels of class 2
    pred = np.zeros((4, 4), np.uint8)
    pred[0, :2] = 1  # 2 of the 4 class-1 pixels
    pred[3, :2] = 1  # class-2 pixels called class 1
    pred[2, 0] = 2  # one false class-2 pixel
    scores = segmentation_scores(pred, target, num_classes=3)
    # binary: pred instrument 5 px, target 6 px, overlap 4 -> Dice 8/11, IoU 4/7
    assert scores["binary_dice"] == pytest.approx(8 / 11)
    assert scores["binary_iou"] == pytest.approx(4 / 7)
    # class 1: tp 2, fp 2, fn 2 -> Dice 0.5, IoU 1/3; class 2: tp 0 -> 0, 0
    assert scores["type_dice"] == pytest.approx(0.25)
    assert scores["type_iou"] == pytest.approx(1 / 6)


def test_classes_absent_from_both_are_skipped_and_empty_frames_are_nan():
    target = np.zeros((2, 2), np.uint8)
    target[0, 0] = 3
    scores = segmentation_scores(target.copy(), target, num_classes=8)
    assert scores["type_dice"] == 1.0 and scores["binary_iou"] == 1.0
    empty = segmentation_scores(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), 8)
    assert all(math.isnan(v) for v in empty.values())


def test_hausdorff_distance_of_two_points_and_empty_masks():
    a = np.zeros((5, 5), bool)
    b = np.zeros((5, 5), bool)
    a[0, 0] = True
    b[3, 4] = True
    assert hausdorff_distance(a, b) == pytest.approx(5.0)
    b[0, 0] = True  # b now contains a: a->b 0, b->a 5
    assert hausdorff_distance(a, b) == pytest.approx(5.0)
    assert math.isnan(hausdorff_distance(a, np.zeros_like(a)))


def test_map_at_half_iou():
    metric = DetectionMAP()
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    # one exact hit of class 1, one miss-placed class-2 box (IoU 0) -> AP 1 and 0 -> mAP 0.5
    metric.update(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.9, 0.8]),
                  np.array([1, 2]), gt, np.array([1, 2]))
    assert metric.compute() == pytest.approx(0.5)
    perfect = DetectionMAP()
    # IoU 2/3 (box shifted by 2 px of 10) still counts at the 0.5 threshold
    perfect.update(np.array([[0, 2, 10, 12]]), np.array([0.7]), np.array([1]), gt[:1],
                   np.array([1]))
    assert perfect.compute() == pytest.approx(1.0)
    assert math.isnan(DetectionMAP().compute())


def test_activity_accuracy_and_macro_f1_ignore_unknown_labels():
    scores = activity_scores([0, 1, 1, 2, 5], [0, 1, 2, 2, -1], num_classes=13)
    assert scores["activity_accuracy"] == pytest.approx(0.75)
    # per class F1: 0 -> 1, 1 -> 2/3, 2 -> 2/3 (classes absent from both are ignored)
    assert scores["activity_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert math.isnan(activity_scores([1], [-1], 13)["activity_accuracy"])


def test_class_scores_and_pixel_accuracy_of_a_confusion_matrix():
    matrix = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])  # rows = target, columns = prediction
    dice, iou, present = class_scores(matrix)
    assert present.tolist() == [True, True, False]
    assert dice[:2] == pytest.approx([10 / 13, 4 / 7]) and iou[:2] == pytest.approx([5 / 8, 2 / 5])
    assert dice[2] == 0.0 and iou[2] == 0.0
    assert pixel_accuracy(matrix) == pytest.approx(0.7)
    assert math.isnan(pixel_accuracy(np.zeros((2, 2), np.int64)))
