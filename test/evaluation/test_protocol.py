"""ISINet's protocol (Challenge IoU, IoU, mcIoU, per-class IoU) on hand-computed frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surg_perception.errors import ImageFormatError
from surg_perception.evaluation.pool import pool
from surg_perception.evaluation.protocol import (
    ProtocolAccumulator,
    ProtocolScores,
    frame_scores,
    part_frame_iou,
)
from surg_perception.evaluation.report import protocol_table, write_json

NAMES = ("A", "B", "C")


def _frames() -> list[tuple[np.ndarray, np.ndarray]]:
    """(prediction, ground truth) pairs of 2x6 masks, classes 1..3; scores in the test below."""
    def m(*rows):
        return np.array(rows, np.uint8)
    return [
        # class 1: I 2, U 6 -> 1/3; class 2 missed -> 0; class 3 only predicted -> 0
        (m([1, 1, 1, 1, 0, 0], [0, 0, 3, 0, 0, 0]), m([0, 0, 1, 1, 1, 1], [2, 2, 2, 2, 0, 0])),
        (m([0] * 6, [0] * 6), m([0] * 6, [0] * 6)),                 # nothing anywhere: skipped
        (m([3, 3, 0, 0, 0, 0], [0] * 6), m([0] * 6, [0] * 6)),      # empty GT, false class 3
        (m([0] * 6, [0] * 6), m([1, 1, 0, 0, 0, 0], [0] * 6)),      # empty prediction
        (m([0, 2, 2, 0, 0, 0], [0] * 6), m([0, 2, 2, 0, 0, 0], [0] * 6)),  # perfect class 2
    ]


def test_frame_scores_by_hand() -> None:
    (p0, g0), (p1, g1), (p2, g2), (p3, g3), _ = _frames()
    first = frame_scores(p0, g0, 3)
    assert first.iou == pytest.approx(1 / 9) and first.challenge_iou == pytest.approx(1 / 6)
    np.testing.assert_allclose(first.class_iou, [1 / 3, 0, 0])
    empty = frame_scores(p1, g1, 3)
    assert math.isnan(empty.iou) and math.isnan(empty.challenge_iou)
    assert np.isnan(empty.class_iou).all()
    false_only = frame_scores(p2, g2, 3)
    assert false_only.iou == 0 and math.isnan(false_only.challenge_iou)
    np.testing.assert_array_equal(np.isnan(false_only.class_iou), [True, True, False])
    missed = frame_scores(p3, g3, 3)
    assert missed.iou == 0 and missed.challenge_iou == 0 and missed.class_iou[0] == 0
    with pytest.raises(ImageFormatError, match="same"):
        frame_scores(p0, g0[:, :4], 3)


def test_dataset_scores_by_hand() -> None:
    acc = ProtocolAccumulator(4)  # class 4 never occurs
    for pred, gt in _frames():
        acc.update(pred, gt)
    out = acc.summary(NAMES + ("D",))
    assert out["iou"] == pytest.approx((1 / 9 + 0 + 0 + 1) / 4)          # 4 frames scored
    assert out["challenge_iou"] == pytest.approx((1 / 6 + 0 + 1) / 3)    # empty GT skipped
    classes = out["class_iou"]
    assert classes["A"] == pytest.approx((1 / 3 + 0) / 2)
    assert classes["B"] == pytest.approx((0 + 1) / 2)
    assert classes["C"] == 0 and math.isnan(classes["D"])
    assert out["mc_iou"] == pytest.approx((1 / 6 + 1 / 2 + 0) / 3)       # D left out (ISINet)
    assert out["state"]["frames"] == 5 and out["state"]["iou_frames"] == 4


def _isinet_reference(frames, num_classes):
    """ISINet's inference-loop metric code, transcribed (lists of per-frame values)."""
    all_iou, all_challenge = [], []
    class_ious = {c: [] for c in range(1, num_classes + 1)}
    for prediction, target in frames:
        gt_classes = np.unique(target)
        gt_classes = gt_classes[gt_classes > 0]
        if np.sum(prediction) == 0:
            if target.sum() > 0:
                all_iou.append(0)
                all_challenge.append(0)
                for c in gt_classes:
                    class_ious[c].append(0)
            continue
        im_iou, im_challenge = [], []
        for c in range(1, num_classes + 1):
            p, t = (prediction == c).astype(float), (target == c).astype(float)
            if p.sum() != 0 or t.sum() != 0:
                i, u = (p * t).sum(), (p + t - p * t).sum()
                im_iou.append(i / u)
                class_ious[c].append(i / u)
                if c in gt_classes:
                    im_challenge.append(i / u)
        if im_iou:
            all_iou.append(np.mean(im_iou))
        if im_challenge:
            all_challenge.append(np.mean(im_challenge))
    mc = np.mean([np.mean(v) for v in class_ious.values() if v])
    return np.mean(all_challenge), np.mean(all_iou), mc


