"""SSD multibox loss: smooth-L1 on positive priors, cross-entropy with 3:1 hard-negative mining.

Targets come from :func:`surg_perception.ops.box_ops.match_batch`. Both terms are summed over
priors and divided by the number of positives in the batch (at least 1), as in SSD and
torchvision's ``SSD.compute_loss``.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor
import torch.nn.functional as F


class MultiboxLoss(NamedTuple):
    """Both loss terms, scalars. ``total = loc + conf``."""

    loc: Tensor
    conf: Tensor

    @property
    def total(self) -> Tensor:
        return self.loc + self.conf


def hard_negative_mask(conf_loss: Tensor, positive: Tensor, neg_pos_ratio: float = 3.0) -> Tensor:
    """Select the highest-loss background priors, ``neg_pos_ratio`` per positive, per image.

    Args:
        conf_loss: ``[B, P]`` per-prior classification loss.
        positive: ``[B, P]`` bool, priors matched to an object.

    Returns:
        ``[B, P]`` bool mask of the chosen negatives (disjoint from ``positive``).
    """
    loss = conf_loss.detach().masked_fill(positive, float("-inf"))
    num_neg = (positive.sum(dim=1, keepdim=True) * neg_pos_ratio).long()
    order = loss.argsort(dim=1, descending=True)
    rank = order.argsort(dim=1)  # rank[b, p] = position of prior p in the sorted order
    return (rank < num_neg) & ~positive


def multibox_loss(
    cls_logits: Tensor,
    deltas: Tensor,
    target_labels: Tensor,
    target_deltas: Tensor,
    neg_pos_ratio: float = 3.0,
) -> MultiboxLoss:
    """SSD loss for one batch.

    Args:
        cls_logits: ``[B, P, K+1]``, column 0 = background.
        deltas: ``[B, P, 4]`` predicted SSD offsets.
        target_labels: ``[B, P]`` int64 in ``0..K``.
        target_deltas: ``[B, P, 4]`` encoded matched boxes.
        neg_pos_ratio: negatives kept per positive by hard-negative mining.

    Returns:
        :class:`MultiboxLoss` with ``loc`` (smooth-L1) and ``conf`` (cross-entropy) terms.
    """
    if cls_logits.shape[:2] != target_labels.shape or deltas.shape != target_deltas.shape:
        raise ValueError(
            f"multibox_loss: predictions {tuple(cls_logits.shape)}/{tuple(deltas.shape)} do not "
            f"match targets {tuple(target_labels.shape)}/{tuple(target_deltas.shape)}; match the "
            "targets against model.priors(H, W) for the same input size"
        )
    positive = target_labels > 0
    num_pos = positive.sum().clamp(min=1).to(cls_logits.dtype)
    loc = F.smooth_l1_loss(deltas[positive], target_deltas[positive], reduction="sum")
    conf_all = F.cross_entropy(cls_logits.flatten(0, 1), target_labels.flatten(), reduction="none")
    conf_all = conf_all.view_as(target_labels)
    negative = hard_negative_mask(conf_all, positive, neg_pos_ratio)
    conf = conf_all[positive | negative].sum()
    return MultiboxLoss(loc=loc / num_pos, conf=conf / num_pos)

