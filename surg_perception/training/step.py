"""Clip -> loss: the one recipe the trainer, GADP pruning and the model-contract tests share.

A batch of B clips of T frames runs through one memory stream per clip (``ClipModel``: the
state starts empty and is carried through the T frames); every frame's task losses are
weighted by the run's :class:`LossWeights` over the ``tasks`` that train, then averaged over
the frames.
"""

from __future__ import annotations

from collections.abc import Iterable
import contextlib
import dataclasses

import torch
from torch import Tensor, nn

from surg_perception.config import ModelSpec
from surg_perception.data.clips import ClipBatch
from surg_perception.models.outputs import ModelOutput
from surg_perception.training.batch import frame_hog, frame_inputs
from surg_perception.training.config import LossWeights
from surg_perception.training.losses import FrameTargets, task_losses, weighted_total


class ClipModel(nn.Module):
    """``outputs = clip_model(frames)``: run the T frames of a clip through one memory stream.

    One forward per clip, so DDP sees one forward per backward. ``frames``: T tensors
    ``[B, 3, H, W]``; returns T :class:`ModelOutput`; the state starts empty.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: list[Tensor]) -> list[ModelOutput]:
        state, outputs = None, []
        for images in frames:
            output, state = self.model(images, state=state)
            outputs.append(output)
        return outputs


@dataclasses.dataclass(frozen=True)
class ClipLosses:
    """total: frame mean of the weighted total (the value to back-propagate).
    terms: frame mean of every unweighted loss, detached (for logs).
    frames: ``(output, targets)`` of every frame, in order (for metrics)."""

    total: Tensor
    terms: dict[str, Tensor]
    frames: list[tuple[ModelOutput, FrameTargets]]


def clip_losses(model: nn.Module, batch: ClipBatch, spec: ModelSpec, weights: LossWeights,
                tasks: Iterable[str], device: torch.device, net: nn.Module | None = None,
                autocast: contextlib.AbstractContextManager | None = None) -> ClipLosses:
    """The multi-task loss of a clip batch.

    Args:
        model: the bare network (its priors match the detections; a HOG output, present in
            training mode only, gets its targets).
        tasks: the :class:`LossWeights` fields that train (an ATO phase's active tasks).
        net: what runs the clip: ``ClipModel(model)``, possibly DDP-wrapped (default: built).
        autocast: mixed-precision context around the forward only (default: none).
    """
    steps = [frame_inputs(batch, t, spec, device, with_hog=False)
             for t in range(batch.images.shape[1])]
    with autocast or contextlib.nullcontext():
        outputs = (net or ClipModel(model))([images for images, _ in steps])
    # The model says whether it regresses HOG (a training-only output): targets then follow.
    steps = [(images, targets if output.hog is None
              else dataclasses.replace(targets, hog=frame_hog(batch, t, spec, device)))
             for t, (output, (images, targets)) in enumerate(zip(outputs, steps))]
    height, width = spec.preprocess.input_size
    priors = model.priors(height, width) if model.has_detection else None
    variances = tuple(spec.model.detection.variances)
    tasks = set(tasks)
    total, sums = torch.zeros((), device=device), {}
    for output, (_, targets) in zip(outputs, steps):
        losses = task_losses(output, targets, priors, variances, type_ce=weights.seg_type > 0)
        total = total + weighted_total(losses, weights, tasks)
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + value.detach()
    frames = [(output, targets) for output, (_, targets) in zip(outputs, steps)]
    terms = {name: value / len(steps) for name, value in sums.items()}
    return ClipLosses(total / len(steps), terms, frames)
