"""Geometric ops on one :class:`FrameSample`: image, masks, instance map and boxes together.

Sizes are ``(H, W)`` like ``PreprocessConfig.input_size``. Images are resized with
``processing.resize.resize_image`` (the predictor's resize, so a resized training frame is
bit-identical to what the node feeds the network), masks and instance maps with
``resize_mask`` (nearest-exact, the convention predictions are upsampled with); rotations
use bilinear for images and nearest for label maps, filling the corners with 0.

Boxes: when the sample has an instance map (EndoVis17), they are re-derived after every op as
the tight boxes of each instance's remaining pixels (``sample.boxes_from_instance_map``;
vanished instances are dropped), i.e. exactly the boxes evaluation uses. Without one
(EndoVis18, other loaders) the box corners are transformed by ``torchvision.transforms.v2``,
clipped to the image and dropped when thinner than :data:`MIN_BOX_SIZE`; such a box can be
looser than the visible part of a slanted, cropped or rotated object. Colour transforms touch
images only (``transforms.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from surg_perception.data.sample import FrameSample, boxes_from_instance_map
from surg_perception.errors import DatasetError
from surg_perception.processing.resize import resize_image, resize_mask

MIN_BOX_SIZE = 1.0  # pixels; thinner corner-transformed boxes have vanished from the image


class GeometricOp(Protocol):
    """One geometric change, applied alike to every part of a sample."""

    def image(self, image: Tensor) -> Tensor:
        """``[3, H, W]`` uint8 -> ``[3, H', W']`` uint8."""

    def mask(self, mask: Tensor) -> Tensor:
        """``[H, W]`` uint8 label map (classes or instance ids) -> ``[H', W']`` uint8."""

    def boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        """XYXY boxes on the input canvas -> boxes on the output canvas (corners moved)."""


@dataclasses.dataclass(frozen=True)
class ResizeOp:
    size: tuple[int, int]

    def image(self, image: Tensor) -> Tensor:
        return resize_image(image[None], self.size)[0]

    def mask(self, mask: Tensor) -> Tensor:
        return resize_mask(mask, self.size)

    def boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        return F.resize(boxes, list(self.size))


@dataclasses.dataclass(frozen=True)
class CropResizeOp:
    """Crop ``(top, left, height, width)``, then resize to ``size`` (no resize if equal)."""

    top: int
    left: int
    height: int
    width: int
    size: tuple[int, int]

    def _crop(self, x: Tensor) -> Tensor:
        return x[..., self.top:self.top + self.height, self.left:self.left + self.width]

    def image(self, image: Tensor) -> Tensor:
        return resize_image(self._crop(image)[None], self.size)[0]

    def mask(self, mask: Tensor) -> Tensor:
        return resize_mask(self._crop(mask), self.size)

    def boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        return F.resized_crop(boxes, self.top, self.left, self.height, self.width,
                              list(self.size))


class FlipOp:
    """Left-right mirror (exact for every part)."""

    def image(self, image: Tensor) -> Tensor:
        return image.flip(-1)

    def mask(self, mask: Tensor) -> Tensor:
        return mask.flip(-1)

    def boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        return F.horizontal_flip(boxes)


@dataclasses.dataclass(frozen=True)
class RotateOp:
    """Rotate by ``angle`` degrees (counter-clockwise) about the centre; corners filled with 0."""

    angle: float

    def image(self, image: Tensor) -> Tensor:
        return F.rotate(image, self.angle, InterpolationMode.BILINEAR, fill=0)

    def mask(self, mask: Tensor) -> Tensor:
        return F.rotate(mask[None], self.angle, InterpolationMode.NEAREST, fill=0)[0]

    def boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        return F.rotate(boxes, self.angle)


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))  # also views with odd strides


def _corner_boxes(sample: FrameSample, op: GeometricOp) -> tuple[np.ndarray, np.ndarray]:
    boxes = tv_tensors.BoundingBoxes(torch.from_numpy(sample.boxes), format="XYXY",
                                     canvas_size=sample.size)
    boxes = F.clamp_bounding_boxes(op.boxes(boxes)).as_subclass(torch.Tensor)
    keep = (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_SIZE) & (boxes[:, 3] - boxes[:, 1]
                                                          >= MIN_BOX_SIZE)
    return boxes[keep].numpy().astype(np.float32), sample.labels[keep.numpy()]


def apply_geometry(sample: FrameSample, op: GeometricOp) -> FrameSample:
    """Apply ``op`` to image, mask and instance map; re-derive (or move) the boxes."""
    image = op.image(_tensor(sample.image).permute(2, 0, 1))
    mask = op.mask(_tensor(sample.mask)).contiguous().numpy()
    instances = sample.instances
    if instances is None:
        boxes, labels = _corner_boxes(sample, op)
    else:
        if instances.shape != sample.mask.shape:
            raise DatasetError(f"instance map {instances.shape} != mask {sample.mask.shape} "
                               f"({sample.sequence} frame {sample.frame})")
        moved = op.mask(_tensor(instances)).contiguous().numpy()
        boxes, labels, instances = boxes_from_instance_map(moved, sample.labels)
    parts = sample.part_mask
    if parts is not None:  # a second label map: the mask's op, so both stay pixel-aligned
        if parts.shape != sample.mask.shape:
            raise DatasetError(f"part mask {parts.shape} != mask {sample.mask.shape} "
                               f"({sample.sequence} frame {sample.frame})")
        parts = op.mask(_tensor(parts)).contiguous().numpy()
    return dataclasses.replace(sample, image=image.permute(1, 2, 0).contiguous().numpy(),
                               mask=mask, boxes=boxes, labels=labels, instances=instances,
                               part_mask=parts)
