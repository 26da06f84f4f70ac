"""Clips, losses and metrics for GADP, from the training and data packages.

The loss is the trainer's (``task_losses`` + ``weighted_total`` over every task). The metrics
are computed per frame from the segmentation argmax and the activity logits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from surg_perception.config import ModelSpec
from surg_perception.data import collate_clips
from surg_perception.data.clips import ClipBatch
from surg_perception.errors import DatasetError
from surg_perception.pruning.config import PruneConfig
from surg_perception.training.batch import frame_inputs
from surg_perception.training.config import LossWeights, TrainConfig
from surg_perception.training.data import build_clips
from surg_perception.training.losses import IGNORE_ACTIVITY, TASK_OF, task_losses, weighted_total


def clip_loader(root: str | Path, spec: ModelSpec, cfg: PruneConfig, shuffle: bool) -> DataLoader:
    """Clips of ``cfg.clip_length`` frames at the network input size (no augmentation)."""
    train_cfg = TrainConfig(batch_size=cfg.batch_size, clip_length=cfg.clip_length,
                            clip_stride=cfg.clip_length, augment=False, workers=0, seed=cfg.seed)
    clips = build_clips(root, spec, train_cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(clips, batch_size=cfg.batch_size, shuffle=shuffle,
                        collate_fn=collate_clips, generator=generator, drop_last=shuffle)
    if len(loader) == 0:
        raise DatasetError(f"{root}: {len(clips)} clips of {cfg.clip_length} frames give no "
                           f"batch of {cfg.batch_size}; add data or lower prune.batch_size")
    return loader


def endless(loader: DataLoader) -> Iterator[ClipBatch]:
    while True:
        yield from loader


def clip_loss(model: nn.Module, batch: ClipBatch, spec: ModelSpec, device: torch.device,
              frames: list | None = None) -> Tensor:
    """Mean over the clip's frames of the weighted multi-task loss (state carried).

    ``frames``, if given, receives ``(output, targets)`` of every frame.
    """
    state, total = None, []
    with_hog = model.training and getattr(model, "hog_head", None) is not None
    for t in range(batch.images.shape[1]):
        images, targets = frame_inputs(batch, t, spec, device, with_hog)
        output, state = model(images, state=state)
        priors = model.priors(*images.shape[-2:]) if output.det_logits is not None else None
        losses = task_losses(output, targets, priors, spec.model.detection.variances)
        total.append(weighted_total(losses, LossWeights(), set(TASK_OF.values())))
        if frames is not None:
            frames.append((output, targets))
    return torch.stack(total).mean()


def _dice(pred: Tensor, target: Tensor) -> Tensor:
    """Per-frame Dice of boolean ``[B, H, W]`` maps; 1 where both are empty."""
    inter = (pred & target).flatten(1).sum(1).float()
    size = pred.flatten(1).sum(1).float() + target.flatten(1).sum(1).float()
    return torch.where(size > 0, 2 * inter / size.clamp_min(1), torch.ones_like(size))


def frame_scores(seg_logits: Tensor, masks: Tensor, activity_logits: Tensor | None,
                 activity: Tensor) -> dict[str, list[float]]:
    """Per-frame binary Dice, type Dice (mean over classes present) and activity hits."""
    pred = seg_logits.argmax(dim=1)
    scores = {"binary_dice": _dice(pred > 0, masks > 0).tolist(), "type_dice": []}
    for b in range(pred.shape[0]):
        classes = [c for c in range(1, seg_logits.shape[1]) if bool((masks[b] == c).any())]
        dices = [_dice(pred[b:b + 1] == c, masks[b:b + 1] == c) for c in classes]
        scores["type_dice"].append(float(torch.cat(dices).mean()) if dices else 1.0)
    known = activity != IGNORE_ACTIVITY
    if activity_logits is not None and bool(known.any()):
        hits = activity_logits.argmax(dim=1)[known] == activity[known]
        scores["activity_accuracy"] = hits.float().tolist()
    return scores


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, spec: ModelSpec, device: torch.device,
             max_batches: int = 0) -> dict[str, float]:
    """Mean per-frame metrics and loss over ``loader`` (eval mode, memory carried per clip)."""
    was_training = model.training
    model.eval()
    totals: dict[str, list[float]] = {"loss": []}
    for index, batch in enumerate(loader):
        if max_batches and index >= max_batches:
            break
        frames: list = []
        totals["loss"].append(float(clip_loss(model, batch, spec, device, frames)))
        for output, targets in frames:
            for key, values in frame_scores(output.seg_logits, targets.masks,
                                            output.activity_logits, targets.activity).items():
                totals.setdefault(key, []).extend(values)
    model.train(was_training)
    return {key: sum(v) / len(v) for key, v in totals.items() if v}
