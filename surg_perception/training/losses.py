"""Multi-task loss of one frame: segmentation CE + soft Dice (types, and parts with a part
head), optionally a type CE on the instrument pixels, SSD multibox, activity CE, HOG MSE.

Each term is computed only where the model has the head and the batch has labels, so a
loss dict may lack keys (e.g. no ``activity`` when every label of the frame is unknown).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses

import torch
from torch import Tensor
import torch.nn.functional as F

from surg_perception.models.outputs import ModelOutput
from surg_perception.ops.box_ops import match_batch
from surg_perception.ops.multibox_loss import multibox_loss
from surg_perception.training.config import LossWeights

IGNORE_ACTIVITY = -1
# loss name -> the task it belongs to (what an ATO phase turns on). The part loss is part of the
# segmentation task: its head sits on the segmentation decoder, which trains with "seg".
TASK_OF = {"seg": "seg", "seg_type": "seg", "part": "seg", "det_loc": "det", "det_conf": "det",
           "activity": "activity", "hog": "hog"}
# loss name -> its LossWeights field (the task's, except the part and type losses' own weights)
WEIGHT_OF = {**TASK_OF, "part": "part", "seg_type": "seg_type"}


@dataclasses.dataclass(frozen=True)
class FrameTargets:
    """Targets of one frame of a batch of B clips (all on the training device).

    masks     int64 ``[B, H, W]`` class ids at the network input size
    boxes     B tensors float32 ``[N_b, 4]`` xyxy normalised to [0, 1]
    labels    B tensors int64 ``[N_b]`` in 1..K
    activity  int64 ``[B]``, -1 when unknown
    hog       float32 ``[B, D]`` or None (HOG disabled)
    part_masks int64 ``[B, H, W]`` part ids, or None (the data has no part labels)
    """

    masks: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]
    activity: Tensor
    hog: Tensor | None
    part_masks: Tensor | None = None


def seg_loss(logits: Tensor, masks: Tensor) -> Tensor:
    """Cross-entropy + :func:`soft_dice_loss` of ``logits [B, S, H, W]`` against ``masks``."""
    return F.cross_entropy(logits.float(), masks) + soft_dice_loss(logits, masks)


def type_loss(logits: Tensor, masks: Tensor) -> Tensor:
    """Cross-entropy among the foreground classes ``1..S-1`` on the foreground pixels only.

    Which type a pixel is, given that it is an instrument: averaged over those pixels, not
    over the frame, so the type decision weighs as much as the instrument/background one.
    Zero (with a gradient path) when the batch has no foreground pixel.
    """
    foreground = masks > 0
    pixels = logits.float().permute(0, 2, 3, 1)[foreground][:, 1:]  # [N, S - 1]
    if pixels.shape[0] == 0:
        return logits.float().sum() * 0.0
    return F.cross_entropy(pixels, masks[foreground] - 1)


def soft_dice_loss(logits: Tensor, masks: Tensor, smooth: float = 1.0) -> Tensor:
    """``1 - soft Dice`` of instrument vs background plus ``1 - mean soft Dice`` of the types.

    Instruments cover a few percent of an endoscope frame; cross-entropy alone lets a small
    network settle on "all background" (its loss is then already low). Dice counts each
    class by its own pixels, so missing the instruments costs as much as missing everything.
    Sums run over the whole batch; ``smooth`` keeps a class absent from targets and
    predictions at Dice 1 (no gradient from it) and penalises its false positives.

    Args:
        logits: ``[B, S, H, W]`` (class 0 = background).
        masks: int64 ``[B, H, W]`` class ids.
    """
    probs = logits.float().softmax(dim=1)
    onehot = F.one_hot(masks, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)

    def dice(p: Tensor, t: Tensor, dims: tuple[int, ...]) -> Tensor:
        return (2 * (p * t).sum(dims) + smooth) / (p.sum(dims) + t.sum(dims) + smooth)

    binary = dice(1 - probs[:, 0], 1 - onehot[:, 0], (0, 1, 2))
    types = dice(probs[:, 1:], onehot[:, 1:], (0, 2, 3)).mean()
    return (1 - binary) + (1 - types)


def task_losses(output: ModelOutput, targets: FrameTargets, priors: Tensor | None,
                variances: tuple[float, float], type_ce: bool = False) -> dict[str, Tensor]:
    """Unweighted scalar losses of one frame.

    Args:
        output: the model's outputs for the frame (``seg_logits [B, S, H, W]``, ...).
        targets: the frame's :class:`FrameTargets`.
        priors: ``[P, 4]`` cxcywh (``model.priors(H, W)``), or None without detection.
        variances: SSD ``(center, size)`` of ``cfg.detection``.
        type_ce: add ``seg_type`` (:func:`type_loss`; ``LossWeights.seg_type > 0``) where the
            vocabulary has more than one foreground class.

    Returns:
        Some of ``seg``, ``seg_type``, ``part``, ``det_loc``, ``det_conf``, ``activity``,
        ``hog`` (float32 scalars).
    """
    losses = {"seg": seg_loss(output.seg_logits, targets.masks)}
    if type_ce and output.seg_logits.shape[1] > 2:
        losses["seg_type"] = type_loss(output.seg_logits, targets.masks)
    if output.part_logits is not None and targets.part_masks is not None:
        losses["part"] = seg_loss(output.part_logits, targets.part_masks)
    if output.det_logits is not None and priors is not None:
        target_deltas, target_labels = match_batch(targets.boxes, targets.labels, priors,
                                                   variances)
        det = multibox_loss(output.det_logits.float(), output.det_deltas.float(),
                            target_labels, target_deltas)
        losses["det_loc"], losses["det_conf"] = det.loc, det.conf
    known = targets.activity != IGNORE_ACTIVITY
    if output.activity_logits is not None and bool(known.any()):
        losses["activity"] = F.cross_entropy(output.activity_logits.float(), targets.activity,
                                             ignore_index=IGNORE_ACTIVITY)
    if output.hog is not None and targets.hog is not None:
        losses["hog"] = F.mse_loss(output.hog.float(), targets.hog.float())
    return losses


def weighted_total(losses: Mapping[str, Tensor], weights: LossWeights,
                   active: Iterable[str]) -> Tensor:
    """Sum of the losses whose task is in ``active``, each times its weight (``WEIGHT_OF``).

    Raises:
        ValueError: no loss of an active task is present (nothing to optimise).
    """
    active = set(active)
    terms = [getattr(weights, WEIGHT_OF[name]) * value
             for name, value in losses.items() if TASK_OF[name] in active]
    if not terms:
        raise ValueError(f"none of the losses {sorted(losses)} belongs to the active tasks "
                         f"{sorted(active)}; check the data has labels for this phase")
    return torch.stack(terms).sum()
