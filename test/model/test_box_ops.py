"""Box coding and matching on hand-built tensors."""

import math

import torch

from surg_perception.ops.box_ops import decode_boxes, encode_boxes, match_batch, match_priors

VAR = (0.1, 0.2)


def test_encode_decode_round_trip():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.1, 0.2, 0.05, 0.05], [0.7, 0.3, 0.3, 0.1]])
    boxes = torch.tensor([[0.35, 0.3, 0.6, 0.75], [0.0, 0.1, 0.2, 0.3], [0.5, 0.25, 0.9, 0.4]])
    deltas = encode_boxes(boxes, priors, VAR)
    assert torch.allclose(decode_boxes(deltas, priors, VAR), boxes, atol=1e-6)


def test_encode_hand_computed():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    box = torch.tensor([[0.42, 0.4, 0.62, 0.8]])  # cx 0.52, cy 0.6, w 0.2, h 0.4
    deltas = encode_boxes(box, priors, VAR)
    expected = torch.tensor([[0.02 / 0.02, 0.1 / 0.02, 0.0, math.log(2.0) / 0.2]])  # /(0.1*w_p)
    assert torch.allclose(deltas, expected, atol=1e-5)


def test_decode_zero_deltas_gives_priors_and_broadcasts_batches():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    boxes = decode_boxes(torch.zeros(3, 1, 4), priors, VAR)
    assert boxes.shape == (3, 1, 4)
    assert torch.allclose(boxes[2, 0], torch.tensor([0.4, 0.3, 0.6, 0.7]))


def test_match_hand_built_case():
    # Three priors: left, right, and a far corner one; two boxes.
    priors = torch.tensor([[0.25, 0.5, 0.5, 0.5], [0.75, 0.5, 0.5, 0.5], [0.9, 0.9, 0.1, 0.1]])
    gt = torch.tensor([[0.0, 0.25, 0.5, 0.75], [0.55, 0.3, 0.95, 0.7]])
    labels = torch.tensor([3, 5])
    boxes, matched = match_priors(gt, labels, priors, iou_threshold=0.5)
    assert matched.tolist() == [3, 5, 0]
    assert torch.equal(boxes[0], gt[0]) and torch.equal(boxes[1], gt[1])


def test_match_forces_best_prior_below_threshold():
    priors = torch.tensor([[0.5, 0.5, 0.8, 0.8], [0.1, 0.1, 0.1, 0.1]])
    gt = torch.tensor([[0.4, 0.4, 0.6, 0.6]])  # IoU with prior 0 is 0.0625 < 0.5
    _, matched = match_priors(gt, torch.tensor([2]), priors, iou_threshold=0.5)
    assert matched.tolist() == [2, 0]


def test_match_without_objects_is_all_background():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    boxes, matched = match_priors(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), priors)
    assert matched.tolist() == [0]
    deltas, labels = match_batch([torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.long)],
                                 priors, VAR)
    assert deltas.shape == (1, 1, 4) and torch.isfinite(deltas).all() and labels.sum() == 0
