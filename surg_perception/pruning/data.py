"""Clips, losses and metrics for GADP, from the training and data packages.

The loss is the trainer's (``task_losses`` + ``weighted_total`` over every task). The metrics
are ``surg-perception evaluate``'s (:mod:`surg_perception.evaluation.metrics`): Dice per frame
on the segmentation argmax at the network input size, averaged over the frames that have a
score, and activity accuracy / macro F1 over the frames with a known label.
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
from surg_perception.evaluation.metrics import activity_scores, nanmean, segmentation_scores
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


class FrameScores:
    """Per-frame Dice and the activity ids of the frames seen so far."""

    def __init__(self) -> None:
        self.dice: dict[str, list[float]] = {"binary_dice": [], "type_dice": []}
        self.activity: tuple[list[int], list[int]] = ([], [])  # predicted, true

    def add(self, seg_logits: Tensor, masks: Tensor, activity_logits: Tensor | None,
            activity: Tensor) -> None:
        """One frame of a batch: logits ``[B, S, H, W]``, masks ``[B, H, W]``, activity
        logits ``[B, A]`` (or None) and labels ``[B]`` (``IGNORE_ACTIVITY`` = unknown)."""
        pred = seg_logits.argmax(dim=1).cpu().numpy()
        for p, m in zip(pred, masks.cpu().numpy()):
            scores = segmentation_scores(p, m, seg_logits.shape[1])
            for key, values in self.dice.items():
                values.append(scores[key])
        if activity_logits is not None:
            known = activity != IGNORE_ACTIVITY
            self.activity[0].extend(activity_logits.argmax(dim=1)[known].tolist())
            self.activity[1].extend(activity[known].tolist())

    def summary(self, num_activities: int) -> dict[str, float]:
        out = {key: nanmean(values) for key, values in self.dice.items()}
        if self.activity[1]:
            out.update(activity_scores(*self.activity, num_activities))
        return out


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, spec: ModelSpec, device: torch.device,
             max_batches: int = 0) -> dict[str, float]:
    """Mean loss and metrics over ``loader`` (eval mode, memory carried per clip):
    ``loss``, ``binary_dice``, ``type_dice`` and, with activity labels, ``activity_accuracy``
    and ``activity_f1``."""
    was_training = model.training
    model.eval()
    losses, scores = [], FrameScores()
    for index, batch in enumerate(loader):
        if max_batches and index >= max_batches:
            break
        frames: list = []
        losses.append(float(clip_loss(model, batch, spec, device, frames)))
        for output, targets in frames:
            scores.add(output.seg_logits, targets.masks, output.activity_logits,
                       targets.activity)
    model.train(was_training)
    num_activities = max(1, len(spec.model.activity_classes))
    return {"loss": sum(losses) / max(1, len(losses)), **scores.summary(num_activities)}
