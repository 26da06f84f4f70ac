"""Clip augmentation: every frame of a clip transformed the same way.

Every transform is called as ``transform(clip, generator) -> clip``: it draws its random
parameters ONCE from ``generator`` and applies them to every frame of the clip, so a clip
stays a coherent video (``clips.py`` seeds the generator per clip). Geometric transforms go
through ``geometry.py`` (boxes re-derived from the moved instance map, or moved corners
without one); colour transforms touch images only. Sizes are ``(H, W)``.

The default recipe (:func:`train_augmentation`) is geometric + photometric: random resized
crop, horizontal flip, small rotation, colour jitter and an occasional blur.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
import math

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from surg_perception.data.geometry import (
    MIN_BOX_SIZE,
    CropResizeOp,
    FlipOp,
    ResizeOp,
    RotateOp,
    apply_geometry,
)
from surg_perception.data.sample import FrameSample
from surg_perception.errors import ConfigError, DatasetError

__all__ = ["MIN_BOX_SIZE", "ColorJitter", "Compose", "RandomGaussianBlur",
           "RandomHorizontalFlip", "RandomResizedCrop", "RandomRotation", "Resize",
           "apply_geometry", "train_augmentation"]
Clip = list[FrameSample]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _clip_size(clip: Clip) -> tuple[int, int]:
    sizes = {sample.size for sample in clip}
    if len(sizes) != 1:
        raise DatasetError(f"clip frames differ in size {sorted(sizes)} "
                           f"(sequence {clip[0].sequence})")
    return sizes.pop()


def _map_images(clip: Clip, change: Callable[[torch.Tensor], torch.Tensor]) -> Clip:
    """Apply ``change`` to each frame's image as ``[3, H, W]`` uint8 (masks untouched)."""
    def one(image: np.ndarray) -> np.ndarray:
        out = change(torch.from_numpy(image).permute(2, 0, 1))
        return out.permute(1, 2, 0).contiguous().numpy()

    return [dataclasses.replace(sample, image=one(sample.image)) for sample in clip]


class Compose:
    """Apply transforms in order; each draws its own parameters once per clip."""

    def __init__(self, transforms: Sequence[Callable[[Clip, torch.Generator], Clip]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        for transform in self.transforms:
            clip = transform(clip, generator)
        return clip


class Resize:
    """Resize every frame to ``size`` = (H, W) (deterministic; the training input path)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.op = ResizeOp((int(size[0]), int(size[1])))

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        return [apply_geometry(s, self.op) for s in clip]


class RandomHorizontalFlip:
    """Flip the whole clip left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        if float(torch.rand((), generator=generator)) >= self.p:
            return clip
        return [apply_geometry(s, FlipOp()) for s in clip]


class RandomRotation:
    """Rotate the whole clip by one angle drawn from ``[-degrees, degrees]`` (fill 0)."""

    def __init__(self, degrees: float = 15.0) -> None:
        if degrees < 0:
            raise ConfigError(f"rotation degrees must be >= 0, got {degrees}")
        self.degrees = degrees

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        op = RotateOp(_uniform(generator, -self.degrees, self.degrees))
        return [apply_geometry(s, op) for s in clip]


class RandomResizedCrop:
    """Crop a random area fraction ``scale`` and aspect ``ratio``, resize to ``size`` (H, W).

    The crop window follows torchvision's RandomResizedCrop sampling (10 tries, then
    the largest centred window) but draws from the given generator.
    """

    def __init__(self, size: tuple[int, int], scale: tuple[float, float] = (0.35, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        if not (0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]):
            raise ConfigError(f"invalid crop scale {scale} or ratio {ratio}")
        self.size = (int(size[0]), int(size[1]))
        self.scale = scale
        self.ratio = ratio

    def window(self, height: int, width: int, generator: torch.Generator
               ) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop for a ``height`` x ``width`` frame."""
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            area = height * width * _uniform(generator, *self.scale)
            aspect = math.exp(_uniform(generator, *log_ratio))
            w = round(math.sqrt(area * aspect))
            h = round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (), generator=generator))
                left = int(torch.randint(0, width - w + 1, (), generator=generator))
                return top, left, h, w
        w = min(width, round(height * self.ratio[1]))
        h = min(height, round(width / self.ratio[0]))
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        op = CropResizeOp(*self.window(*_clip_size(clip), generator), self.size)
        return [apply_geometry(s, op) for s in clip]


class ColorJitter:
    """Brightness/contrast/saturation factors in ``[1-v, 1+v]``, hue shift in ``[-hue, hue]``.

    Images only; masks and boxes are untouched. One set of factors per clip.
    """

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2,
                 saturation: float = 0.2, hue: float = 0.02) -> None:
        if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
            raise ConfigError("jitter strengths must be >= 0 and hue in [0, 0.5]")
        self.strengths = (brightness, contrast, saturation)
        self.hue = hue

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        b, c, s = (_uniform(generator, 1 - v, 1 + v) for v in self.strengths)
        h = _uniform(generator, -self.hue, self.hue)
        return _map_images(clip, lambda x: F.adjust_hue(F.adjust_saturation(
            F.adjust_contrast(F.adjust_brightness(x, b), c), s), h))


class RandomGaussianBlur:
    """With probability ``p``, blur the clip with one sigma drawn from ``sigma`` (defocus)."""

    def __init__(self, p: float = 0.2, sigma: tuple[float, float] = (0.3, 1.5)) -> None:
        if not (0 <= p <= 1 and 0 < sigma[0] <= sigma[1]):
            raise ConfigError(f"invalid blur probability {p} or sigma range {sigma}")
        self.p = p
        self.sigma = sigma

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        if float(torch.rand((), generator=generator)) >= self.p:
            return clip
        sigma = _uniform(generator, *self.sigma)
        kernel = 2 * math.ceil(3 * sigma) + 1  # +-3 sigma holds 99.7 % of the weight
        return _map_images(clip, lambda x: F.gaussian_blur(x, [kernel, kernel], [sigma, sigma]))


def train_augmentation(size: tuple[int, int], scale: tuple[float, float] = (0.35, 1.0),
                       flip: float = 0.5, degrees: float = 15.0, jitter: float = 0.3,
                       blur: float = 0.2) -> Compose:
    """The default training recipe at ``size`` (H, W), every parameter drawn once per clip.

    Random resized crop (area ``scale``), horizontal flip (``flip``), rotation in
    ``[-degrees, degrees]`` (masks nearest, fill 0), colour jitter of strength ``jitter``
    (hue ``jitter / 10``) and a Gaussian blur with probability ``blur``. Boxes follow the
    instance maps. Rotation and blur run at ``size``, after the crop, where they are cheap.
    """
    return Compose([RandomResizedCrop(size, scale), RandomHorizontalFlip(flip),
                    RandomRotation(degrees),
                    ColorJitter(jitter, jitter, jitter, hue=jitter / 10),
                    RandomGaussianBlur(blur)])
