"""Clip augmentation that keeps images, masks and boxes consistent.

Every transform is called as ``transform(clip, generator) -> clip``: it draws its random
parameters ONCE from ``generator`` and applies them to every frame of the clip, so a clip
stays a coherent video. Geometry runs through ``torchvision.transforms.v2.functional`` on
tv_tensors (images bilinear, masks nearest, boxes exactly); boxes are then clipped to the
image and dropped when narrower or lower than :data:`MIN_BOX_SIZE` pixels. Colour jitter
touches images only. Sizes are ``(H, W)`` like ``PreprocessConfig.input_size``.

Boxes follow the geometry of their corners; a crop through a slanted instrument can leave
a box looser than the visible part of the mask (the usual SSD-augmentation trade-off).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from surg_perception.data.sample import FrameSample
from surg_perception.errors import ConfigError, DatasetError

MIN_BOX_SIZE = 1.0  # pixels; thinner boxes have vanished from the image
Clip = list[FrameSample]
_Geometry = Callable[[torch.Tensor], torch.Tensor]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _clip_size(clip: Clip) -> tuple[int, int]:
    sizes = {sample.size for sample in clip}
    if len(sizes) != 1:
        raise DatasetError(f"clip frames differ in size {sorted(sizes)} "
                           f"(sequence {clip[0].sequence})")
    return sizes.pop()


def apply_geometry(sample: FrameSample, geometry: _Geometry) -> FrameSample:
    """Apply one v2 geometric op to image, mask and boxes; clip and drop vanished boxes."""
    height, width = sample.size
    image = geometry(tv_tensors.Image(torch.from_numpy(sample.image).permute(2, 0, 1)))
    mask = geometry(tv_tensors.Mask(torch.from_numpy(sample.mask)))
    boxes = tv_tensors.BoundingBoxes(torch.from_numpy(sample.boxes), format="XYXY",
                                     canvas_size=(height, width))
    boxes = F.clamp_bounding_boxes(geometry(boxes)).as_subclass(torch.Tensor)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= MIN_BOX_SIZE) & ((boxes[:, 3] - boxes[:, 1])
                                                             >= MIN_BOX_SIZE)
    return dataclasses.replace(
        sample,
        image=image.permute(1, 2, 0).contiguous().numpy(),
        mask=mask.as_subclass(torch.Tensor).contiguous().numpy(),
        boxes=boxes[keep].numpy().astype(np.float32),
        labels=sample.labels[keep.numpy()],
    )


class Compose:
    """Apply transforms in order; each draws its own parameters once per clip."""

    def __init__(self, transforms: Sequence[Callable[[Clip, torch.Generator], Clip]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        for transform in self.transforms:
            clip = transform(clip, generator)
        return clip


class Resize:
    """Resize every frame to ``size`` = (H, W) (deterministic)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = [int(size[0]), int(size[1])]

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        return [apply_geometry(s, lambda x: F.resize(x, self.size)) for s in clip]


class RandomHorizontalFlip:
    """Flip the whole clip left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, clip: Clip, generator: torch.Generator) -> Clip:
        if float(torch.rand((), generator=generator)) >= self.p:
            return clip
        return [apply_geometry(s, F.horizontal_flip) for s in clip]


class RandomResizedCrop:
    """Crop a random area fraction ``scale`` and aspect ``ratio``, resize to ``size`` (H, W).

    The crop window follows torchvision's RandomResizedCrop sampling (10 tries, then
    the largest centred window) but draws from the given generator.
    """

    def __init__(self, size: tuple[int, int], scale: tuple[float, float] = (0.5, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        if not (0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]):
            raise ConfigError(f"invalid crop scale {scale} or ratio {ratio}")
        self.size = [int(size[0]), int(size[1])]
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
        top, left, h, w = self.window(*_clip_size(clip), generator)
        return [apply_geometry(s, lambda x: F.resized_crop(x, top, left, h, w, self.size))
                for s in clip]


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

        def jitter(image: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(image).permute(2, 0, 1)
            x = F.adjust_hue(F.adjust_saturation(F.adjust_contrast(
                F.adjust_brightness(x, b), c), s), h)
            return x.permute(1, 2, 0).contiguous().numpy()

        return [dataclasses.replace(sample, image=jitter(sample.image)) for sample in clip]


def train_augmentation(size: tuple[int, int], scale: tuple[float, float] = (0.5, 1.0),
                       flip: float = 0.5, jitter: float = 0.2) -> Compose:
    """Build the default training recipe: random resized crop to ``size`` (H, W), flip, jitter."""
    return Compose([RandomResizedCrop(size, scale), RandomHorizontalFlip(flip),
                    ColorJitter(jitter, jitter, jitter, hue=jitter / 10)])
