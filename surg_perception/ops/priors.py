"""SSD prior (default) boxes: a pure function of the geometry config and the feature-map sizes.

The order of the priors matches the SSD head's output order: feature map by feature map,
row-major over cells, then per cell ``[s_k square, sqrt(s_k * s'_k) square, then for each
aspect ratio a: (wide a, tall a)]``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from surg_perception.config import DetectionConfig
from surg_perception.errors import ConfigError


def priors_per_location(cfg: DetectionConfig) -> tuple[int, ...]:
    """Number of priors at each cell of each feature map: ``2 + 2 * len(aspect_ratios[k])``."""
    return tuple(2 + 2 * len(ratios) for ratios in cfg.aspect_ratios)


def check_detection_config(cfg: DetectionConfig, num_maps: int) -> None:
    """Raise :class:`ConfigError` unless the geometry lists one entry per feature map."""
    lengths = {
        "min_scales": len(cfg.min_scales),
        "max_scales": len(cfg.max_scales),
        "aspect_ratios": len(cfg.aspect_ratios),
    }
    wrong = {name: n for name, n in lengths.items() if n != num_maps}
    if wrong:
        raise ConfigError(
            f"model.detection: the encoder gives {num_maps} detection feature maps but "
            f"{wrong} entries were configured; give exactly {num_maps} values in each list"
        )
    bad = [r for ratios in cfg.aspect_ratios for r in ratios if r <= 0]
    if bad or min(cfg.min_scales) <= 0:
        raise ConfigError("model.detection: scales and aspect ratios must be positive")


def _cell_shapes(cfg: DetectionConfig, k: int) -> list[tuple[float, float]]:
    """(w, h) of the priors of one cell of map ``k``, as fractions of the shorter side."""
    s, s_next = cfg.min_scales[k], cfg.max_scales[k]
    shapes = [(s, s), (math.sqrt(s * s_next),) * 2]
    for ratio in cfg.aspect_ratios[k]:
        r = math.sqrt(ratio)
        shapes += [(s * r, s / r), (s / r, s * r)]
    return shapes


def make_priors(
    cfg: DetectionConfig,
    feature_sizes: list[tuple[int, int]],
    image_size: tuple[int, int],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Prior boxes for one input size.

    Args:
        cfg: prior geometry; scales are fractions of the image's shorter side, so priors stay
            square in pixels on non-square inputs.
        feature_sizes: ``(h, w)`` of each detection feature map, as the encoder produced them.
        image_size: ``(H, W)`` of the network input.

    Returns:
        ``[P, 4]`` (cx, cy, w, h) normalised to [0, 1],
        ``P = sum_k h_k * w_k * priors_per_location(cfg)[k]``.
    """
    check_detection_config(cfg, len(feature_sizes))
    height, width = image_size
    short = min(height, width)
    maps = []
    for k, (fh, fw) in enumerate(feature_sizes):
        shapes = torch.tensor(
            [(w * short / width, h * short / height) for w, h in _cell_shapes(cfg, k)],
            dtype=torch.float64,
        )  # [A, 2]
        cy, cx = torch.meshgrid(
            (torch.arange(fh, dtype=torch.float64) + 0.5) / fh,
            (torch.arange(fw, dtype=torch.float64) + 0.5) / fw,
            indexing="ij",
        )
        centers = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # [h*w, 1, 2]
        cells = torch.cat(torch.broadcast_tensors(centers, shapes[None]), dim=-1)  # [h*w, A, 4]
        maps.append(cells.reshape(-1, 4))
    priors = torch.cat(maps)
    if cfg.clip_priors:
        priors = priors.clamp(0.0, 1.0)
    return priors.to(dtype=dtype, device=device)