def test_matches_isinet_code_on_random_frames() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for k in range(40):
        gt = rng.integers(0, 8, (12, 16)) * (rng.random((12, 16)) < 0.3)
        pred = np.where(rng.random((12, 16)) < 0.7, gt, rng.integers(0, 8, (12, 16)))
        if k % 7 == 0:
            gt[:] = 0  # empty ground truth, prediction with false positives
        if k % 11 == 0:
            pred[:] = 0
        frames.append((pred.astype(np.uint8), gt.astype(np.uint8)))
    acc = ProtocolAccumulator(7)
    for pred, gt in frames:
        acc.update(pred, gt)
    out = acc.summary([str(c) for c in range(1, 8)])
    challenge, iou, mc = _isinet_reference(frames, 7)
    assert (out["challenge_iou"], out["iou"], out["mc_iou"]) == pytest.approx((challenge, iou, mc))


def test_part_iou_by_hand() -> None:
    empty = np.zeros((2, 4), np.uint8)
    assert part_frame_iou(empty, empty) == 1.0
    assert part_frame_iou(np.array([[0, 1, 0, 0], [0] * 4], np.uint8), empty) == 0.0
    gt = np.array([[1, 1, 2, 2], [3, 3, 0, 0]], np.uint8)
    pred = np.array([[1, 1, 1, 2], [0, 0, 0, 0]], np.uint8)
    # shaft I2/U3, wrist I1/U2, claspers missed 0 -> mean over the GT's parts
    assert part_frame_iou(pred, gt) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    scores = ProtocolScores(())  # no vocabulary: no type rows, the part hook still works
    scores.update({"box_fill_on": pred}, gt)
    scores.update_parts(pred, gt)
    assert set(scores.summary()) == {"part_iou"}
    assert scores.summary()["part_iou"] == pytest.approx((2 / 3 + 1 / 2) / 3)


def test_pooling_reports_equals_one_pass_and_prints_the_table(tmp_path) -> None:
    frames = _frames()
    whole, paths = ProtocolAccumulator(3), []
    for k, part in enumerate((frames[:2], frames[2:])):
        scores = ProtocolScores(("background", *NAMES))
        for pred, gt in part:
            scores.update({"box_fill_on": pred}, gt)
            whole.update(pred, gt)
        path = tmp_path / f"fold{k}" / "report.json"
        path.parent.mkdir()
        write_json(path, {"overall": {"protocol": scores.summary()}})
        paths.append(path)
    rows = pool(paths)
    expected = whole.summary(NAMES)
    for key in ("challenge_iou", "iou", "mc_iou"):
        assert rows["pooled frames"][key] == pytest.approx(expected[key])
    assert rows["mean of reports"]["iou"] == pytest.approx((1 / 9 + (0 + 0 + 1) / 3) / 2)
    lines = protocol_table(rows)
    assert lines[0] == "|  | Challenge IoU | IoU | mcIoU | A | B | C |"
    assert lines[2].startswith("| fold0 | 16.7 | 11.1 | 11.1 | 33.3 | 0.0 | 0.0 |")
