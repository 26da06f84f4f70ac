"""Clips, losses and metrics for GADP, from the training and data packages.

The loss is the trainer's (``training.step.clip_losses`` over every task, with the run's loss
weights: ``PruneConfig.loss_weights``, by default the checkpoint's own). The metrics
are ``surg-perception evaluate``'s (:mod:`surg_perception.evaluation.metrics`): Dice per frame
on the segmentation argmax at the network input size, averaged over the frames that have a
score, and activity accuracy / macro F1 over the frames with a known label.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from surg_perception.checkpoint import load_checkpoint_dict
from surg_perception.config import ModelSpec, from_dict
from surg_perception.data import collate_clips
from surg_perception.data.clips import ClipBatch
from surg_perception.errors import DatasetError
from surg_perception.evaluation.metrics import activity_scores, nanmean, segmentation_scores
from surg_perception.pruning.config import PruneConfig
from surg_perception.training.config import LossWeights, TrainConfig
from surg_perception.training.data import build_clips
from surg_perception.training.losses import IGNORE_ACTIVITY, TASK_OF
from surg_perception.training.step import clip_losses


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


def with_run_loss_weights(cfg: PruneConfig, checkpoint: str | Path) -> PruneConfig:
    """``cfg`` with ``loss_weights`` set: its own, else the checkpoint's training run's, else
    the defaults (a checkpoint written without a train_config)."""
    if cfg.loss_weights is not None:
        return cfg
    stored = load_checkpoint_dict(checkpoint).get("extra", {}).get("train_config") or {}
    weights = from_dict(LossWeights, stored.get("loss_weights"), "train_config.loss_weights")
    return dataclasses.replace(cfg, loss_weights=weights)


def clip_loss(model: nn.Module, batch: ClipBatch, spec: ModelSpec, device: torch.device,
              weights: LossWeights, frames: list | None = None) -> Tensor:
    """Mean over the clip's frames of the ``weights``-weighted multi-task loss (state carried).

    ``frames``, if given, receives ``(output, targets)`` of every frame.
    """
    losses = clip_losses(model, batch, spec, weights, TASK_OF.values(), device)
    if frames is not None:
        frames.extend(losses.frames)
    return losses.total


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
             weights: LossWeights, max_batches: int = 0) -> dict[str, float]:
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
        losses.append(float(clip_loss(model, batch, spec, device, weights, frames)))
        for output, targets in frames:
            scores.add(output.seg_logits, targets.masks, output.activity_logits,
                       targets.activity)
    model.train(was_training)
    num_activities = max(1, len(spec.model.activity_classes))
    return {"loss": sum(losses) / max(1, len(losses)), **scores.summary(num_activities)}
