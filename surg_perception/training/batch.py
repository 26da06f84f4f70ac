"""A collated clip batch -> per-frame network inputs and loss targets on the device.

The clip transform has already cropped (the spec's crop rule, in the loader) and resized
(``processing.resize``) the frames; normalisation goes through
``processing.preprocess.to_network_input``, the function the predictor uses, so training and
serving give the network bit-identical inputs for the same camera frame (test/processing/
test_train_serve.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from surg_perception.config import ModelSpec
from surg_perception.data.clips import ClipBatch
from surg_perception.errors import DatasetError
from surg_perception.ops.hog import hog_targets
from surg_perception.processing.preprocess import to_network_input
from surg_perception.training.losses import FrameTargets


def check_batch_size(batch: ClipBatch, spec: ModelSpec) -> None:
    """Raise DatasetError unless the frames already have the network input size."""
    size = tuple(batch.images.shape[2:4])
    if size != tuple(spec.preprocess.input_size):
        raise DatasetError(
            f"training frames are {size[1]}x{size[0]} but the model input is "
            f"{spec.preprocess.input_size[1]}x{spec.preprocess.input_size[0]}; the clip "
            "transform must resize to preprocess.input_size so masks match the outputs")


def _normalised_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    scale = boxes.new_tensor([width, height, width, height])
    return (boxes / scale).clamp(0.0, 1.0)


def frame_hog(batch: ClipBatch, t: int, spec: ModelSpec, device: torch.device) -> Tensor:
    """HOG regression target ``[B, D]`` float32 of frame ``t`` (from the raw uint8 frames)."""
    return torch.from_numpy(hog_targets(batch.images[:, t].numpy(), spec.model.hog)).to(device)


def frame_inputs(batch: ClipBatch, t: int, spec: ModelSpec, device: torch.device,
                 with_hog: bool) -> tuple[Tensor, FrameTargets]:
    """Network input ``[B, 3, H, W]`` float32 and :class:`FrameTargets` of frame ``t``."""
    check_batch_size(batch, spec)
    frames = batch.images[:, t]  # [B, H, W, 3] uint8
    height, width = frames.shape[1:3]
    images = to_network_input(frames.to(device).permute(0, 3, 1, 2), spec.preprocess, "rgb")
    hog = frame_hog(batch, t, spec, device) if with_hog else None
    targets = FrameTargets(
        masks=batch.masks[:, t].to(device),
        boxes=[_normalised_boxes(clip[t], height, width).to(device) for clip in batch.boxes],
        labels=[clip[t].to(device) for clip in batch.labels],
        activity=batch.activity[:, t].to(device),
        hog=hog,
        part_masks=None if batch.part_masks is None else batch.part_masks[:, t].to(device),
    )
    return images, targets
