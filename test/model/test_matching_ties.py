"""Prior matching is deterministic: the same result twice, on every device, in any GT order."""

import pytest
import torch

from surg_perception.ops.box_ops import match_priors

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _scene(seed: int, boxes: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random boxes and a coarse prior grid, so many boxes share a best prior."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(boxes, 2, generator=g) * 0.6
    wh = 0.1 + torch.rand(boxes, 2, generator=g) * 0.3
    gt = torch.cat([xy, xy + wh], dim=1)
    labels = torch.randint(1, 8, (boxes,), generator=g)
    centers = (torch.arange(3) + 0.5) / 3
    cy, cx = torch.meshgrid(centers, centers, indexing="ij")
    priors = torch.stack([cx.flatten(), cy.flatten(), torch.full((9,), 0.3),
                          torch.full((9,), 0.3)], dim=1)
    return gt, labels, priors


@pytest.mark.parametrize("device", DEVICES)
def test_same_result_twice_and_under_permutation(device):
    gt, labels, priors = (t.to(device) for t in _scene(0))
    first = match_priors(gt, labels, priors)
    again = match_priors(gt, labels, priors)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    # Random boxes have no exact IoU ties, so the GT order cannot matter at all.
    order = torch.randperm(len(gt), generator=torch.Generator().manual_seed(1)).to(device)
    permuted = match_priors(gt[order], labels[order], priors)
    assert torch.equal(permuted[1], first[1]) and torch.equal(permuted[0], first[0])
    assert (first[1] > 0).any()


@pytest.mark.parametrize("device", DEVICES)
def test_contested_prior_goes_to_higher_iou_then_lower_index(device):
    priors = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.1, 0.1, 0.05, 0.05]], device=device)
    # Both boxes' best prior is prior 0 and both are under the threshold: only forcing matches.
    near = torch.tensor([0.35, 0.35, 0.6, 0.6])  # IoU 0.39 with prior 0
    far = torch.tensor([0.4, 0.4, 0.55, 0.55])  # IoU 0.14
    for gt, labels in ((torch.stack([far, near]), [2, 5]), (torch.stack([near, far]), [5, 2])):
        _, matched = match_priors(gt.to(device), torch.tensor(labels, device=device), priors)
        assert matched.tolist() == [5, 0]  # the higher-IoU box wins, whatever its index
    # Identical boxes tie exactly: the lower index wins, in either order of their labels.
    twins = torch.stack([near, near]).to(device)
    for labels in ([3, 6], [6, 3]):
        _, matched = match_priors(twins, torch.tensor(labels, device=device), priors)
        assert matched.tolist() == [labels[0], 0]


def test_forced_match_overrides_a_priors_best_box():
    priors = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.5, 0.5, 0.5, 0.5]])  # A, B
    small = [0.35, 0.35, 0.6, 0.6]  # IoU A 0.39, B 0.25: its best prior is A
    large = [0.26, 0.26, 0.74, 0.74]  # IoU A 0.69, B 0.92: A's best box, but it claims B
    _, matched = match_priors(torch.tensor([small, large]), torch.tensor([1, 2]), priors)
    assert matched.tolist() == [1, 2]  # A is forced to the small box, which has no other
