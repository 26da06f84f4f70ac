"""HOG regression targets for the auxiliary head (training only).

The targets stay float32: the public code this method comes from cast them to integers,
which turns every HOG value in [0, 1) into 0 and the auxiliary task into "predict zeros".
"""

from __future__ import annotations

import numpy as np
from skimage.feature import hog
from skimage.transform import resize

from surg_perception.config import HogConfig
from surg_perception.errors import ConfigError, ImageFormatError


def hog_cells(cfg: HogConfig) -> tuple[int, int]:
    """``(rows, cols)`` of HOG cells for ``cfg.image_size``; raises ConfigError if < 1 block."""
    rows, cols = (side // cfg.pixels_per_cell for side in cfg.image_size)
    if min(rows, cols) < cfg.cells_per_block:
        raise ConfigError(
            f"model.hog: image_size {tuple(cfg.image_size)} with pixels_per_cell "
            f"{cfg.pixels_per_cell} gives {rows}x{cols} cells, fewer than one "
            f"{cfg.cells_per_block}x{cfg.cells_per_block} block; enlarge image_size or "
            "reduce pixels_per_cell"
        )
    return rows, cols


def hog_dim(cfg: HogConfig) -> int:
    """Length D of one HOG descriptor (skimage's ``feature_vector=True`` layout)."""
    rows, cols = hog_cells(cfg)
    c = cfg.cells_per_block
    return (rows - c + 1) * (cols - c + 1) * c * c * cfg.orientations


def hog_targets(images: np.ndarray, cfg: HogConfig) -> np.ndarray:
    """HOG descriptors of a batch of images.

    Args:
        images: ``[B, H, W, 3]`` or ``[B, H, W]``, uint8 or float (any range: HOG is
            block-normalised). Channels last, as the datasets load them.
        cfg: target geometry; each image is resized to ``cfg.image_size`` first.

    Returns:
        ``[B, D]`` float32, ``D = hog_dim(cfg)``.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ImageFormatError(
            f"hog_targets: expected [B, H, W, 3] or [B, H, W] images, got {images.shape}"
        )
    hog_cells(cfg)
    out = np.empty((len(images), hog_dim(cfg)), dtype=np.float32)
    for i, image in enumerate(images):
        small = resize(image.astype(np.float32), cfg.image_size, anti_aliasing=True)
        out[i] = hog(
            small,
            orientations=cfg.orientations,
            pixels_per_cell=(cfg.pixels_per_cell,) * 2,
            cells_per_block=(cfg.cells_per_block,) * 2,
            channel_axis=-1 if small.ndim == 3 else None,
            feature_vector=True,
        )
    return out
