"""The one crop rule: which part of a camera frame the network sees (``PreprocessConfig.crop``).

Policies (``config.CROP_POLICIES``):

- ``"endovis17"``: a frame of exactly 1920x1080 (the raw EndoVis 2017 / da Vinci Xi
  recording, black bars left and right) -> the fixed 1280x1024 box at (320, 28); any other
  size -> the whole frame. This is the rule the EndoVis17 loader applies to every frame and
  mask it reads, so a model trained on that data sees the same view in the node.
- ``"black_border"``: the bounding box of the non-black content (:func:`find_crop_box`).
- ``"none"``: the whole frame.

Both the dataset loaders and the predictor call :func:`crop_box`; the box is then applied to
the frame and to every mask of that frame.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from surg_perception.classes import ENDOVIS17_CROP_OFFSET, ENDOVIS17_CROP_SIZE
from surg_perception.config import CROP_POLICIES
from surg_perception.errors import ConfigError

ENDOVIS17_RAW_SIZE = (1080, 1920)  # (H, W) of the frames the endovis17 policy crops
Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), ends exclusive


def find_crop_box(image: Tensor, threshold: int) -> Box:
    """Bounding box of the non-black content of ``image`` ``[H, W, 3]`` uint8.

    A row (column) is border when its brightest channel value stays below ``threshold``;
    only the outer border is removed. An all-black frame keeps its full size.

    Returns:
        ``(x0, y0, x1, y1)`` with exclusive ends.
    """
    height, width = image.shape[:2]
    brightness = image.amax(dim=2)
    rows = (brightness.amax(dim=1) >= threshold).to(torch.uint8)
    cols = (brightness.amax(dim=0) >= threshold).to(torch.uint8)
    # argmax returns the first maximum: the first content row/column from each side.
    # Stacked so that the device is read once.
    ends = torch.stack(
        [cols.argmax(), rows.argmax(), cols.flip(0).argmax(), rows.flip(0).argmax(), rows.max()]
    ).tolist()
    x0, y0, x1_back, y1_back, any_content = ends
    if not any_content:
        return 0, 0, width, height
    return x0, y0, width - x1_back, height - y1_back


def crop_box(image: np.ndarray | Tensor, policy: str, threshold: int = 10) -> Box:
    """The box of ``image`` ``[H, W, 3]`` uint8 (numpy or torch) that ``policy`` keeps.

    ``threshold`` is used by ``"black_border"`` only (``PreprocessConfig.border_threshold``).

    Raises:
        ConfigError: unknown policy.
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    if policy == "none":
        return 0, 0, width, height
    if policy == "endovis17":
        if (height, width) != ENDOVIS17_RAW_SIZE:
            return 0, 0, width, height
        x, y = ENDOVIS17_CROP_OFFSET
        crop_w, crop_h = ENDOVIS17_CROP_SIZE
        return x, y, x + crop_w, y + crop_h
    if policy == "black_border":
        tensor = torch.from_numpy(image) if isinstance(image, np.ndarray) else image
        return find_crop_box(tensor, threshold)
    raise ConfigError(f"unknown crop policy {policy!r}; use one of {CROP_POLICIES}")


def apply_crop(array: np.ndarray, box: Box) -> np.ndarray:
    """``array[y0:y1, x0:x1]`` (a view) for a frame ``[H, W, 3]`` or a mask ``[H, W]``."""
    x0, y0, x1, y1 = box
    return array[y0:y1, x0:x1]
