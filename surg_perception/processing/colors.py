"""Class-id masks -> BGR colour images, with a fixed palette per class.

Background (class 0) is always black. Classes named like the EndoVis 2018 vocabulary get
the dataset's own label colours, so a rendered mask looks like the ground truth; every other
class gets the PASCAL VOC colour map entry of its index (fixed, distinct, reproducible).
Palettes always have 256 rows, so any uint8 mask can be coloured without a range check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the bag tools colour NumPy masks without torch
    from torch import Tensor

from surg_perception.classes import ENDOVIS18_CLASSES

PALETTE_SIZE = 256


def voc_colormap(n: int = PALETTE_SIZE) -> np.ndarray:
    """PASCAL VOC colour map: ``[n, 3]`` uint8 RGB, entry 0 black.

    Each index's bits are spread over the high bits of R, G and B, which keeps
    neighbouring class ids visually far apart.
    """
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        rgb, code = [0, 0, 0], index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << (7 - bit)
            code >>= 3
        cmap[index] = rgb
    return cmap


def palette_for(class_names: Sequence[str]) -> np.ndarray:
    """Fixed BGR palette ``[256, 3]`` uint8 for a segmentation vocabulary (index 0 black)."""
    rgb = voc_colormap()
    dataset_colours = dict(ENDOVIS18_CLASSES)
    for index, name in enumerate(class_names[:PALETTE_SIZE]):
        if name in dataset_colours:
            rgb[index] = dataset_colours[name]
    rgb[0] = (0, 0, 0)
    return np.ascontiguousarray(rgb[:, ::-1])


def colorize(mask: Tensor, palette: Tensor) -> Tensor:
    """Colour a class-id mask on its own device by table lookup.

    Args:
        mask: ``[H, W]`` uint8 (or any integer) class ids.
        palette: ``[256, 3]`` uint8 BGR, on the mask's device (see :func:`palette_for`).

    Returns:
        ``[H, W, 3]`` uint8 BGR.
    """
    # A uint8 index tensor would be read as a boolean mask, hence the cast to long.
    return palette[mask.long()]


def colorize_np(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`colorize`: ``[H, W]`` uint8 ids -> ``[H, W, 3]`` uint8 BGR."""
    return palette[mask]
